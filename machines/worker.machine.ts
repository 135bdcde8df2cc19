/**
 * One worker of a fan-out: one target asked the fan-out's prompt once (one repeat).
 * `queued` until the fan-out grants it a slot, `running` its model call, and settled as
 * `completed`, `failed` or `cancelled`; `interrupted` while a human holds it.
 *
 * Controls: `cancel` (queued, running or interrupted; final until a retry), `interrupt`
 * (running: the call is aborted, the worker waits), `resume` (interrupted: back to the
 * queue for a new attempt), `retry` (failed or cancelled: back to the queue for a new
 * attempt). A new attempt archives the old one with its text, error and usage.
 *
 * The only side effect is the `callModel` actor, provided by the fan-out runner. The
 * per-attempt timeout is a deadline in context (epoch ms, stamped from `at` fields), which
 * the runner arms on its clock, so it survives a restore; a restored attempt that was in
 * flight rejects with `ATTEMPT_INTERRUPTED` and the worker queues a new attempt — except a
 * worker whose target may have side effects (an agent: `confirmAfterCrash`), which waits
 * `interrupted` for a human to resume or cancel it, so nothing it did runs twice unasked.
 */
import { assign, type DoneActorEvent, fromPromise, setup } from 'xstate';
import { type WorkerState, WorkerStateSchema } from '../src/model/states.js';
import { ATTEMPT_INTERRUPTED, type StepControlAction, type StepError } from './protocol.js';
import { toStepError } from './step.machine.js';

export type { WorkerState } from '../src/model/states.js';

/** Every worker state, in lifecycle order. */
export const WORKER_STATES: readonly WorkerState[] = WorkerStateSchema.options;

export interface WorkerInput {
  readonly label: string;
  readonly model: string;
  /** Index into the fan-out's `targets`. */
  readonly targetIndex: number;
  /** 1-based repeat of the target. */
  readonly repeatIndex: number;
  /** Per-attempt timeout; none when absent. */
  readonly timeoutMs?: number;
  /**
   * An attempt lost in a crash waits for a human (`interrupted`) instead of running again: the
   * target may have side effects (agents). Model targets run again on their own.
   */
  readonly confirmAfterCrash?: boolean;
}

/** Tokens and dollars. */
export interface WorkerUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd: number;
}

/** An attempt's failure, as JSON: the same type as a step attempt's. */
export type WorkerError = StepError;

export type AttemptOutcome = 'completed' | 'failed' | 'cancelled' | 'interrupted';

/** One attempt of a worker, as archived when a new one starts (and as `trace()` lists it). */
export interface WorkerAttempt {
  readonly attempt: number;
  readonly outcome: AttemptOutcome;
  readonly text?: string;
  readonly error?: WorkerError;
  readonly usage: WorkerUsage;
  readonly reason?: string;
  readonly startedAt: number;
  readonly endedAt?: number;
}

export interface WorkerContext extends WorkerInput {
  /** Attempts started so far (the current one included). */
  readonly attempt: number;
  readonly text?: string;
  readonly error?: WorkerError;
  /** The current attempt's usage. */
  readonly usage: WorkerUsage;
  /** Why the worker waits or was cancelled. */
  readonly reason?: string;
  /** When the current attempt started; absent before the first one and after archiving. */
  readonly startedAt?: number;
  readonly endedAt?: number;
  /** When the current attempt times out. */
  readonly deadline?: number;
  /** Earlier attempts, oldest first. */
  readonly archived: readonly WorkerAttempt[];
}

/** What `callModel` is invoked with. */
export interface CallModelInput {
  readonly label: string;
  readonly model: string;
  readonly targetIndex: number;
  readonly attempt: number;
  /** Epoch ms after which the call is aborted with `WORKER_TIMEOUT`. */
  readonly deadline?: number;
}

export interface CallModelOutput {
  readonly text: string;
  readonly usage: WorkerUsage;
  readonly at: number;
}

/** What `callModel` rejects with: a `WorkerError`, with the usage of the failed call when known. */
export type CallModelError = WorkerError & { readonly usage?: WorkerUsage };

export interface WorkerControlEvent {
  readonly type: 'worker.control';
  readonly action: StepControlAction;
  readonly by?: string;
  readonly at: number;
}

export type WorkerEvent = { readonly type: 'worker.start'; readonly at: number } | WorkerControlEvent;

export const NO_WORKER_USAGE: WorkerUsage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };

type AttemptDone = DoneActorEvent<CallModelOutput, 'attempt'>;

