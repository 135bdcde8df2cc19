/**
 * The fan-out runner: one worker actor per target × repeat, at most `concurrency` running at
 * once (queued workers start in target order), each attempt bounded by `workerTimeoutMs` on
 * the injected clock. When every worker is settled (completed, failed or cancelled) the
 * completed answers are reduced, if asked, and the results come back in target order.
 *
 * Live controls address a worker by label. Every worker transition is reported with the
 * worker's persisted snapshot, so a caller can store it (O(1) per transition) and later
 * resume the fan-out from a `FanoutState` without repeating completed workers.
 */
import { type Actor, createActor, type InspectionEvent } from 'xstate';
import type { StepControlAction } from '../../machines/protocol.js';
import {
  isSettledWorkerState,
  type WorkerControlEvent,
  workerControls,
  workerMachine,
  type WorkerState,
  workerStateOf,
} from '../../machines/worker.machine.js';
import { type Clock, systemClock } from '../clock.js';
import { isTaskvisorError, quote, TaskvisorError } from '../errors.js';
import { positiveInteger } from './options.js';
import type { Prices } from '../llm/prices.js';
import type { ReduceMode } from '../model/action.js';
import {
  createCallModel,
  type FanoutAgent,
  type FanoutClient,
  type FanoutUsageReport,
  lostAttemptKey,
  type StopIntent,
  workerRequest,
} from './call-model.js';
import {
  checkRestorable,
  FANOUT_STATE_VERSION,
  type FanoutState,
  type FanoutTotals,
  fanoutTotals,
  type PersistedWorker,
  type WorkerResult,
  workerResults,
} from './fanout-state.js';
import {
  type AgentTargetSpec,
  isAgentTarget,
  type ModelTargetSpec,
  normalizeTarget,
  type TargetInput,
  targetModel,
  workerSlots,
} from './labels.js';
import { type Reduction, reduceCandidates } from './reduce.js';

export const DEFAULT_FANOUT_CONCURRENCY = 4;

export interface FanoutSpec {
  readonly prompt: string;
  readonly targets: readonly TargetInput[];
  /** How many times each target is asked (default 1). */
  readonly repeat?: number;
  /** Reduce the completed answers; the reducer is `target`, or else the first target. */
  readonly reduce?: { readonly mode: ReduceMode; readonly target?: string | ModelTargetSpec };
  /** Workers running at once (default 4). */
  readonly concurrency?: number;
  /** Per-attempt timeout of a worker, on the injected clock (default none). */
  readonly workerTimeoutMs?: number;
}

/** A worker moved from one state to another (`from: null` for a new worker's first snapshot). */
export interface WorkerTransition {
  readonly label: string;
  readonly from: WorkerState | null;
  readonly to: WorkerState;
  readonly attempt: number;
  readonly at: number;
  /** The worker's `getPersistedSnapshot()`: store it to make this transition durable. */
  readonly snapshot: PersistedWorker;
}

export interface FanoutDeps {
  /** A model client for a target (called once per distinct target; `LlmClient` fits). */
  readonly clientFor: (target: ModelTargetSpec) => FanoutClient;
  /** The runner of an agent target (required when a target is `{ agent }`). */
  readonly agentFor?: (target: AgentTargetSpec) => FanoutAgent;
  /** The reducer when `reduce.target` is absent and the first target is an agent. */
  readonly defaultReducer?: ModelTargetSpec;
  readonly clock?: Clock;
  /** Aborting it stops every worker where it is (no transition) and rejects with `ABORTED`. */
  readonly signal?: AbortSignal;
  /** Dollars per million tokens by model, for `costUsd` (unpriced models cost 0). */
  readonly prices?: Prices;
  /** A stored state to resume: completed workers are kept, in-flight attempts run again. */
  readonly restore?: FanoutState;
  /** With `restore`: failed workers get a new attempt (a step-level retry of the fan-out). */
  readonly retryFailed?: boolean;
  /** Called after every worker transition, before anything else reacts to it. */
  readonly onWorkerTransition?: (transition: WorkerTransition) => void;
  /** Called once per model call that answered (workers and reducer). */
  readonly onUsage?: (report: FanoutUsageReport) => void;
  /** Called once the reducer gave a valid verdict (store it with the state). */
  readonly onReduction?: (reduction: Reduction) => void;
  /** An XState inspection observer for the worker actors. */
  readonly inspect?: (event: InspectionEvent) => void;
}

