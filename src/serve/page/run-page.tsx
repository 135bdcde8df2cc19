/** One run: its state and driver, what waits for a human, the DAG, a step's detail, the timeline. */
import { useState } from 'preact/hooks';
import { type RunDetail, runPath, type Trace } from './api.js';
import { Dag } from './dag.js';
import { clock } from './format.js';
import { StepDetail } from './step-detail.js';
import { Timeline } from './timeline.js';
import { type Act, WaitingPanel } from './waiting-panel.js';

function usageText(usage: RunDetail['view']['usage']): string {
  const tokens = `${usage.inputTokens} in + ${usage.outputTokens} out tokens`;
  const unpriced = usage.unpriced ?? [];
  if (unpriced.length === 0) return `${tokens}, $${usage.costUsd.toFixed(4)}`;
  return `${tokens}, ${usage.costUsd > 0 ? `$${usage.costUsd.toFixed(4)} + ` : ''}cost unknown for ${unpriced.join(', ')}`;
}

export function RunPage(props: { detail: RunDetail; trace?: Trace; act: Act }) {
  const { detail, act } = props;
  const { view, status } = detail;
  const [tab, setTab] = useState<'steps' | 'timeline'>('steps');
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const step =
    view.steps.find((candidate) => candidate.id === selected) ??
    view.steps.find((candidate) => candidate.state !== 'succeeded') ??
    view.steps[0];
  const ended = status.driver === 'ended';
  const path = runPath(view.id);
  return (
    <article class="run-page" aria-label={`run ${view.id}`}>
      <header>
        <h2>{view.goal}</h2>
        <p class="meta">
          <span class={`phase s-${view.phase}`} data-testid="phase">
            {view.phase}
          </span>
          <span class="id">{view.id}</span>
          <span>started {clock(view.createdAt)}</span>
          {view.usage.inputTokens + view.usage.outputTokens > 0 && <span>{usageText(view.usage)}</span>}
        </p>
        {view.reason && <p class="reason">{view.reason}</p>}
        {!ended && (
          <p class={`driver d-${status.driver}`} data-testid="driver">
            {status.driver === 'live'
              ? `Driven by pid ${status.pid} on ${status.host}.`
              : 'Orphaned: no live process drives this run. Resume it to go on (commands you give meanwhile are stored and applied then).'}
          </p>
        )}
        {detail.storedCommands.length > 0 && (
          <p class="stored">
            Pending (stored, not applied yet):{' '}
            {detail.storedCommands
              .map((command) => `${command.kind}${command.stepId ? ` ${command.stepId}` : ''}`)
              .join(', ')}
          </p>
        )}
        {!ended && (
          <div class="buttons run-actions">
            {status.driver === 'orphaned' && (
              <button class="primary" onClick={() => act(`${path}/resume`)}>
                Resume the run
              </button>
            )}
            <button
              class="danger"
              onClick={() => act(`${path}/cancel`, { reason: 'cancelled from the console' })}
            >
              Cancel the run
            </button>
          </div>
        )}
      </header>
      <WaitingPanel detail={detail} act={act} />
      <div class="tabs" role="tablist">
        <button role="tab" aria-selected={tab === 'steps'} onClick={() => setTab('steps')}>
          Steps
        </button>
        <button role="tab" aria-selected={tab === 'timeline'} onClick={() => setTab('timeline')}>
          Timeline
        </button>
      </div>
      {tab === 'steps' ? (
        <div class="steps">
          <Dag view={view} selected={step?.id} onSelect={setSelected} />
          {step && <StepDetail view={view} step={step} trace={props.trace} act={act} />}
        </div>
      ) : (
        <Timeline trace={props.trace} />
      )}
    </article>
  );
}
