/**
 * One run. `queued` until the supervisor grants a run slot, `planning` (the model writes the
 * plan) when no plan was given, `awaitingApproval` when a human must approve it, then
 * `running`: one step actor per plan step, started as their dependencies succeed, at most
 * `stepsPerRun` at a time. A failed step sends the run to `replanning` while replans remain
 * (the new steps are spliced in; one may replace the failed step), otherwise its transitive
 * dependents are skipped. `paused` holds the run when its budget is spent.
 *
 * The task never scans its steps: steps report to it (`step.ready`, `step.settled`, ...)
 * and it keeps counts, a ready queue and the ids holding a slot, so a transition costs the
 * same whatever the size of the plan.
 */
import { and, assign, type DoneActorEvent, enqueueActions, fromPromise, not, setup } from 'xstate';
import { dependentsIndex, planPositions, transitiveDependents } from '../src/model/graph.js';
import {
  type ApproveReplans,
  needsConfirmation,
  type Plan,
  replanNeedsApproval,
  type Step,
} from '../src/model/plan.js';
import { type SpliceResult, spliceSteps } from '../src/model/splice.js';
import type { Budget, BudgetExhaustion } from '../src/model/budget.js';
import type { Tier } from '../src/model/tier.js';
import type {
  PlanRunInput,
  PlanRunOutput,
  ReplanRunInput,
  ReplanRunOutput,
  StepEvent,
  TaskEvent,
  TaskInput,
} from './protocol.js';
import { createStepPool } from './step-pool.js';
import { stepMachine } from './step.machine.js';

export interface StepCounts {
  readonly succeeded: number;
  readonly failed: number;
  readonly skipped: number;
  readonly cancelled: number;
  /** Failed steps a replanned step took the place of (also counted in `failed`). */
  readonly replaced: number;
}

export interface TaskContext {
  readonly runId: string;
  readonly goal: string;
  readonly plan?: Plan;
  /** Bumped by every splice; the runtime stores each version once. */
  readonly planVersion: number;
  /** Whether the plan's step actors exist (from the first `running` on). */
  readonly stepsSpawned: boolean;
  readonly requireApproval: boolean;
  /** `'auto'`: a replan waits for approval when it adds a step above the `read` tier. */
  readonly approveReplans: ApproveReplans;
  readonly maxReplans: number;
  /** Replan rounds started so far. */
  readonly replans: number;
  readonly stepsPerRun: number;
  readonly confirmTiers: readonly Tier[];
  /** Steps whose dependencies succeeded, waiting for a slot, in the order they became ready. */
  readonly ready: readonly string[];
  /** Steps holding a run slot (started and not settled). */
  readonly started: readonly string[];
  readonly counts: StepCounts;
  /** Failed steps waiting for a replan round. */
  readonly failures: readonly string[];
  /** Failed steps the replan in flight (or its proposal) is repairing. */
  readonly repairing: readonly string[];
  /** Replanned steps waiting for approval (with `approveReplans`). */
  readonly proposal?: readonly Step[];
  /** Why the run is waiting, paused, cancelled or failed. */
  readonly reason?: string;
  /** The run's limits; `extendBudget` merges new ones in. */
  readonly budget: Budget;
  /**
   * Step starts under a `maxSteps` limit: each time the run gives a step a slot (a step a
   * human retries counts again; its own automatic retries do not).
   */
  readonly stepsStarted: number;
  /** The limit that paused the run, while it is paused. */
  readonly exhausted?: BudgetExhaustion;
}

/** The id of the task's step pool (see step-pool.ts): every step is reached through it. */
export const STEPS = 'steps';

/** A message for one step, routed by the pool. */
function deliver(to: string, event: StepEvent) {
  return { type: 'pool.deliver', to, event } as const;
}

const NO_COUNTS: StepCounts = { succeeded: 0, failed: 0, skipped: 0, cancelled: 0, replaced: 0 };

type PlanDone = DoneActorEvent<PlanRunOutput, 'plan'>;
type ReplanDone = DoneActorEvent<ReplanRunOutput, 'replan'>;

