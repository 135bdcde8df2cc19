/**
 * One step of a plan. `pending` until its dependencies succeed and the task grants it a run
 * slot; then (after a human confirms, for confirm tiers) `running` its action, with
 * `retrying` between attempts, `awaitingInput` while the action waits for an answer and
 * `interrupted` while a human holds it. `succeeded | failed | skipped | cancelled` settle
 * it; a human `retry` revives a failed or cancelled step, and reviving its root revives a
 * skipped one.
 *
 * Side effects are the `executeAction` and `waitUntil` actors, provided by the runtime.
 * Deadlines (`deadline`, `retryAt`) live in context so they survive a restore.
 */
import { and, assign, type DoneActorEvent, enqueueActions, fromPromise, setup } from 'xstate';
import type { Json } from '../src/model/json.js';
import { isIdempotentStep, type Step } from '../src/model/plan.js';
import { renameTemplateStep } from '../src/model/templates.js';
import {
  ATTEMPT_INTERRUPTED,
  type ExecuteActionInput,
  type ExecuteActionOutput,
  type SettledStepState,
  type StepError,
  type StepEvent,
  type StepInput,
  type StepNotice,
  type WaitUntilInput,
  type WaitUntilOutput,
} from './protocol.js';

export interface StepContext {
  readonly runId: string;
  readonly stepId: string;
  readonly step: Step;
  readonly waitingOn: readonly string[];
  readonly needsConfirmation: boolean;
  readonly idempotent: boolean;
  /** Attempts started so far (the current one included). */
  readonly attempt: number;
  /**
   * Attempts whose process died while they ran (absent: none). Each counts toward
   * `retry.maxAttempts`; past it the step waits for a human (`crashed N times`).
   */
  readonly crashes?: number;
  readonly output?: Json;
  readonly error?: StepError;
  /** Why the step waits, was skipped or cancelled. */
  readonly reason?: string;
  /** Failed or cancelled steps this skipped step is waiting on a revival of. */
  readonly skippedBy?: readonly string[];
  readonly replacedBy?: string;
  readonly requestId?: string;
  readonly startedAt?: number;
  readonly endedAt?: number;
  /** When the current attempt times out. */
  readonly deadline?: number;
  /** When the next attempt starts. */
  readonly retryAt?: number;
}

type AttemptDone = DoneActorEvent<ExecuteActionOutput, 'attempt'>;
type BackoffDone = DoneActorEvent<WaitUntilOutput, 'backoff'>;

function notProvided(key: string): never {
  throw new Error(
    `The "${key}" actor is provided by the taskvisor runtime; use stepMachine.provide({ actors: { ${key} } }) to run the machine on its own.`,
  );
}

/** Normalises whatever an attempt rejected with into a JSON `StepError`. */
export function toStepError(error: unknown, fallbackAt: number): StepError {
  if (error && typeof error === 'object') {
    const record = error as Record<string, unknown>;
    // The runtime rejects with a TaskvisorError: `retryable` and `at` are in its details.
    const details =
      typeof record.details === 'object' && record.details !== null
        ? (record.details as Record<string, unknown>)
        : {};
    const retryable = typeof record.retryable === 'boolean' ? record.retryable : details.retryable;
    const at = typeof record.at === 'number' ? record.at : details.at;
    return {
      message: typeof record.message === 'string' ? record.message : String(error),
      code: typeof record.code === 'string' ? record.code : 'ACTION_FAILED',
      retryable: retryable !== false,
      at: typeof at === 'number' ? at : fallbackAt,
    };
  }
  return { message: String(error), code: 'ACTION_FAILED', retryable: true, at: fallbackAt };
}

/**
 * Attempts an idempotent step may make when its process keeps dying: `retry.maxAttempts`,
 * but at least 2, so that one crash of a read step (the host rebooted, the process was
 * killed for another reason) is re-run without a human, as the durability contract says.
 */
export const MIN_CRASH_ATTEMPTS = 2;

/** `crashed 3 times`; the first crash of a step that is not idempotent is `interrupted`. */
function crashReason(context: StepContext, crashes: number): string {
  if (crashes === 1 && !context.idempotent) return 'interrupted';
  return `crashed ${crashes} ${crashes === 1 ? 'time' : 'times'}`;
}

