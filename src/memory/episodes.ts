/**
 * Episodes: what episodic memory remembers. A `delegation` episode is one agent's attempt
 * at an `implement` spec (written by the action as a `delegation` artifact); a `run`
 * episode summarises a run when it ends. Both are derived from what a flush writes (by the
 * runtime's persistence, `episodesOf`) and committed in the same transaction.
 */
import type { UnsequencedEvent } from '../model/events.js';
import { isTerminalPhase, type RunPhase } from '../model/states.js';
import type { ArtifactRow, EpisodeEntry } from '../store/rows.js';

/** What an `implement` step records for each agent it tried (artifact kind `delegation`). */
export interface DelegationRecord {
  readonly agent: string;
  readonly agentKind: string;
  /** 1 for the first pass through the escalation chain, 2 after a human said retry, ... */
  readonly round: number;
  readonly outcome: 'succeeded' | 'failed';
  readonly spec: string;
  /** The start of the agent's result, when it succeeded. */
  readonly result?: string;
  readonly error?: { readonly code?: string; readonly message: string };
  readonly durationMs: number;
}

/** How a step of an ended run ended, for its summary. */
export interface StepOutcome {
  readonly stepId: string;
  readonly kind?: string;
  readonly state: string;
  readonly reason?: string;
  readonly error?: string;
}

/** What the runtime knows about a run that is ending. */
export interface RunFacts {
  readonly goal: string;
  readonly steps: readonly StepOutcome[];
}

/** The parts of a batch episodes come from (only the runs whose writes landed). */
export interface EpisodeSources {
  readonly events: readonly UnsequencedEvent[];
  readonly artifacts: ReadonlyArray<Omit<ArtifactRow, 'id'>>;
}

/** Longest spec / result / error text kept in one episode. */
const FIELD_CHARS = 1500;
/** Longest run summary. */
const SUMMARY_CHARS = 4000;

/**
 * The episodes one commit adds: one per `delegation` artifact, one summary per run that
 * reached a terminal phase. `runFacts` is asked only for ending runs, and answers with
 * the steps' states as of the end of the flush.
 *
 * @example
 * ```ts
 * const episodes = episodesOf({ events, artifacts }, (runId) => ({ goal: 'ship it', steps: [] }));
 * ```
 */
export function episodesOf(
  sources: EpisodeSources,
  runFacts: (runId: string) => RunFacts | undefined,
): EpisodeEntry[] {
  const episodes: EpisodeEntry[] = [];
  for (const artifact of sources.artifacts) {
    if (artifact.kind !== 'delegation') continue;
    const episode = delegationEpisode(artifact);
    if (episode) episodes.push(episode);
  }
  for (const event of sources.events) {
    if (event.type !== 'run.transition' || !isTerminalPhase(event.to)) continue;
    const facts = runFacts(event.runId);
    if (facts) episodes.push(runSummaryEpisode(event.runId, event.to, event.reason, facts, event.at));
  }
  return episodes;
}

function delegationEpisode(artifact: Omit<ArtifactRow, 'id'>): EpisodeEntry | undefined {
  const body = artifact.body as Partial<DelegationRecord> | null;
  if (!body || typeof body !== 'object' || typeof body.agent !== 'string' || typeof body.spec !== 'string') {
    return undefined;
  }
  const outcome = body.outcome === 'succeeded' ? 'succeeded' : 'failed';
  const lines = [
    `Spec: ${clip(body.spec, FIELD_CHARS)}`,
    `Agent: ${body.agent}${body.agentKind ? ` (${body.agentKind})` : ''} ${outcome}${typeof body.durationMs === 'number' ? ` in ${body.durationMs} ms` : ''}`,
  ];
  if (outcome === 'succeeded' && typeof body.result === 'string') {
    lines.push(`Result: ${clip(body.result, FIELD_CHARS)}`);
  }
  if (body.error?.message) {
    lines.push(
      `Error: ${body.error.code ? `${body.error.code}: ` : ''}${clip(body.error.message, FIELD_CHARS)}`,
    );
  }
  return {
    runId: artifact.runId,
    ...(artifact.stepId === undefined ? {} : { stepId: artifact.stepId }),
    kind: 'delegation',
    title: `Delegated to ${body.agent}, ${outcome}: ${firstLine(body.spec)}`,
    text: lines.join('\n'),
    at: artifact.at,
    data: {
      agent: body.agent,
      outcome,
      ...(body.agentKind ? { agentKind: body.agentKind } : {}),
      ...(typeof body.round === 'number' ? { round: body.round } : {}),
      ...(body.error?.code ? { errorCode: body.error.code } : {}),
    },
  };
}

function runSummaryEpisode(
  runId: string,
  phase: RunPhase,
  reason: string | undefined,
  facts: RunFacts,
  at: number,
): EpisodeEntry {
  const counts: Record<string, number> = {};
  for (const step of facts.steps) counts[step.state] = (counts[step.state] ?? 0) + 1;
  const stepLines = facts.steps.map((step) => {
    const why = step.error ?? step.reason;
    return `- ${step.stepId}${step.kind ? ` (${step.kind})` : ''} ${step.state}${why ? `: ${clip(why, 300)}` : ''}`;
  });
  const text = clip(
    [`Goal: ${facts.goal}`, `Outcome: ${phase}${reason ? ` (${reason})` : ''}`, 'Steps:', ...stepLines].join(
      '\n',
    ),
    SUMMARY_CHARS,
  );
  return {
    runId,
    kind: 'run',
    title: `Run ${phase}: ${firstLine(facts.goal)}`,
    text,
    at,
    data: { phase, steps: counts },
  };
}

function firstLine(text: string, max = 120): string {
  const line = text.split('\n', 1)[0]?.trim() ?? '';
  return clip(line, max);
}

/** `text` cut to at most `max` characters, marked with an ellipsis when cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}
