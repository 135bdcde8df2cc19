/**
 * The monitor snapshot of a run for UIs: `{ run, workers, openRequests, recentEvents,
 * updatedAt }`, built purely from what the runtime already holds (the run view, its
 * fan-outs' stored states, its open requests and its events).
 */
import type { StepControlAction } from '../../machines/protocol.js';
import { workerControls, workerMachine, type WorkerState } from '../../machines/worker.machine.js';
import type { TaskvisorEvent } from '../model/events.js';
import type { RunView } from '../model/views.js';
import type { FanoutState, Tokens } from './fanout-state.js';
import { workerResult } from './fanout-state.js';

/** One fan-out worker as a UI shows it. */
export interface WorkerView {
  /** The fan-out step the worker belongs to. */
  readonly stepId: string;
  readonly label: string;
  readonly model: string;
  readonly state: WorkerState;
  /** Attempts started (the current one included). */
  readonly attempt: number;
  /** The first 280 characters of the current answer. */
  readonly preview?: string;
  readonly error?: string;
  readonly reason?: string;
  /** Over every attempt. */
  readonly usage: Tokens & { readonly costUsd: number };
  readonly startedAt?: number;
  readonly endedAt?: number;
  /** When the current attempt times out. */
  readonly deadline?: number;
  /** Earlier attempts kept in the archive. */
  readonly archivedAttempts: number;
  /** The controls that fit the worker now. */
  readonly controls: readonly StepControlAction[];
}

export interface MonitorView<TRequest> {
  readonly run: RunView;
  readonly workers: readonly WorkerView[];
  readonly openRequests: readonly TRequest[];
  /** The last `events` events of the run, oldest first. */
  readonly recentEvents: readonly TaskvisorEvent[];
  /** The latest time any of the above changed. */
  readonly updatedAt: number;
}

const PREVIEW_CHARS = 280;

/**
 * The workers of one fan-out step, in target order.
 *
 * @example
 * ```ts
 * workerViews('compare-models', storedFanoutState).map((w) => `${w.label}: ${w.state}`);
 * ```
 */
export function workerViews(stepId: string, state: FanoutState): WorkerView[] {
  return state.workers.map(({ snapshot }) => {
    const { context, value } = snapshot;
    const result = workerResult(value, context);
    const resolved = workerMachine.resolveState({ value, context });
    return {
      stepId,
      label: context.label,
      model: context.model,
      state: value,
      attempt: context.attempt,
      ...(context.text === undefined ? {} : { preview: context.text.slice(0, PREVIEW_CHARS) }),
      ...(context.error === undefined ? {} : { error: context.error.message }),
      ...(context.reason === undefined ? {} : { reason: context.reason }),
      usage: { ...result.usage, costUsd: result.costUsd },
      ...(context.startedAt === undefined ? {} : { startedAt: context.startedAt }),
      ...(context.endedAt === undefined ? {} : { endedAt: context.endedAt }),
      ...(context.deadline === undefined ? {} : { deadline: context.deadline }),
      archivedAttempts: context.archived.length,
      controls: workerControls(resolved),
    };
  });
}

export interface MonitorInput<TRequest> {
  readonly run: RunView;
  /** The run's fan-out steps with their latest stored state. */
  readonly fanouts: ReadonlyArray<{ readonly stepId: string; readonly state: FanoutState }>;
  readonly openRequests: readonly TRequest[];
  /** The run's events, oldest first (only the last `limit` are kept). */
  readonly events: readonly TaskvisorEvent[];
  /** How many recent events to keep (default 20). */
  readonly limit?: number;
}

/**
 * `monitor(runId, { events })`: one snapshot of a run for UIs.
 *
 * @example
 * ```ts
 * const view = monitorView({ run, fanouts: [{ stepId: 'ask', state }], openRequests: [], events });
 * for (const worker of view.workers) console.log(worker.label, worker.state, worker.controls);
 * ```
 */
export function monitorView<TRequest>(input: MonitorInput<TRequest>): MonitorView<TRequest> {
  const limit = input.limit ?? 20;
  const recentEvents = limit <= 0 ? [] : input.events.slice(-limit);
  const workers = input.fanouts.flatMap(({ stepId, state }) => workerViews(stepId, state));
  let updatedAt = input.run.updatedAt;
  for (const event of recentEvents) updatedAt = Math.max(updatedAt, event.at);
  for (const worker of workers) {
    updatedAt = Math.max(updatedAt, worker.endedAt ?? worker.startedAt ?? 0);
  }
  return { run: input.run, workers, openRequests: input.openRequests, recentEvents, updatedAt };
}