/** The error of an `xstate.error.actor.attempt` event (guards see the machine's own event union). */
function attemptError(event: { type: string }): StepError {
  return toStepError('error' in event ? event.error : undefined, 0);
}

function lastAt(context: StepContext): number {
  return context.endedAt ?? context.startedAt ?? 0;
}

function backoffMs(step: Step, failedAttempt: number): number {
  const retry = step.retry;
  if (!retry) return 0;
  return Math.round(retry.backoffMs * retry.factor ** (failedAttempt - 1));
}

/** Context changes when an attempt starts at `at`. */
function beginAttempt(context: StepContext, at: number): Partial<StepContext> {
  return {
    attempt: context.attempt + 1,
    startedAt: context.startedAt ?? at,
    endedAt: undefined,
    deadline: context.step.timeoutMs === undefined ? undefined : at + context.step.timeoutMs,
    retryAt: undefined,
    error: undefined,
    reason: undefined,
    requestId: undefined,
  };
}

function settled(context: StepContext, state: SettledStepState, root: string, at: number): StepNotice {
  return { type: 'step.settled', stepId: context.stepId, state, root, at };
}

export const stepMachine = setup({
  types: {
    context: {} as StepContext,
    events: {} as StepEvent,
    input: {} as StepInput,
  },
  actors: {
    executeAction: fromPromise<ExecuteActionOutput, ExecuteActionInput>(() => notProvided('executeAction')),
    waitUntil: fromPromise<WaitUntilOutput, WaitUntilInput>(() => notProvided('waitUntil')),
  },
  guards: {
    isLastDependency: ({ context, event }) =>
      event.type === 'dependency.succeeded' &&
      context.waitingOn.length === 1 &&
      context.waitingOn[0] === event.id,
    needsConfirmation: ({ context }) => context.needsConfirmation,
    isGranted: ({ event }) => event.type === 'dependency.succeeded' && event.grant === true,
    isApproved: ({ event }) => event.type === 'step.confirm' && event.approved,
    choseSkip: ({ event }) => event.type === 'step.confirm' && event.decision === 'skip',
    choseFail: ({ event }) => event.type === 'step.confirm' && event.decision === 'fail',
    isControlCancel: ({ event }) => event.type === 'step.control' && event.action === 'cancel',
    isControlInterrupt: ({ event }) => event.type === 'step.control' && event.action === 'interrupt',
    isControlResume: ({ event }) => event.type === 'step.control' && event.action === 'resume',
    isControlRetry: ({ event }) => event.type === 'step.control' && event.action === 'retry',
    isControlRetryOfOriginal: ({ context, event }) =>
      event.type === 'step.control' && event.action === 'retry' && context.replacedBy === undefined,
    wasInterruptedIdempotent: ({ context, event }) =>
      context.idempotent &&
      attemptError(event).code === ATTEMPT_INTERRUPTED &&
      context.attempt < Math.max(MIN_CRASH_ATTEMPTS, context.step.retry?.maxAttempts ?? 1),
    wasInterrupted: ({ event }) => attemptError(event).code === ATTEMPT_INTERRUPTED,
    canRetry: ({ context, event }) => {
      const error = attemptError(event);
      return error.retryable && context.attempt < (context.step.retry?.maxAttempts ?? 1);
    },
    answersOpenRequest: ({ context, event }) =>
      event.type === 'input.answered' && event.requestId === context.requestId,
    isLastSkipRoot: ({ context, event }) =>
      event.type === 'dependency.revived' &&
      (context.skippedBy ?? []).length === 1 &&
      context.skippedBy?.[0] === event.root,
  },
  actions: {
    /** A human cancelled the step (control or denial is handled apart). */
    settleCancelled: enqueueActions(({ enqueue, context, event }) => {
      if (event.type !== 'step.control') return;
      enqueue.assign({
        reason: `cancelled by ${event.by ?? 'a human'}`,
        endedAt: event.at,
        deadline: undefined,
        retryAt: undefined,
        requestId: undefined,
      });
      enqueue.sendParent(settled(context, 'cancelled', context.stepId, event.at));
    }),
    /** The run was cancelled: the task is finishing, so nothing is reported back. */
    cancelWithRun: assign(({ event }) =>
      event.type === 'step.cancel'
        ? {
            reason: event.reason,
            endedAt: event.at,
            deadline: undefined,
            retryAt: undefined,
            requestId: undefined,
          }
        : {},
    ),
    /** Answers a new step asking whether this dependency already settled. */
    reportStatus: enqueueActions(({ enqueue, context, event }, params: { state: SettledStepState }) => {
      if (event.type !== 'step.query') return;
      enqueue.sendParent({
        type: 'step.status',
        stepId: context.stepId,
        state: params.state,
        to: event.to,
        at: event.at,
      } as StepNotice);
    }),
    /** A human retries a failed or cancelled step: it waits for a slot again, like a new step. */
    reviveForRetry: enqueueActions(
      ({ enqueue, context, event }, params: { from: 'failed' | 'cancelled' }) => {
        if (event.type !== 'step.control') return;
        enqueue.assign({ reason: undefined, endedAt: undefined, error: undefined });
        enqueue.sendParent({
          type: 'step.revived',
          stepId: context.stepId,
          from: params.from,
          at: event.at,
        } as StepNotice);
        if (context.waitingOn.length === 0) {
          enqueue.sendParent({ type: 'step.ready', stepId: context.stepId, at: event.at } as StepNotice);
        }
      },
    ),
    /** Gives back a run slot the task reserved for a step that can no longer start. */
    declineGrant: enqueueActions(({ enqueue, context, event }) => {
      if (event.type !== 'dependency.succeeded') return;
      enqueue.sendParent({ type: 'step.declined', stepId: context.stepId, at: event.at } as StepNotice);
    }),
    /** Keeps `waitingOn` true in every state, so a step revived later waits for the right ones. */
    removeDependency: assign({
      waitingOn: ({ context, event }) =>
        event.type === 'dependency.succeeded'
          ? context.waitingOn.filter((id) => id !== event.id)
          : context.waitingOn,
    }),
    rewireDependency: assign(({ context, event }) => {
      if (event.type !== 'dependency.replaced') return {};
      return {
        waitingOn: context.waitingOn.map((id) => (id === event.from ? event.to : id)),
        step: {
          ...context.step,
          dependsOn: context.step.dependsOn.map((id) => (id === event.from ? event.to : id)),
          action: renameTemplateStep(context.step.action, event.from, event.to),
        },
      };
    }),
  },
}).createMachine({
  id: 'step',
  context: ({ input }) => ({
    runId: input.runId,
    stepId: input.step.id,
    step: input.step,
    waitingOn: [...input.waitingOn],
    needsConfirmation: input.needsConfirmation,
    idempotent: isIdempotentStep(input.step),
    attempt: 0,
  }),
  initial: 'pending',
  states: {
    pending: {
      on: {
        'dependency.succeeded': [
          // The task granted a slot with the news: no need to report ready and wait for a start.
          {
            guard: and(['isLastDependency', 'isGranted', 'needsConfirmation']),
            target: 'awaitingConfirmation',
            actions: assign({
              waitingOn: [],
              reason: ({ context }) => `tier ${context.step.tier} needs confirmation`,
            }),
          },
          {
            guard: and(['isLastDependency', 'isGranted']),
            target: 'running',
            actions: assign(({ context, event }) => ({ ...beginAttempt(context, event.at), waitingOn: [] })),
          },
          {
            guard: 'isLastDependency',
            actions: enqueueActions(({ enqueue, context, event }) => {
              enqueue.assign({ waitingOn: [] });
              enqueue.sendParent({ type: 'step.ready', stepId: context.stepId, at: event.at } as StepNotice);
            }),
          },
          { actions: 'removeDependency' },
        ],
        'dependency.failed': {
          target: 'skipped',
          actions: enqueueActions(({ enqueue, context, event }) => {
            enqueue.assign({
              skippedBy: [event.root],
              reason: `dependency ${event.root} failed`,
              endedAt: event.at,
            });
            enqueue.sendParent(settled(context, 'skipped', event.root, event.at));
          }),
        },
        'step.start': [
          {
            guard: 'needsConfirmation',
            target: 'awaitingConfirmation',
            actions: assign({ reason: ({ context }) => `tier ${context.step.tier} needs confirmation` }),
          },
          { target: 'running', actions: assign(({ context, event }) => beginAttempt(context, event.at)) },
        ],
        'step.control': { guard: 'isControlCancel', target: 'cancelled', actions: 'settleCancelled' },
        'step.cancel': { target: 'cancelled', actions: 'cancelWithRun' },
      },
    },
    awaitingConfirmation: {
      on: {
        'step.confirm': [
          {
            guard: 'isApproved',
            target: 'running',
            actions: assign(({ context, event }) => beginAttempt(context, event.at)),
          },
          {
            guard: 'choseSkip',
            target: 'skipped',
            actions: enqueueActions(({ enqueue, context, event }) => {
              enqueue.assign({
                reason: `skipped by ${event.by ?? 'a human'}${event.reason ? `: ${event.reason}` : ''}`,
                skippedBy: [],
                endedAt: event.at,
              });
              enqueue.sendParent(settled(context, 'skipped', context.stepId, event.at));
            }),
          },
          {
            guard: 'choseFail',
            target: 'failed',
            actions: enqueueActions(({ enqueue, context, event }) => {
              const message = `failed by ${event.by ?? 'a human'}${event.reason ? `: ${event.reason}` : ''}`;
              enqueue.assign({
                error: { message, code: 'FAILED_BY_HUMAN', retryable: false, at: event.at },
                reason: message,
                endedAt: event.at,
              });
              enqueue.sendParent(settled(context, 'failed', context.stepId, event.at));
            }),
          },
          {
            target: 'cancelled',
            actions: enqueueActions(({ enqueue, context, event }) => {
              enqueue.assign({
                reason: `denied by ${event.by ?? 'a human'}${event.reason ? `: ${event.reason}` : ''}`,
                endedAt: event.at,
              });
              enqueue.sendParent(settled(context, 'cancelled', context.stepId, event.at));
            }),
          },
        ],
        'step.control': { guard: 'isControlCancel', target: 'cancelled', actions: 'settleCancelled' },
        'step.cancel': { target: 'cancelled', actions: 'cancelWithRun' },
      },
    },
    running: {
      invoke: {
        id: 'attempt',
        src: 'executeAction',
        input: ({ context }) => ({
          runId: context.runId,
          stepId: context.stepId,
          step: context.step,
          attempt: context.attempt,
          idempotencyKey: `${context.runId}/${context.stepId}`,
          ...(context.deadline === undefined ? {} : { deadline: context.deadline }),
        }),
        onDone: {
          target: 'succeeded',
          actions: enqueueActions(({ enqueue, context, event }) => {
            const { output, at } = (event as AttemptDone).output;
            enqueue.assign({ output, endedAt: at, deadline: undefined, requestId: undefined });
            enqueue.sendParent(settled(context, 'succeeded', context.stepId, at));
          }),
        },
        onError: [
          {
            // The process died during the attempt; a read-only action just runs again (the
            // crash counts as an attempt).
            guard: 'wasInterruptedIdempotent',
            target: 'running',
            reenter: true,
            actions: assign(({ context, event }) => ({
              ...beginAttempt(context, toStepError(event.error, lastAt(context)).at),
              crashes: (context.crashes ?? 0) + 1,
            })),
          },
          {
            // ...anything else, or an idempotent step out of attempts, waits for a human:
            // rerun, skip or fail.
            guard: 'wasInterrupted',
            target: 'awaitingConfirmation',
            actions: assign(({ context }) => {
              const crashes = (context.crashes ?? 0) + 1;
              return {
                crashes,
                reason: crashReason(context, crashes),
                deadline: undefined,
                requestId: undefined,
              };
            }),
          },
          {
            guard: 'canRetry',
            target: 'retrying',
            actions: assign(({ context, event }) => {
              const error = toStepError(event.error, lastAt(context));
              return {
                error,
                retryAt: error.at + backoffMs(context.step, context.attempt),
                deadline: undefined,
                requestId: undefined,
              };
            }),
          },
          {
            target: 'failed',
            actions: enqueueActions(({ enqueue, context, event }) => {
              const error = toStepError(event.error, lastAt(context));
              enqueue.assign({ error, endedAt: error.at, deadline: undefined, requestId: undefined });
              enqueue.sendParent(settled(context, 'failed', context.stepId, error.at));
            }),
          },
        ],
      },
      initial: 'active',
      states: {
        active: {
          on: {
            'input.requested': {
              target: 'awaitingInput',
              actions: assign({ requestId: ({ event }) => event.requestId }),
            },
          },
        },
        awaitingInput: {
          on: {
            'input.answered': {
              guard: 'answersOpenRequest',
              target: 'active',
              actions: assign({ requestId: undefined }),
            },
          },
        },
      },
      on: {
        'step.control': [
          {
            guard: 'isControlInterrupt',
            target: 'interrupted',
            actions: assign({
              reason: ({ event }) => `interrupted by ${event.by ?? 'a human'}`,
              deadline: undefined,
              requestId: undefined,
            }),
          },
          { guard: 'isControlCancel', target: 'cancelled', actions: 'settleCancelled' },
        ],
        'step.cancel': { target: 'cancelled', actions: 'cancelWithRun' },
      },
    },
    retrying: {
      invoke: {
        id: 'backoff',
        src: 'waitUntil',
        input: ({ context }) => ({ until: context.retryAt ?? 0 }),
        onDone: {
          target: 'running',
          actions: assign(({ context, event }) => beginAttempt(context, (event as BackoffDone).output.at)),
        },
      },
      on: {
        'step.control': [
          {
            guard: 'isControlRetry',
            target: 'running',
            actions: assign(({ context, event }) => beginAttempt(context, event.at)),
          },
          { guard: 'isControlCancel', target: 'cancelled', actions: 'settleCancelled' },
        ],
        'step.cancel': { target: 'cancelled', actions: 'cancelWithRun' },
      },
    },
    interrupted: {
      on: {
        'step.control': [
          {
            guard: 'isControlResume',
            target: 'running',
            actions: assign(({ context, event }) => beginAttempt(context, event.at)),
          },
          { guard: 'isControlCancel', target: 'cancelled', actions: 'settleCancelled' },
        ],
        'step.cancel': { target: 'cancelled', actions: 'cancelWithRun' },
      },
    },
    succeeded: {
      on: { 'step.query': { actions: { type: 'reportStatus', params: { state: 'succeeded' } } } },
    },
    failed: {
      on: {
        'step.control': {
          guard: 'isControlRetryOfOriginal',
          target: 'pending',
          actions: { type: 'reviveForRetry', params: { from: 'failed' } },
        },
        'step.superseded': {
          actions: assign({
            replacedBy: ({ event }) => event.by,
            reason: ({ event }) => `replaced by ${event.by}`,
          }),
        },
        'step.query': { actions: { type: 'reportStatus', params: { state: 'failed' } } },
      },
    },
    skipped: {
      on: {
        'dependency.failed': {
          actions: assign({
            skippedBy: ({ context, event }) =>
              context.skippedBy?.includes(event.root)
                ? context.skippedBy
                : [...(context.skippedBy ?? []), event.root],
          }),
        },
        'dependency.revived': [
          {
            guard: 'isLastSkipRoot',
            target: 'pending',
            actions: enqueueActions(({ enqueue, context, event }) => {
              enqueue.assign({ skippedBy: undefined, reason: undefined, endedAt: undefined });
              enqueue.sendParent({
                type: 'step.revived',
                stepId: context.stepId,
                from: 'skipped',
                at: event.at,
              } as StepNotice);
              if (context.waitingOn.length === 0) {
                enqueue.sendParent({
                  type: 'step.ready',
                  stepId: context.stepId,
                  at: event.at,
                } as StepNotice);
              }
            }),
          },
          {
            actions: assign({
              skippedBy: ({ context, event }) => (context.skippedBy ?? []).filter((id) => id !== event.root),
            }),
          },
        ],
        'step.query': { actions: { type: 'reportStatus', params: { state: 'skipped' } } },
      },
    },
    cancelled: {
      on: {
        'step.control': {
          guard: 'isControlRetry',
          target: 'pending',
          actions: { type: 'reviveForRetry', params: { from: 'cancelled' } },
        },
        'step.query': { actions: { type: 'reportStatus', params: { state: 'cancelled' } } },
      },
    },
  },
  on: {
    'dependency.succeeded': [
      { guard: 'isGranted', actions: ['removeDependency', 'declineGrant'] },
      { actions: 'removeDependency' },
    ],
    'dependency.replaced': { actions: 'rewireDependency' },
  },
});
