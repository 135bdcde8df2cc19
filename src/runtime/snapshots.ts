/**
 * What the runtime reads from actor snapshots, and how it persists and restores them.
 *
 * Each actor gets its own row. A task's row leaves out what would make it grow with the
 * plan: its step pool (each step has its own row), the plan (stored once per version)
 * and the ready queue (rebuilt from the steps). So a transition writes a few small rows
 * whatever the size of the plan.
 */
import type { AnyActor, AnyActorRef, AnyMachineSnapshot } from 'xstate';
import type { PersistedStepPool } from '../../machines/step-pool.js';
import type { StepContext } from '../../machines/step.machine.js';
import { STEPS, type TaskContext } from '../../machines/task.machine.js';
import { describeAction } from '../model/action-description.js';
import type { BudgetExhaustion } from '../model/budget.js';
import type { StepOutline, UnsequencedEvent } from '../model/events.js';
import type { Json } from '../model/json.js';
import type { Plan, Step } from '../model/plan.js';
import type { RunPhase, StepState } from '../model/states.js';
import type { ActorRow } from '../store/rows.js';

export type ActorKind = 'task' | 'step';

/** The flat API name of a step's state (`{ running: 'awaitingInput' }` → `awaitingInput`). */
export function stepStateOf(value: unknown): StepState {
  if (typeof value === 'string') return value as StepState;
  const running = (value as { running?: string } | undefined)?.running;
  return running === 'awaitingInput' ? 'awaitingInput' : 'running';
}

export function phaseOf(value: unknown): RunPhase {
  return value as RunPhase;
}

/** What the runtime compares between two snapshots of one actor. */
export type ActorFacts =
  | {
      readonly kind: 'task';
      readonly runId: string;
      readonly actorId: 'task';
      readonly state: RunPhase;
      readonly reason?: string;
      readonly planVersion: number;
      readonly plan?: Plan;
      readonly replans: number;
      readonly exhausted?: BudgetExhaustion;
      /** Replanned steps waiting for approval. */
      readonly proposal?: readonly Step[];
    }
  | {
      readonly kind: 'step';
      readonly runId: string;
      readonly actorId: string;
      readonly state: StepState;
      readonly attempt: number;
      readonly reason?: string;
      readonly error?: { readonly message: string; readonly code?: string };
      readonly output?: Json;
    };

export function factsOf(kind: ActorKind, snapshot: AnyMachineSnapshot): ActorFacts {
  if (kind === 'task') {
    const context = snapshot.context as TaskContext;
    return {
      kind,
      runId: context.runId,
      actorId: 'task',
      state: phaseOf(snapshot.value),
      ...(context.reason === undefined ? {} : { reason: context.reason }),
      planVersion: context.planVersion,
      ...(context.plan ? { plan: context.plan } : {}),
      replans: context.replans,
      ...(context.exhausted ? { exhausted: context.exhausted } : {}),
      ...(context.proposal ? { proposal: context.proposal } : {}),
    };
  }
  const context = snapshot.context as StepContext;
  return {
    kind,
    runId: context.runId,
    actorId: context.stepId,
    state: stepStateOf(snapshot.value),
    attempt: context.attempt,
    ...(context.reason === undefined ? {} : { reason: context.reason }),
    ...(context.error === undefined
      ? {}
      : {
          error: {
            message: context.error.message,
            ...(context.error.code ? { code: context.error.code } : {}),
          },
        }),
    ...(context.output === undefined ? {} : { output: context.output }),
  };
}

export function stepOutline(step: Step): StepOutline {
  return {
    id: step.id,
    title: step.title,
    kind: step.action.kind,
    tier: step.tier,
    dependsOn: [...step.dependsOn],
    ...(step.replaces === undefined ? {} : { replaces: step.replaces }),
    action: describeAction(step.action),
  };
}

/**
 * The events one actor's change of snapshot means, in order: exactly one transition
 * event when its state (or, for a step, its attempt) changed, then what the change
 * tells: a step's output, a wait for a human, a plan's first or replanned version.
 */