function notProvided(key: string): never {
  throw new Error(
    `The "${key}" actor is provided by the taskvisor runtime; use taskMachine.provide({ actors: { ${key} } }) to run the machine on its own.`,
  );
}

/** The time an event happened (every event the machines receive carries one). */
function eventAt(event: unknown): number {
  const record = event as { at?: unknown; output?: { at?: unknown }; command?: { at?: unknown } };
  if (typeof record.at === 'number') return record.at;
  if (typeof record.output?.at === 'number') return record.output.at;
  if (typeof record.command?.at === 'number') return record.command.at;
  return 0;
}

/** How many more steps the run's `maxSteps` lets start. */
function stepRoom(context: TaskContext): number {
  const max = context.budget.maxSteps;
  return max === undefined ? Number.POSITIVE_INFINITY : Math.max(0, max - context.stepsStarted);
}

/** Step starts are counted only under a `maxSteps` limit (a count nobody reads would only grow). */
function counted(context: TaskContext, starts: number): number {
  return context.budget.maxSteps === undefined ? context.stepsStarted : context.stepsStarted + starts;
}

function settledCount(counts: StepCounts): number {
  return counts.succeeded + counts.failed + counts.skipped + counts.cancelled;
}

function stepInput(context: TaskContext, step: Step) {
  return {
    runId: context.runId,
    step,
    waitingOn: step.dependsOn,
    needsConfirmation: needsConfirmation(step.tier, context.confirmTiers),
  };
}

const spliceCache = new WeakMap<object, SpliceResult | Error>();

/** Splices a replan's steps once per done event (the guard and the action share the result). */
function spliceOf(context: TaskContext, event: ReplanDone): SpliceResult | Error {
  const cached = spliceCache.get(event);
  if (cached) return cached;
  let result: SpliceResult | Error;
  try {
    if (!context.plan) throw new Error('there is no plan to splice into');
    result = spliceSteps(context.plan, event.output.steps, { replaceable: context.repairing });
  } catch (error) {
    result = error instanceof Error ? error : new Error(String(error));
  }
  spliceCache.set(event, result);
  return result;
}