function notProvided(key: string): never {
  throw new Error(
    `The "${key}" actor is provided by the fan-out runner; use workerMachine.provide({ actors: { ${key} } }) to run the machine on its own.`,
  );
}

/** Normalises whatever an attempt rejected with into a JSON `WorkerError` (as `toStepError` does) and its usage. */
export function toWorkerError(error: unknown, fallbackAt: number): CallModelError {
  const usage =
    error && typeof error === 'object'
      ? ((error as Record<string, unknown>).usage as WorkerUsage | undefined)
      : undefined;
  return {
    ...toStepError(error, fallbackAt),
    ...(usage && typeof usage.inputTokens === 'number' ? { usage } : {}),
  };
}

function errorOf(event: { type: string }, fallbackAt: number): CallModelError {
  return toWorkerError('error' in event ? event.error : undefined, fallbackAt);
}

function lastAt(context: WorkerContext): number {
  return context.endedAt ?? context.startedAt ?? 0;
}

/** The current attempt as an archive entry. */
function currentAttempt(context: WorkerContext, outcome: AttemptOutcome): WorkerAttempt {
  return {
    attempt: context.attempt,
    outcome,
    ...(context.text === undefined ? {} : { text: context.text }),
    ...(context.error === undefined ? {} : { error: context.error }),
    usage: context.usage,
    ...(context.reason === undefined ? {} : { reason: context.reason }),
    startedAt: context.startedAt ?? 0,
    ...(context.endedAt === undefined ? {} : { endedAt: context.endedAt }),
  };
}

/** Context changes that archive the current attempt (if one started) and clear it. */
function archived(context: WorkerContext, outcome: AttemptOutcome): Partial<WorkerContext> {
  return {
    archived:
      context.startedAt === undefined
        ? context.archived
        : [...context.archived, currentAttempt(context, outcome)],
    text: undefined,
    error: undefined,
    usage: NO_WORKER_USAGE,
    reason: undefined,
    startedAt: undefined,
    endedAt: undefined,
    deadline: undefined,
  };
}

const byWhom = (event: WorkerControlEvent) => event.by ?? 'a human';