export function deriveEvents(
  previous: ActorFacts | undefined,
  next: ActorFacts,
  at: number,
): UnsequencedEvent[] {
  if (!previous) return [];
  const events: UnsequencedEvent[] = [];
  const runId = next.runId;
  if (next.kind === 'task' && previous.kind === 'task') {
    if (next.planVersion > previous.planVersion && next.plan) {
      if (previous.planVersion === 0) {
        events.push({ type: 'plan.created', at, runId, steps: next.plan.steps.map(stepOutline) });
      } else {
        events.push(replanEvent(previous.plan, next.plan, next.replans, runId, at));
      }
    }
    if (previous.state !== next.state) {
      events.push({
        type: 'run.transition',
        at,
        runId,
        from: previous.state,
        to: next.state,
        ...(next.reason === undefined ? {} : { reason: next.reason }),
      });
      if (next.state === 'awaitingApproval') {
        events.push({
          type: 'approval.requested',
          at,
          runId,
          kind: 'plan',
          reason: next.reason ?? 'plan waits for approval',
          ...(next.proposal ? { proposal: next.proposal.map(stepOutline) } : {}),
        });
      }
      if (next.state === 'paused' && next.exhausted) {
        const { limit, detail } = next.exhausted;
        events.push({ type: 'budget.exceeded', at, runId, limit, detail });
        events.push({ type: 'approval.requested', at, runId, kind: 'budget', reason: detail });
      }
    }
    return events;
  }
  if (next.kind !== 'step' || previous.kind !== 'step') return events;
  if (previous.state === next.state && previous.attempt === next.attempt) return events;
  const stepId = next.actorId;
  const showsError = next.state === 'failed' || next.state === 'retrying';
  events.push({
    type: 'step.transition',
    at,
    runId,
    stepId,
    from: previous.state,
    to: next.state,
    attempt: next.attempt,
    ...(next.reason === undefined ? {} : { reason: next.reason }),
    ...(showsError && next.error ? { error: next.error } : {}),
  });
  if (next.state === 'succeeded' && previous.state !== 'succeeded') {
    events.push({
      type: 'step.output',
      at,
      runId,
      stepId,
      attempt: next.attempt,
      output: next.output ?? null,
    });
  }
  if (next.state === 'awaitingConfirmation' && previous.state !== 'awaitingConfirmation') {
    events.push({
      type: 'approval.requested',
      at,
      runId,
      stepId,
      kind: 'step',
      reason: next.reason ?? 'needs confirmation',
    });
  }
  return events;
}

function replanEvent(
  before: Plan | undefined,
  after: Plan,
  attempt: number,
  runId: string,
  at: number,
): UnsequencedEvent {
  const old = new Map((before?.steps ?? []).map((step) => [step.id, step]));
  const added = after.steps.filter((step) => !old.has(step.id));
  const rewired: Array<{ stepId: string; from: string; to: string }> = [];
  for (const step of after.steps) {
    const previous = old.get(step.id);
    if (!previous) continue;
    previous.dependsOn.forEach((from, index) => {
      const to = step.dependsOn[index];
      if (to !== undefined && to !== from) rewired.push({ stepId: step.id, from, to });
    });
  }
  return {
    type: 'replan.applied',
    at,
    runId,
    attempt: Math.max(1, attempt),
    added: added.map((step) => step.id),
    steps: added.map(stepOutline),
    replaced: added
      .filter((step) => step.replaces !== undefined)
      .map((step) => ({ failed: step.replaces!, by: step.id })),
    rewired,
  };
}

/**
 * A task's own row: XState's persisted snapshot without its step children, its plan
 * and its ready queue (see the module comment).
 */
export function persistTask(actor: AnyActor, snapshot: AnyMachineSnapshot): unknown {
  const { plan: _plan, ready: _ready, ...context } = snapshot.context as TaskContext;
  // Only its invoked actors (planning, replanning): the step pool is rebuilt from the step rows.
  const children: Record<string, AnyActorRef> = {};
  for (const [id, child] of Object.entries(snapshot.children as Record<string, AnyActorRef>)) {
    if (id !== STEPS) children[id] = child;
  }
  return actor.logic.getPersistedSnapshot({ ...snapshot, context, children });
}