/** A reducer that gave no valid verdict, or had nothing to reduce. */
export interface ReductionFailure {
  readonly message: string;
  readonly code: string;
}

export interface FanoutResult {
  /** One per worker, in target order (target by target, repeat by repeat). */
  readonly results: readonly WorkerResult[];
  readonly reduction?: Reduction;
  readonly reductionError?: ReductionFailure;
  /** Every attempt of every worker plus every reducer call. */
  readonly totals: FanoutTotals;
  /** The final state (store it with the step's output to make a retry cheap). */
  readonly state: FanoutState;
}

export interface FanoutHandle {
  /** Worker labels in target order. */
  readonly labels: readonly string[];
  /**
   * Applies a control to a worker: `cancel` (queued, running, interrupted), `interrupt`
   * (running), `resume` (interrupted), `retry` (failed, cancelled). Throws
   * `TaskvisorError('UNKNOWN_WORKER')` for an unknown label and `INVALID_STATE` for a
   * control that does not fit the worker's state or a fan-out that already finished.
   * The worker's transitions are reported to `onWorkerTransition` (synchronously, unless the
   * control is sent from inside that callback).
   */
  control(label: string, action: StepControlAction, options?: { readonly by?: string }): void;
  /** Every worker's live result, in target order. */
  workers(): WorkerResult[];
  /** The state to persist (every worker's snapshot, and the reduction once done). */
  state(): FanoutState;
  /** Resolves when every worker settled and the reduction (if any) ended. */
  readonly done: Promise<FanoutResult>;
}

type WorkerActor = Actor<typeof workerMachine>;

/**
 * Starts a fan-out and returns a handle for controls, live state and the result.
 *
 * @example
 * ```ts
 * const fanout = startFanout(
 *   { prompt: 'Name a prime', targets: ['gpt-4o', 'gpt-4o', 'o3-mini'], reduce: { mode: 'best_of_n' } },
 *   { clientFor: (target) => createLlmClient({ model: target.model }) },
 * );
 * fanout.control('gpt-4o#2', 'cancel');
 * const { results, reduction, totals } = await fanout.done;
 * ```
 */
