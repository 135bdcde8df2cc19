/** The runs: a phase filter, a search over goals, and markers for live, orphaned and waiting runs. */
import { RUN_PHASES } from '../../model/run-phases.js';
import type { RunRow } from './api.js';

export function marker(row: RunRow): { text: string; kind: string } | undefined {
  const { status } = row;
  if (status.driver === 'ended') return undefined;
  if (status.waitingFor.length > 0) {
    return {
      text: `waits: ${status.waitingFor.join(', ')}${status.driver === 'orphaned' ? ' (orphaned)' : ''}`,
      kind: 'waiting',
    };
  }
  return status.driver === 'orphaned'
    ? { text: 'orphaned', kind: 'orphaned' }
    : { text: 'live', kind: 'live' };
}

export function RunList(props: {
  rows: RunRow[];
  phase: string;
  query: string;
  selected?: string;
  onPhase: (phase: string) => void;
  onQuery: (query: string) => void;
  onSelect: (runId: string) => void;
}) {
  return (
    <nav class="run-list" aria-label="runs">
      <div class="filters">
        <select
          aria-label="phase"
          value={props.phase}
          onChange={(event) => props.onPhase((event.target as HTMLSelectElement).value)}
        >
          <option value="">all phases</option>
          {RUN_PHASES.map((phase) => (
            <option key={phase} value={phase}>
              {phase}
            </option>
          ))}
        </select>
        <input
          type="search"
          aria-label="search goals"
          placeholder="search goals…"
          value={props.query}
          onInput={(event) => props.onQuery((event.target as HTMLInputElement).value)}
        />
      </div>
      {props.rows.length === 0 && <p class="muted">No runs match.</p>}
      <ul>
        {props.rows.map((row) => {
          const mark = marker(row);
          return (
            <li key={row.view.id}>
              <a
                href={`#/runs/${encodeURIComponent(row.view.id)}`}
                class={`run${row.view.id === props.selected ? ' selected' : ''}`}
                data-run={row.view.id}
                onClick={(event) => {
                  event.preventDefault();
                  props.onSelect(row.view.id);
                }}
              >
                <span class="goal">{row.view.goal}</span>
                <span class="meta">
                  <span class={`phase s-${row.view.phase}`}>{row.view.phase}</span>
                  {mark && <span class={`marker m-${mark.kind}`}>{mark.text}</span>}
                  <span class="id">{row.view.id}</span>
                </span>
              </a>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