/**
 * A step's own row: XState's persisted snapshot without the step's definition (stored
 * once, in the plan), without its output (stored once, beside the row) and without its
 * attempt's or backoff's input (rebuilt from the step's context); `restoreStep` puts
 * them back.
 */
export function persistStep(actor: AnyActor, snapshot: AnyMachineSnapshot): unknown {
  const { step: _step, output: _output, ...context } = snapshot.context as StepContext;
  const persisted = actor.logic.getPersistedSnapshot({ ...snapshot, context }) as PersistedMachine;
  const children: Record<string, unknown> = {};
  for (const [id, child] of Object.entries(persisted.children as Record<string, { snapshot: object }>)) {
    children[id] = { ...child, snapshot: { ...child.snapshot, input: undefined } };
  }
  return { ...persisted, children };
}

/** The inverse of `persistStep`, given the step's definition from the plan. */
export function restoreStep(row: ActorRow, step: Step): unknown {
  const persisted = row.snapshot as PersistedMachine;
  // Rows written before outputs were stored once keep the output in their context.
  const context = {
    ...(persisted.context as unknown as Omit<StepContext, 'step'>),
    ...(row.output === undefined ? {} : { output: row.output }),
    step,
  } as StepContext;
  const inputs: Record<string, unknown> = {
    attempt: {
      runId: context.runId,
      stepId: context.stepId,
      step,
      attempt: context.attempt,
      idempotencyKey: `${context.runId}/${context.stepId}`,
      ...(context.deadline === undefined ? {} : { deadline: context.deadline }),
    },
    backoff: { until: context.retryAt ?? 0 },
  };
  const children: Record<string, unknown> = {};
  for (const [id, child] of Object.entries(persisted.children as Record<string, { snapshot: object }>)) {
    children[id] = { ...child, snapshot: { ...child.snapshot, input: inputs[id] } };
  }
  return { ...persisted, context, children };
}

interface PersistedMachine {
  value: unknown;
  status: string;
  context: Record<string, unknown>;
  children: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * Rebuilds XState's persisted snapshot of a task from its row, its plan and its steps'
 * rows, ready for `createActor(..., { snapshot })` (or the supervisor's `run.adopt`).
 */
export function assembleTask(
  taskRow: ActorRow,
  plan: Plan | undefined,
  stepRows: readonly ActorRow[],
): unknown {
  const task = structuredClone(taskRow.snapshot) as PersistedMachine;
  const context = task.context as unknown as Omit<TaskContext, 'plan' | 'ready'>;
  const byId = new Map(stepRows.map((row) => [row.actorId, row]));
  const children: Record<string, unknown> = { ...task.children };
  if (context.stepsSpawned) {
    const definitions = new Map((plan?.steps ?? []).map((step) => [step.id, step]));
    const steps: Record<string, unknown> = {};
    for (const row of stepRows) {
      const step = definitions.get(row.actorId);
      if (!step) throw new Error(`the stored plan of run ${taskRow.runId} has no step "${row.actorId}"`);
      steps[row.actorId] = restoreStep(row, step);
    }
    const pool: PersistedStepPool = { status: 'active', output: undefined, error: undefined, steps };
    children[STEPS] = { snapshot: pool, src: 'stepPool', syncSnapshot: false, systemId: undefined };
  }
  // Ready: pending steps with nothing left to wait on and no slot yet, in plan order.
  const ready: string[] = [];
  if (plan && context.stepsSpawned) {
    for (const step of plan.steps) {
      const row = byId.get(step.id);
      if (!row || row.state !== 'pending' || context.started.includes(step.id)) continue;
      const waitingOn = ((row.snapshot as PersistedMachine).context as unknown as StepContext).waitingOn;
      if (waitingOn.length === 0) ready.push(step.id);
    }
  }
  return { ...task, context: { ...context, ...(plan ? { plan } : {}), ready }, children };
}