export const taskMachine = setup({
  types: {
    context: {} as TaskContext,
    events: {} as TaskEvent,
    input: {} as TaskInput,
  },
  actors: {
    stepPool: createStepPool(stepMachine),
    planRun: fromPromise<PlanRunOutput, PlanRunInput>(() => notProvided('planRun')),
    replanRun: fromPromise<ReplanRunOutput, ReplanRunInput>(() => notProvided('replanRun')),
  },
  guards: {
    hasPlan: ({ context }) => context.plan !== undefined,
    needsApproval: ({ context }) => context.requireApproval,
    needsReplanApproval: ({ context, event }) =>
      replanNeedsApproval(context.approveReplans, (event as unknown as ReplanDone).output.steps),
    hasProposal: ({ context }) => context.proposal !== undefined,
    isRepairing: ({ context }) => context.repairing.length > 0,
    isReplannableFailure: ({ context, event }) =>
      event.type === 'step.settled' && event.state === 'failed' && context.replans < context.maxReplans,
    shouldReplan: ({ context }) => context.failures.length > 0 && context.replans < context.maxReplans,
    replanFits: ({ context, event }) => !(spliceOf(context, event as unknown as ReplanDone) instanceof Error),
    allSucceeded: ({ context }) =>
      context.stepsSpawned &&
      context.plan !== undefined &&
      context.counts.succeeded + context.counts.replaced === context.plan.steps.length,
    allSettled: ({ context }) =>
      context.stepsSpawned &&
      context.plan !== undefined &&
      context.failures.length === 0 &&
      context.repairing.length === 0 &&
      settledCount(context.counts) === context.plan.steps.length,
    stepBudgetSpent: ({ context }) => context.ready.length > 0 && stepRoom(context) === 0,
    isCommandForKnownStep: ({ context, event }) =>
      event.type === 'step.command' &&
      context.stepsSpawned &&
      context.plan?.steps.some((step) => step.id === event.stepId) === true &&
      // A failed step that a replan is repairing cannot be retried meanwhile.
      !(
        event.command.type === 'step.control' &&
        event.command.action === 'retry' &&
        context.repairing.includes(event.stepId)
      ),
  },
  actions: {
    spawnSteps: assign(({ context, spawn }) => {
      const steps = context.plan?.steps ?? [];
      spawn('stepPool', { id: STEPS, input: { steps: steps.map((step) => stepInput(context, step)) } });
      return {
        stepsSpawned: true,
        ready: steps.filter((step) => step.dependsOn.length === 0).map((step) => step.id),
      };
    }),
    startReady: enqueueActions(({ context, event, enqueue }) => {
      const free = Math.min(context.stepsPerRun - context.started.length, stepRoom(context));
      if (free <= 0 || context.ready.length === 0) return;
      const starting = context.ready.slice(0, free);
      enqueue.assign({
        ready: context.ready.slice(starting.length),
        started: [...context.started, ...starting],
        stepsStarted: counted(context, starting.length),
      });
      const at = eventAt(event);
      for (const id of starting)
        enqueue.sendTo(STEPS, deliver(id, { type: 'step.start', at } satisfies StepEvent));
    }),
    enqueueReady: assign({
      ready: ({ context, event }) =>
        event.type === 'step.ready' ? [...context.ready, event.stepId] : context.ready,
    }),
    recordSettled: assign(({ context, event }) => {
      if (event.type !== 'step.settled') return {};
      return {
        counts: { ...context.counts, [event.state]: context.counts[event.state] + 1 },
        started: context.started.filter((id) => id !== event.stepId),
        ready: context.ready.includes(event.stepId)
          ? context.ready.filter((id) => id !== event.stepId)
          : context.ready,
      };
    }),
    releaseSlot: assign(({ context, event }) =>
      event.type === 'step.declined'
        ? {
            started: context.started.filter((id) => id !== event.stepId),
            stepsStarted: counted(context, -1),
          }
        : {},
    ),
    queueFailure: assign({
      failures: ({ context, event }) =>
        event.type === 'step.settled' ? [...context.failures, event.stepId] : context.failures,
    }),
    /**
     * What a settled step means for the others: dependents go ahead, or are skipped. While
     * running, a dependent whose only dependency this was is ready now: it gets a free slot
     * with the news (reserved here) and starts without a round trip.
     */
    propagateSettlement: enqueueActions(({ context, event, enqueue }, params: { grant: boolean }) => {
      if (event.type !== 'step.settled' || !context.plan) return;
      const steps = context.plan.steps;
      if (event.state === 'succeeded') {
        let free = params.grant
          ? Math.min(context.stepsPerRun - context.started.length, stepRoom(context))
          : 0;
        const granted: string[] = [];
        const positions = planPositions(steps);
        for (const dependent of dependentsIndex(steps).get(event.stepId) ?? []) {
          const grant = free > 0 && steps[positions.get(dependent) ?? -1]?.dependsOn.length === 1;
          if (grant) {
            free -= 1;
            granted.push(dependent);
          }
          enqueue.sendTo(
            STEPS,
            deliver(dependent, {
              type: 'dependency.succeeded',
              id: event.stepId,
              at: event.at,
              ...(grant ? { grant } : {}),
            }),
          );
        }
        if (granted.length > 0) {
          enqueue.assign({
            started: [...context.started, ...granted],
            stepsStarted: counted(context, granted.length),
          });
        }
        return;
      }
      // A skip caused by another step was already propagated from that step.
      if (event.state === 'skipped' && event.root !== event.stepId) return;
      for (const dependent of transitiveDependents(steps, event.stepId)) {
        enqueue.sendTo(
          STEPS,
          deliver(dependent, { type: 'dependency.failed', root: event.stepId, at: event.at }),
        );
      }
    }),
    /**
     * A settled step is pending again (a human retried it, or the step whose failure
     * skipped it). Its dependencies may have settled meanwhile, so it asks them (their
     * answers arrive as `step.status`), and a retried step revives what it skipped.
     */
    recordRevival: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'step.revived' || !context.plan) return;
      const steps = context.plan.steps;
      enqueue.assign({
        counts: { ...context.counts, [event.from]: context.counts[event.from] - 1 },
        failures: context.failures.filter((id) => id !== event.stepId),
      });
      const step = steps[planPositions(steps).get(event.stepId) ?? -1];
      for (const dependency of step?.dependsOn ?? []) {
        enqueue.sendTo(STEPS, deliver(dependency, { type: 'step.query', to: event.stepId, at: event.at }));
      }
      if (event.from === 'skipped') return;
      for (const dependent of transitiveDependents(steps, event.stepId)) {
        enqueue.sendTo(
          STEPS,
          deliver(dependent, { type: 'dependency.revived', root: event.stepId, at: event.at }),
        );
      }
    }),
    /** A dependency of a replanned step answered: pass the news on. */
    forwardStatus: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'step.status' || !context.plan) return;
      if (event.state === 'succeeded') {
        enqueue.sendTo(
          STEPS,
          deliver(event.to, { type: 'dependency.succeeded', id: event.stepId, at: event.at }),
        );
        return;
      }
      for (const id of [event.to, ...transitiveDependents(context.plan.steps, event.to)]) {
        enqueue.sendTo(STEPS, deliver(id, { type: 'dependency.failed', root: event.stepId, at: event.at }));
      }
    }),
    forwardCommand: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'step.command') return;
      enqueue.sendTo(STEPS, deliver(event.stepId, event.command));
    }),
    beginReplan: assign(({ context }) => ({
      repairing: context.failures,
      failures: [],
      replans: context.replans + 1,
      reason: `replanning after ${context.failures.join(', ')} failed`,
    })),
    /** The replan failed or was rejected: the failed steps' dependents are skipped. */
    abandonRepair: enqueueActions(({ context, event, enqueue }, params: { reason: string }) => {
      const at = eventAt(event);
      if (context.plan) {
        for (const failed of context.repairing) {
          for (const dependent of transitiveDependents(context.plan.steps, failed)) {
            enqueue.sendTo(STEPS, deliver(dependent, { type: 'dependency.failed', root: failed, at }));
          }
        }
      }
      enqueue.assign({ repairing: [], proposal: undefined, reason: params.reason });
    }),
    proposeReplan: assign({
      proposal: ({ event }) => (event as unknown as ReplanDone).output.steps,
      reason: 'replanned steps wait for approval',
    }),
    /** Splices the replanned steps in and wires them to the steps already there. */
    applyReplan: enqueueActions(({ context, event, enqueue }) => {
      const at = eventAt(event);
      const steps =
        event.type === 'plan.approved'
          ? (context.proposal ?? [])
          : (event as unknown as ReplanDone).output.steps;
      const result = context.plan
        ? spliceSteps(context.plan, steps, { replaceable: context.repairing })
        : new Error('no plan');
      if (result instanceof Error) return;
      const added = new Set(result.added);
      const addedSteps = result.plan.steps.filter((step) => added.has(step.id));
      const replacedIds = new Set(result.replaced.map((entry) => entry.failed));
      enqueue.assign({
        plan: result.plan,
        planVersion: context.planVersion + 1,
        repairing: [],
        proposal: undefined,
        reason: undefined,
        counts: { ...context.counts, replaced: context.counts.replaced + result.replaced.length },
        ready: [
          ...context.ready,
          ...addedSteps.filter((step) => step.dependsOn.length === 0).map((step) => step.id),
        ],
      });
      enqueue.sendTo(STEPS, { type: 'pool.add', steps: addedSteps.map((step) => stepInput(context, step)) });
      for (const { failed, by } of result.replaced)
        enqueue.sendTo(STEPS, deliver(failed, { type: 'step.superseded', by }));
      for (const { stepId, from, to } of result.rewired) {
        enqueue.sendTo(STEPS, deliver(stepId, { type: 'dependency.replaced', from, to }));
      }
      for (const failed of context.repairing) {
        if (replacedIds.has(failed)) continue;
        for (const dependent of transitiveDependents(result.plan.steps, failed)) {
          enqueue.sendTo(STEPS, deliver(dependent, { type: 'dependency.failed', root: failed, at }));
        }
      }
      for (const step of addedSteps) {
        for (const dependency of step.dependsOn) {
          if (!added.has(dependency))
            enqueue.sendTo(STEPS, deliver(dependency, { type: 'step.query', to: step.id, at }));
        }
      }
    }),
    exhaust: assign(({ event }) => {
      if (event.type !== 'budget.exhausted') return {};
      return {
        reason: event.detail,
        exhausted: { limit: event.limit ?? 'maxCostUsd', detail: event.detail },
      };
    }),
    exhaustSteps: assign(({ context }) => {
      const detail = `budget: maxSteps ${context.budget.maxSteps} reached (${context.stepsStarted} steps started, ${context.ready.length} ready)`;
      return { reason: detail, exhausted: { limit: 'maxSteps' as const, detail } };
    }),
    extendBudget: assign(({ context, event }) =>
      event.type === 'budget.extended'
        ? { budget: { ...context.budget, ...event.budget }, exhausted: undefined, reason: undefined }
        : {},
    ),
    cancelSteps: enqueueActions(({ context, event, enqueue }) => {
      if (!context.stepsSpawned || !context.plan) return;
      const reason = event.type === 'run.cancel' ? (event.reason ?? 'run cancelled') : 'run cancelled';
      const at = eventAt(event);
      for (const step of context.plan.steps) {
        enqueue.sendTo(
          STEPS,
          deliver(step.id, { type: 'step.cancel', reason: `run cancelled: ${reason}`, at }),
        );
      }
    }),
  },
}).createMachine({
  id: 'task',
  context: ({ input }) => ({
    runId: input.runId,
    goal: input.goal,
    ...(input.plan ? { plan: input.plan } : {}),
    planVersion: input.plan ? 1 : 0,
    stepsSpawned: false,
    requireApproval: input.requireApproval,
    approveReplans: input.approveReplans,
    maxReplans: input.maxReplans,
    replans: 0,
    stepsPerRun: input.stepsPerRun,
    confirmTiers: input.confirmTiers,
    ready: [],
    started: [],
    counts: NO_COUNTS,
    failures: [],
    repairing: [],
    budget: input.budget ?? {},
    stepsStarted: 0,
  }),
  initial: 'queued',
  states: {
    queued: {
      on: {
        'run.admitted': [
          {
            guard: and(['hasPlan', 'needsApproval']),
            target: 'awaitingApproval',
            actions: assign({ reason: 'plan waits for approval' }),
          },
          { guard: 'hasPlan', target: 'running', actions: ['spawnSteps', 'startReady'] },
          { target: 'planning' },
        ],
      },
    },
    planning: {
      invoke: {
        id: 'plan',
        src: 'planRun',
        input: ({ context }) => ({ runId: context.runId, goal: context.goal }),
        onDone: [
          {
            guard: 'needsApproval',
            target: 'awaitingApproval',
            actions: assign({
              plan: ({ event }) => (event as PlanDone).output.plan,
              planVersion: 1,
              reason: 'plan waits for approval',
            }),
          },
          {
            target: 'running',
            actions: [
              assign({ plan: ({ event }) => (event as PlanDone).output.plan, planVersion: 1 }),
              'spawnSteps',
              'startReady',
            ],
          },
        ],
        onError: {
          target: 'failed',
          actions: assign({ reason: ({ event }) => `planning failed: ${errorMessage(event.error)}` }),
        },
      },
      on: {
        'budget.exhausted': { target: 'paused', actions: 'exhaust' },
      },
    },
    awaitingApproval: {
      on: {
        'plan.approved': [
          {
            guard: 'hasProposal',
            target: 'running',
            actions: ['applyReplan', 'startReady'],
          },
          { target: 'running', actions: [assign({ reason: undefined }), 'spawnSteps', 'startReady'] },
        ],
        'plan.rejected': [
          {
            guard: 'hasProposal',
            target: 'running',
            actions: [
              {
                type: 'abandonRepair',
                params: ({ event }) => ({ reason: `replan rejected: ${event.reason}` }),
              },
              'startReady',
            ],
          },
          {
            target: 'cancelled',
            actions: assign({ reason: ({ event }) => `plan rejected: ${event.reason}` }),
          },
        ],
      },
    },
    running: {
      always: [
        { guard: 'shouldReplan', target: 'replanning', actions: 'beginReplan' },
        { guard: 'stepBudgetSpent', target: 'paused', actions: 'exhaustSteps' },
        { guard: 'allSucceeded', target: 'completed', actions: assign({ reason: undefined }) },
        {
          guard: 'allSettled',
          target: 'failed',
          actions: assign({ reason: 'not every step succeeded' }),
        },
      ],
      on: {
        'run.resumed': { actions: 'startReady' },
        'step.ready': { actions: ['enqueueReady', 'startReady'] },
        'step.settled': [
          { guard: 'isReplannableFailure', actions: ['recordSettled', 'queueFailure', 'startReady'] },
          {
            actions: [
              'recordSettled',
              { type: 'propagateSettlement', params: { grant: true } },
              'startReady',
            ],
          },
        ],
        // Grants are only given while running, and the step answers at once.
        'step.declined': { actions: ['releaseSlot', 'startReady'] },
        'budget.exhausted': { target: 'paused', actions: 'exhaust' },
      },
    },
    replanning: {
      invoke: {
        id: 'replan',
        src: 'replanRun',
        input: ({ context }) => ({
          runId: context.runId,
          goal: context.goal,
          planVersion: context.planVersion,
          failed: context.repairing,
          attempt: context.replans,
        }),
        onDone: [
          {
            guard: and(['replanFits', 'needsReplanApproval']),
            target: 'awaitingApproval',
            actions: 'proposeReplan',
          },
          { guard: 'replanFits', target: 'running', actions: ['applyReplan', 'startReady'] },
          {
            target: 'running',
            actions: [
              {
                type: 'abandonRepair',
                params: ({ context, event }) => ({
                  reason: `replan did not fit: ${errorMessage(spliceOf(context, event as unknown as ReplanDone))}`,
                }),
              },
              'startReady',
            ],
          },
        ],
        onError: {
          target: 'running',
          actions: [
            {
              type: 'abandonRepair',
              params: ({ event }) => ({ reason: `replan failed: ${errorMessage(event.error)}` }),
            },
            'startReady',
          ],
        },
      },
      on: {
        'budget.exhausted': { target: 'paused', actions: 'exhaust' },
      },
    },
    paused: {
      on: {
        'budget.extended': [
          { guard: not('hasPlan'), target: 'planning', actions: 'extendBudget' },
          { guard: 'isRepairing', target: 'replanning', actions: 'extendBudget' },
          { target: 'running', actions: ['extendBudget', 'startReady'] },
        ],
      },
    },
    completed: { type: 'final' },
    failed: { type: 'final' },
    cancelled: { type: 'final' },
  },
  on: {
    'run.cancel': {
      target: '.cancelled',
      actions: [
        'cancelSteps',
        assign({
          reason: ({ event }) =>
            `cancelled${event.by ? ` by ${event.by}` : ''}${event.reason ? `: ${event.reason}` : ''}`,
        }),
      ],
    },
    'step.command': { guard: 'isCommandForKnownStep', actions: 'forwardCommand' },
    // What steps report is recorded in every phase; only `running` also starts more steps.
    'step.ready': { actions: 'enqueueReady' },
    'step.settled': [
      { guard: 'isReplannableFailure', actions: ['recordSettled', 'queueFailure'] },
      { actions: ['recordSettled', { type: 'propagateSettlement', params: { grant: false } }] },
    ],
    'step.revived': { actions: 'recordRevival' },
    // New limits outside a pause only change the limits.
    'budget.extended': { actions: 'extendBudget' },
    'step.status': { actions: 'forwardStatus' },
  },
});

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
    return (error as { message: string }).message;
  }
  return String(error);
}
