/**
 * `FanoutState`: everything a fan-out must keep to be resumed after a crash without
 * repeating a completed worker — every worker's persisted actor snapshot (its state, its
 * current attempt and its archived ones) and the reduction once it is done. It is JSON.
 * The results and totals of a fan-out are derived from it, purely.
 */
import {
  type AttemptOutcome,
  type WorkerAttempt,
  type WorkerContext,
  type WorkerError,
  WORKER_STATES,
  type WorkerState,
  type WorkerUsage,
} from '../../machines/worker.machine.js';
import { quote, TaskvisorError } from '../errors.js';
import type { Reduction } from './reduce.js';

export const FANOUT_STATE_VERSION = 1;

/** A worker actor's `getPersistedSnapshot()`, as JSON (XState's format). */
export type PersistedWorker = {
  readonly value: WorkerState;
  readonly context: WorkerContext;
  readonly status: string;
} & Readonly<Record<string, unknown>>;

export interface FanoutState {
  readonly version: typeof FANOUT_STATE_VERSION;
  /** In target order (target by target, repeat by repeat). */
  readonly workers: ReadonlyArray<{ readonly label: string; readonly snapshot: PersistedWorker }>;
  /** Present once the reducer gave a valid verdict. */
  readonly reduction?: Reduction;
}

/** Token counts (dollars are apart, in `costUsd`). */
export interface Tokens {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/** Tokens and dollars, as `RunView.usage` has them. */
export interface FanoutTotals extends Tokens {
  readonly costUsd: number;
}

/** An attempt as `trace()` lists it: archived ones, then the current one. */
export type AttemptRecord = Omit<WorkerAttempt, 'outcome'> & {
  readonly outcome: AttemptOutcome | 'running';
};

export interface WorkerResult {
  readonly label: string;
  readonly model: string;
  readonly targetIndex: number;
  readonly repeatIndex: number;
  readonly state: WorkerState;
  /** The current attempt's answer (a completed worker's result). */
  readonly text?: string;
  /** The current attempt's failure. */
  readonly error?: WorkerError;
  /** Why the worker waits or was cancelled. */
  readonly reason?: string;
  /** Over every attempt, archived ones included. */
  readonly usage: Tokens;
  /** Over every attempt, archived ones included. */
  readonly costUsd: number;
  /** Every attempt, oldest first; the last is the current one unless the worker is queued. */
  readonly attempts: readonly AttemptRecord[];
}

const round = (usd: number) => Math.round(usd * 1e9) / 1e9;

export function sumUsage(usages: readonly WorkerUsage[]): FanoutTotals {
  let inputTokens = 0;
  let outputTokens = 0;
  let costUsd = 0;
  for (const usage of usages) {
    inputTokens += usage.inputTokens;
    outputTokens += usage.outputTokens;
    costUsd += usage.costUsd;
  }
  return { inputTokens, outputTokens, costUsd: round(costUsd) };
}

const CURRENT_OUTCOME: Record<WorkerState, AttemptOutcome | 'running'> = {
  queued: 'interrupted', // not used: a queued worker has no current attempt
  running: 'running',
  interrupted: 'interrupted',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
};

/** Every attempt of a worker: its archive, then the current one if it started. */
export function attemptsOf(state: WorkerState, context: WorkerContext): AttemptRecord[] {
  const attempts: AttemptRecord[] = [...context.archived];
  if (context.startedAt !== undefined && state !== 'queued') {
    attempts.push({
      attempt: context.attempt,
      outcome: CURRENT_OUTCOME[state],
      ...(context.text === undefined ? {} : { text: context.text }),
      ...(context.error === undefined ? {} : { error: context.error }),
      usage: context.usage,
      ...(context.reason === undefined ? {} : { reason: context.reason }),
      startedAt: context.startedAt,
      ...(context.endedAt === undefined ? {} : { endedAt: context.endedAt }),
    });
  }
  return attempts;
}

/** A worker's result from its state and context. */
export function workerResult(state: WorkerState, context: WorkerContext): WorkerResult {
  const attempts = attemptsOf(state, context);
  const total = sumUsage([...context.archived.map((attempt) => attempt.usage), context.usage]);
  return {
    label: context.label,
    model: context.model,
    targetIndex: context.targetIndex,
    repeatIndex: context.repeatIndex,
    state,
    ...(context.text === undefined ? {} : { text: context.text }),
    ...(context.error === undefined ? {} : { error: context.error }),
    ...(context.reason === undefined ? {} : { reason: context.reason }),
    usage: { inputTokens: total.inputTokens, outputTokens: total.outputTokens },
    costUsd: total.costUsd,
    attempts,
  };
}

/** Every worker's result, in target order. */
export function workerResults(state: FanoutState): WorkerResult[] {
  return state.workers.map(({ snapshot }) => workerResult(snapshot.value, snapshot.context));
}

/**
 * Totals over every attempt of every worker plus the reducer's calls.
 *
 * @example
 * ```ts
 * const { inputTokens, outputTokens, costUsd } = fanoutTotals(handle.state());
 * ```
 */
export function fanoutTotals(state: FanoutState, reducerUsage?: WorkerUsage): FanoutTotals {
  const usages: WorkerUsage[] = [];
  for (const result of workerResults(state)) usages.push({ ...result.usage, costUsd: result.costUsd });
  const reducer = reducerUsage ?? state.reduction?.usage;
  if (reducer) usages.push(reducer);
  return sumUsage(usages);
}

/** Throws unless `state` was stored by a fan-out with exactly these worker labels. */
export function checkRestorable(state: FanoutState, labels: readonly string[]): void {
  const stored = state.workers.map((worker) => worker.label);
  const fits =
    state.version === FANOUT_STATE_VERSION &&
    stored.length === labels.length &&
    stored.every((label, index) => label === labels[index]) &&
    state.workers.every((worker) => WORKER_STATES.includes(worker.snapshot.value));
  if (!fits) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `The stored fan-out state (version ${quote(state.version)}, workers ${stored.map((l) => quote(l)).join(', ')}) ` +
        `does not fit this fan-out (workers ${labels.map((l) => quote(l)).join(', ')}); ` +
        'resume it with the same targets and repeat, or start it afresh without `restore`',
      { option: 'restore' },
    );
  }
}