export function startFanout(spec: FanoutSpec, deps: FanoutDeps): FanoutHandle {
  const clock = deps.clock ?? systemClock;
  const prices = deps.prices ?? {};
  const concurrency = positiveInteger('concurrency', spec.concurrency, DEFAULT_FANOUT_CONCURRENCY)!;
  const timeoutMs = positiveInteger('workerTimeoutMs', spec.workerTimeoutMs, undefined);
  const slots = workerSlots(spec.targets, spec.repeat ?? 1);
  const targets = spec.targets.map(normalizeTarget);
  const requests = targets.map((target) =>
    isAgentTarget(target) ? undefined : workerRequest(spec.prompt, target),
  );
  const agents = targets.map((target) => {
    if (!isAgentTarget(target)) return undefined;
    if (!deps.agentFor) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `Fan-out target ${quote(target.agent)} is an agent, but this fan-out has no agents; run it through a supervisor with createSupervisor({ agents })`,
        { option: 'targets', agent: target.agent },
      );
    }
    return deps.agentFor(target);
  });
  /** What the last control did to a worker's running attempt (read by agent workers on abort). */
  const stopIntents = new Map<string, StopIntent>();
  /** Agent runs that settle soon after an abort (CLI agents), awaited before the fan-out ends. */
  const winding = new Set<Promise<unknown>>();
  const track = (run: Promise<unknown>) => {
    winding.add(run);
    const forget = () => winding.delete(run);
    run.then(forget, forget);
  };
  const clients = new Map<ModelTargetSpec, FanoutClient>();
  const clientOf = (target: ModelTargetSpec) => {
    let client = clients.get(target);
    if (!client) {
      client = deps.clientFor(target);
      clients.set(target, client);
    }
    return client;
  };

  const restore = deps.restore;
  if (restore)
    checkRestorable(
      restore,
      slots.map((slot) => slot.label),
    );

  const lostAttempts = new Set<string>();
  const machine = workerMachine.provide({
    actors: {
      callModel: createCallModel({
        clock,
        prices,
        prompt: spec.prompt,
        requestFor: (targetIndex) => requests[targetIndex],
        clientFor: (targetIndex) => clientOf(targets[targetIndex] as ModelTargetSpec),
        agentFor: (targetIndex) => agents[targetIndex],
        stopIntentOf: (label) => stopIntents.get(label),
        track,
        lostAttempts,
        ...(deps.onUsage ? { onUsage: deps.onUsage } : {}),
      }),
    },
  });

  const actors = new Map<string, WorkerActor>();
  const lastSnapshot = new Map<string, unknown>();
  const lastState = new Map<string, WorkerState>();
  let reduction: Reduction | undefined = restore?.reduction;
  let phase: 'working' | 'reducing' | 'finished' = 'working';
  let resolveDone!: (result: FanoutResult) => void;
  let rejectDone!: (error: unknown) => void;
  const done = new Promise<FanoutResult>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  // A caller that only uses controls must not see an unhandled rejection.
  done.catch(() => {});

  const state = (): FanoutState => ({
    version: FANOUT_STATE_VERSION,
    workers: slots.map(({ label }) => ({
      label,
      snapshot: actors.get(label)!.getPersistedSnapshot() as unknown as PersistedWorker,
    })),
    ...(reduction ? { reduction } : {}),
  });

  function report(label: string): void {
    const actor = actors.get(label)!;
    const snapshot = actor.getSnapshot();
    if (lastSnapshot.get(label) === snapshot) return;
    lastSnapshot.set(label, snapshot);
    const to = workerStateOf(snapshot);
    const from = lastState.get(label) ?? null;
    lastState.set(label, to);
    const transition: WorkerTransition = {
      label,
      from,
      to,
      attempt: snapshot.context.attempt,
      at: clock.now(),
      snapshot: actor.getPersistedSnapshot() as unknown as PersistedWorker,
    };
    deps.onWorkerTransition?.(transition);
  }

  /**
   * Workers sent `worker.start` that have not taken it yet (a send from inside a worker's own
   * observer is processed after it returns), by the snapshot they had when it was sent.
   */
  const starting = new Map<string, unknown>();
  let pumping = false;
  /** Starts queued workers in target order while fewer than `concurrency` run. */
  function pump(): void {
    if (pumping || phase !== 'working') return;
    pumping = true;
    try {
      for (;;) {
        let running = 0;
        let next: string | undefined;
        for (const { label } of slots) {
          const snapshot = actors.get(label)!.getSnapshot();
          const value = workerStateOf(snapshot);
          if (starting.get(label) === snapshot) running += 1;
          else if (value === 'running') running += 1;
          else if (value === 'queued' && next === undefined) next = label;
        }
        if (running >= concurrency || next === undefined) break;
        const actor = actors.get(next)!;
        starting.set(next, actor.getSnapshot());
        actor.send({ type: 'worker.start', at: clock.now() });
      }
    } finally {
      pumping = false;
    }
    if ([...actors.values()].every((actor) => isSettledWorkerState(workerStateOf(actor.getSnapshot())))) {
      void finish();
    }
  }

  async function finish(): Promise<void> {
    if (phase !== 'working') return;
    phase = 'reducing';
    try {
      let reductionError: ReductionFailure | undefined;
      let reducerUsage = reduction?.usage;
      if (spec.reduce && !reduction) {
        const candidates = workerResults(state())
          .filter((result) => result.state === 'completed')
          .map((result) => ({ label: result.label, text: result.text ?? '' }));
        const reducerTarget = reducerOf(spec, targets, deps.defaultReducer);
        try {
          reduction = await reduceCandidates({
            mode: spec.reduce.mode,
            prompt: spec.prompt,
            candidates,
            client: clientOf(reducerTarget),
            model: reducerTarget.model,
            prices,
            ...(deps.signal ? { signal: deps.signal } : {}),
            ...(deps.onUsage ? { onUsage: deps.onUsage } : {}),
          });
          reducerUsage = reduction.usage;
          deps.onReduction?.(reduction);
        } catch (error) {
          if (deps.signal?.aborted) throw error;
          const details = isTaskvisorError(error) ? error.details : {};
          reducerUsage = details.usage as Reduction['usage'] | undefined;
          reductionError = {
            message: error instanceof Error ? error.message : String(error),
            code: isTaskvisorError(error) ? error.code : 'LLM_ERROR',
          };
        }
      }
      // A stopped CLI agent's process is being killed: its last artifact comes with the step.
      if (winding.size > 0) await Promise.allSettled([...winding]);
      const final = state();
      phase = 'finished';
      stopAll();
      resolveDone({
        results: workerResults(final),
        ...(reduction ? { reduction } : {}),
        ...(reductionError ? { reductionError } : {}),
        totals: fanoutTotals(final, reducerUsage),
        state: final,
      });
    } catch (error) {
      abort(error);
    }
  }

  function stopAll(): void {
    for (const actor of actors.values()) actor.stop();
  }

  function abort(reason: unknown): void {
    if (phase === 'finished') return;
    phase = 'finished';
    stopAll();
    rejectDone(
      isTaskvisorError(reason, 'ABORTED')
        ? reason
        : new TaskvisorError(
            'ABORTED',
            `The fan-out was stopped (${reason instanceof Error ? reason.message : String(reason)}); ` +
              'its workers keep their stored state and resume with it',
            { retryable: false },
            { cause: reason },
          ),
    );
  }

  function control(label: string, action: StepControlAction, options: { readonly by?: string } = {}): void {
    const actor = actors.get(label);
    if (!actor) {
      throw new TaskvisorError(
        'UNKNOWN_WORKER',
        `No fan-out worker is labelled ${quote(label)}; the workers are ${slots.map((s) => quote(s.label)).join(', ')}`,
        { label },
      );
    }
    const snapshot = actor.getSnapshot();
    const current = workerStateOf(snapshot);
    if (phase !== 'working') {
      throw new TaskvisorError(
        'INVALID_STATE',
        `Cannot ${action} fan-out worker ${quote(label)}: the fan-out has ${phase === 'reducing' ? 'settled and is reducing' : 'finished'} ` +
          `(worker ${current}); retry the fan-out step to give its failed workers a new attempt`,
        { label, state: current, action },
      );
    }
    const event: WorkerControlEvent = {
      type: 'worker.control',
      action,
      at: clock.now(),
      ...(options.by === undefined ? {} : { by: options.by }),
    };
    if (!snapshot.can(event)) {
      const fits = workerControls(snapshot);
      throw new TaskvisorError(
        'INVALID_STATE',
        `Cannot ${action} fan-out worker ${quote(label)}: it is ${current}` +
          (fits.length > 0
            ? `; the controls that fit it now: ${fits.join(', ')}`
            : '; no control applies to it any more'),
        { label, state: current, action, allowed: fits },
      );
    }
    if (action === 'interrupt' || action === 'cancel') stopIntents.set(label, action);
    else stopIntents.delete(label);
    actor.send(event);
    pump();
  }

  // Create every worker (fresh or restored), report its first snapshot, then start them.
  const restored = new Map(restore?.workers.map((worker) => [worker.label, worker.snapshot]));
  for (const slot of slots) {
    const persisted = restored.get(slot.label);
    if (persisted && persisted.value === 'running') {
      lostAttempts.add(lostAttemptKey(slot.label, persisted.context.attempt));
    }
    const inspect = deps.inspect ? { inspect: deps.inspect } : {};
    const options = persisted
      ? { id: slot.label, snapshot: persisted, ...inspect }
      : {
          id: slot.label,
          input: {
            label: slot.label,
            model: targetModel(slot.target),
            // An agent may have acted before a crash: its lost attempt waits for a human.
            ...(isAgentTarget(slot.target) ? { confirmAfterCrash: true } : {}),
            targetIndex: slot.targetIndex,
            repeatIndex: slot.repeatIndex,
            ...(timeoutMs === undefined ? {} : { timeoutMs }),
          },
          ...inspect,
        };
    // A persisted snapshot needs no input (XState restores it as stored).
    const actor = createActor(machine, options as never) as WorkerActor;
    actors.set(slot.label, actor);
    if (persisted) {
      lastSnapshot.set(slot.label, actor.getSnapshot());
      lastState.set(slot.label, persisted.value);
    } else {
      report(slot.label);
    }
  }

  if (deps.signal?.aborted) {
    abort(deps.signal.reason);
  } else {
    deps.signal?.addEventListener('abort', () => abort(deps.signal?.reason), { once: true });
    for (const [label, actor] of actors) {
      actor.subscribe({
        next: () => {
          if (phase === 'finished') return;
          try {
            report(label);
          } catch (error) {
            // The caller could not record the transition: stop here rather than run on unrecorded.
            abort(error);
            return;
          }
          pump();
        },
        error: (error) => abort(error),
      });
    }
    for (const actor of actors.values()) actor.start();
    if (restore && deps.retryFailed) {
      for (const { label } of slots) {
        const actor = actors.get(label)!;
        if (workerStateOf(actor.getSnapshot()) === 'failed') {
          // A new answer makes a stored reduction stale.
          reduction = undefined;
          actor.send({
            type: 'worker.control',
            action: 'retry',
            by: 'a retry of the fan-out',
            at: clock.now(),
          });
        }
      }
    }
    pump();
  }

  return {
    labels: slots.map((slot) => slot.label),
    control,
    workers: () => workerResults(state()),
    state,
    done,
  };
}

