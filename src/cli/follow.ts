/**
 * Follows runs to their end: folds each run's events (from the database, then live) into
 * a `RunProjection`, keeps its open questions, and hands every change to a display.
 * Used by `run`, `resume`, `watch` and `fanout`.
 */
import type { EventOf, TaskvisorEvent } from '../model/events.js';
import { isTerminalPhase } from '../model/states.js';
import { RunProjection, type RunView } from '../model/views.js';
import type { Supervisor } from '../supervisor.js';

export type OpenRequest = EventOf<'request.opened'>;

/** What a display knows of one run. */
export interface FollowedRun {
  readonly runId: string;
  readonly projection: RunProjection;
  /** Questions the run's actions asked that have no answer yet, by request id. */
  readonly requests: Map<string, OpenRequest>;
}

export interface Display {
  /** `event` was folded into `run`. */
  onEvent(run: FollowedRun, event: TaskvisorEvent): void;
  /** Every run ended (or following stopped); `views` are their final views. */
  finish(views: readonly RunView[]): void;
  /** A line from a run's work, e.g. a `notify` on the console channel. */
  note(text: string): void;
}

function track(run: FollowedRun, event: TaskvisorEvent): void {
  if (event.type === 'request.opened') run.requests.set(event.requestId, event);
  else if (event.type === 'request.answered') run.requests.delete(event.requestId);
  else if (event.type === 'step.transition' && event.from === 'awaitingInput') {
    for (const [id, request] of run.requests) if (request.stepId === event.stepId) run.requests.delete(id);
  }
}

export function isEnded(run: FollowedRun): boolean {
  const phase = run.projection.phase;
  return phase !== undefined && isTerminalPhase(phase);
}

/**
 * Resolves with the runs' final views once every run is completed, failed or cancelled.
 * `failure` (e.g. a run handle's `done` rejecting) stops following with its error.
 */
export function followRuns(
  sv: Supervisor,
  runIds: readonly string[],
  display: Display,
  failure?: Promise<unknown>,
): Promise<RunView[]> {
  const runs = runIds.map((runId): FollowedRun => ({
    runId,
    projection: new RunProjection(),
    requests: new Map(),
  }));
  return new Promise<RunView[]>((resolve, reject) => {
    let settled = false;
    const subscriptions: Array<{ unsubscribe(): void }> = [];
    // The supervisor's timers do not hold the process open; a run waiting for a human must.
    const keepAlive = setInterval(() => {}, 60_000);
    const stop = () => {
      settled = true;
      clearInterval(keepAlive);
      for (const subscription of subscriptions) subscription.unsubscribe();
    };
    const fail = (error: unknown) => {
      if (settled) return;
      stop();
      reject(error);
    };
    const finishIfEnded = () => {
      if (settled || !runs.every(isEnded)) return;
      stop();
      // The final views from the store: the terminal batch may hold more events than were folded.
      Promise.all(runs.map(async (run) => (await sv.get(run.runId)) ?? run.projection.view())).then(
        (views) => {
          display.finish(views);
          resolve(views);
        },
        reject,
      );
    };
    failure?.then(undefined, fail);
    for (const run of runs) {
      subscriptions.push(
        sv.events({ runId: run.runId }).subscribe({
          next: (event) => {
            if (settled || !run.projection.apply(event)) return;
            track(run, event);
            display.onEvent(run, event);
            if (event.type === 'run.transition') finishIfEnded();
          },
          error: fail,
        }),
      );
    }
    // Runs that had already ended replay their terminal transition; nothing more is needed.
  });
}