export const workerMachine = setup({
  types: {
    context: {} as WorkerContext,
    events: {} as WorkerEvent,
    input: {} as WorkerInput,
  },
  actors: {
    callModel: fromPromise<CallModelOutput, CallModelInput>(() => notProvided('callModel')),
  },
  guards: {
    isCancel: ({ event }) => event.type === 'worker.control' && event.action === 'cancel',
    isInterrupt: ({ event }) => event.type === 'worker.control' && event.action === 'interrupt',
    isResume: ({ event }) => event.type === 'worker.control' && event.action === 'resume',
    isRetry: ({ event }) => event.type === 'worker.control' && event.action === 'retry',
    /** The attempt was in flight when the process stopped (the runner says so on restore). */
    wasLostInCrash: ({ event }) => errorOf(event, 0).code === ATTEMPT_INTERRUPTED,
    /** Lost in a crash, and the target may have done something a rerun would repeat. */
    wasLostInCrashWithSideEffects: ({ context, event }) =>
      context.confirmAfterCrash === true && errorOf(event, 0).code === ATTEMPT_INTERRUPTED,
  },
  actions: {
    cancel: assign(({ event }) =>
      event.type === 'worker.control'
        ? { reason: `cancelled by ${byWhom(event)}`, endedAt: event.at, deadline: undefined }
        : {},
    ),
    archiveAttempt: assign(({ context }, params: { outcome: AttemptOutcome }) =>
      archived(context, params.outcome),
    ),
  },
}).createMachine({
  id: 'worker',
  context: ({ input }) => ({
    label: input.label,
    model: input.model,
    targetIndex: input.targetIndex,
    repeatIndex: input.repeatIndex,
    ...(input.timeoutMs === undefined ? {} : { timeoutMs: input.timeoutMs }),
    ...(input.confirmAfterCrash === true ? { confirmAfterCrash: true } : {}),
    attempt: 0,
    usage: NO_WORKER_USAGE,
    archived: [],
  }),
  initial: 'queued',
  states: {
    queued: {
      on: {
        'worker.start': {
          target: 'running',
          actions: assign(({ context, event }) => ({
            attempt: context.attempt + 1,
            startedAt: event.at,
            deadline: context.timeoutMs === undefined ? undefined : event.at + context.timeoutMs,
          })),
        },
        'worker.control': { guard: 'isCancel', target: 'cancelled', actions: 'cancel' },
      },
    },
    running: {
      invoke: {
        id: 'attempt',
        src: 'callModel',
        input: ({ context }) => ({
          label: context.label,
          model: context.model,
          targetIndex: context.targetIndex,
          attempt: context.attempt,
          ...(context.deadline === undefined ? {} : { deadline: context.deadline }),
        }),
        onDone: {
          target: 'completed',
          actions: assign(({ event }) => {
            const { text, usage, at } = (event as AttemptDone).output;
            return { text, usage, endedAt: at, deadline: undefined };
          }),
        },
        onError: [
          {
            guard: 'wasLostInCrashWithSideEffects',
            target: 'interrupted',
            actions: assign(({ context, event }) => {
              const { usage, ...error } = toWorkerError(event.error, lastAt(context));
              return {
                error,
                usage: usage ?? context.usage,
                reason:
                  'the process stopped during this attempt; resume the worker to run it again, or cancel it',
                endedAt: error.at,
                deadline: undefined,
              };
            }),
          },
          {
            guard: 'wasLostInCrash',
            target: 'queued',
            actions: assign(({ context, event }) => {
              const { usage, ...error } = toWorkerError(event.error, lastAt(context));
              return archived(
                {
                  ...context,
                  error,
                  usage: usage ?? context.usage,
                  reason: 'the process stopped during this attempt',
                  endedAt: error.at,
                },
                'interrupted',
              );
            }),
          },
          {
            target: 'failed',
            actions: assign(({ context, event }) => {
              const { usage, ...error } = toWorkerError(event.error, lastAt(context));
              return { error, usage: usage ?? context.usage, endedAt: error.at, deadline: undefined };
            }),
          },
        ],
      },
      on: {
        'worker.control': [
          {
            guard: 'isInterrupt',
            target: 'interrupted',
            actions: assign(({ event }) => ({
              reason: `interrupted by ${byWhom(event)}`,
              endedAt: event.at,
              deadline: undefined,
            })),
          },
          { guard: 'isCancel', target: 'cancelled', actions: 'cancel' },
        ],
      },
    },
    interrupted: {
      on: {
        'worker.control': [
          {
            guard: 'isResume',
            target: 'queued',
            actions: { type: 'archiveAttempt', params: { outcome: 'interrupted' } },
          },
          { guard: 'isCancel', target: 'cancelled', actions: 'cancel' },
        ],
      },
    },
    completed: {},
    failed: {
      on: {
        'worker.control': {
          guard: 'isRetry',
          target: 'queued',
          actions: { type: 'archiveAttempt', params: { outcome: 'failed' } },
        },
      },
    },
    cancelled: {
      on: {
        'worker.control': {
          guard: 'isRetry',
          target: 'queued',
          actions: { type: 'archiveAttempt', params: { outcome: 'cancelled' } },
        },
      },
    },
  },
});

/** A worker snapshot's state name. */
export function workerStateOf(snapshot: { readonly value: unknown }): WorkerState {
  return snapshot.value as WorkerState;
}

/** Whether a worker state is settled: nothing runs and nothing will unless a human retries. */
export function isSettledWorkerState(state: WorkerState): boolean {
  return state === 'completed' || state === 'failed' || state === 'cancelled';
}

const CONTROLS: readonly StepControlAction[] = ['cancel', 'interrupt', 'retry', 'resume'];

/** A worker snapshot in `state` (the controls' guards read only the event, not the context). */
function snapshotIn(state: WorkerState) {
  return workerMachine.resolveState({
    value: state,
    context: {
      label: '',
      model: '',
      targetIndex: 0,
      repeatIndex: 1,
      attempt: 0,
      usage: NO_WORKER_USAGE,
      archived: [],
    },
  });
}

/**
 * The worker states a control fits, as the machine decides it (`can()`), for a caller that
 * holds only a worker's state (a command checked in another process).
 *
 * @example
 * ```ts
 * workerStatesAllowing('retry'); // ['failed', 'cancelled']
 * ```
 */
export function workerStatesAllowing(action: StepControlAction): WorkerState[] {
  return WORKER_STATES.filter((state) => snapshotIn(state).can({ type: 'worker.control', action, at: 0 }));
}

/**
 * The controls that fit a worker snapshot now (the machine's own answer, via `can()`).
 *
 * @example
 * ```ts
 * workerControls(workerMachine.resolveState({ value: 'failed', context })); // ['retry']
 * ```
 */
export function workerControls(snapshot: { can(event: WorkerControlEvent): boolean }): StepControlAction[] {
  return CONTROLS.filter((action) => snapshot.can({ type: 'worker.control', action, at: 0 }));
}