/** The reducer: `reduce.target`, else the first model target, else `fallback`. */
function reducerOf(
  spec: FanoutSpec,
  targets: readonly ReturnType<typeof normalizeTarget>[],
  fallback: ModelTargetSpec | undefined,
): ModelTargetSpec {
  if (spec.reduce?.target !== undefined) return normalizeTarget(spec.reduce.target) as ModelTargetSpec;
  const model = targets.find((target): target is ModelTargetSpec => !isAgentTarget(target)) ?? fallback;
  if (!model) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      'Every fan-out target is an agent and no model is configured to reduce their answers; give reduce a target ({ model }) or pass llm to createSupervisor',
      { option: 'reduce.target' },
    );
  }
  return model;
}

/**
 * Runs a fan-out to the end (see `startFanout`).
 *
 * @example
 * ```ts
 * const { results, reduction, totals } = await runFanout(
 *   { prompt: 'Name a prime', targets: ['gpt-4o', 'o3-mini'], repeat: 2, reduce: { mode: 'compare' } },
 *   { clientFor: (target) => createLlmClient({ model: target.model }) },
 * );
 * ```
 */
export function runFanout(spec: FanoutSpec, deps: FanoutDeps): Promise<FanoutResult> {
  return startFanout(spec, deps).done;
}
