/**
 * Model-based tests of the task and step machines together: `xstate/graph` explores every
 * state a run can reach from the outside events a runtime and a human can send (attempt
 * outcomes, approvals, confirmations, controls, replans, budget, cancel), and checks the
 * run's invariants in each. The union of all scenarios must reach every state and take
 * every transition of both machines; the coverage is printed.
 */

import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot, EventObject, SnapshotFrom } from 'xstate';
import { getAdjacencyMap, getShortestPaths } from 'xstate/graph';
import { ATTEMPT_INTERRUPTED, type TaskInput } from '../../machines/protocol.js';
import { stepMachine } from '../../machines/step.machine.js';
import { taskMachine } from '../../machines/task.machine.js';
import type { Budget } from '../../src/model/budget.js';
import { parsePlan } from '../../src/model/parse-plan.js';
import { type PlanInput, type Step, type StepInput, StepSchema } from '../../src/model/plan.js';
import { coverageOf, formatCoverage } from '../support/coverage-report.js';
import {
  Coverage,
  createRunWorld,
  stepStateName,
  type WorldEvent,
  type WorldSnapshot,
} from '../support/run-world.js';

const coverage = new Coverage();
const at = 7;

interface Scenario {
  readonly name: string;
  /** `all`: every outside event; `outcomes`: attempts succeed or fail, humans cancel and retry. */
  readonly events: 'all' | 'outcomes';
  readonly input: TaskInput;
  /** What `planRun` returns, for runs without a plan. */
  readonly llmPlan?: PlanInput;
  /** What `replanRun` returns: one that fits, one that does not. */
  readonly replan?: { readonly fits: StepInput[]; readonly misfit: StepInput[] };
  /** The limits `budget.extended` brings (none: the same limits). */
  readonly extend?: Budget;
}

const note = (id: string, extra: Partial<StepInput> = {}): StepInput => ({
  id,
  action: { kind: 'note', output: id },
  ...extra,
});
const custom = (id: string, extra: Partial<StepInput> = {}): StepInput => ({
  id,
  action: { kind: 'deploy' },
  ...extra,
});

function input(plan: PlanInput | undefined, overrides: Partial<TaskInput> = {}): TaskInput {
  return {
    runId: 'run-1',
    goal: 'test goal',
    ...(plan ? { plan: parsePlan(plan) } : {}),
    requireApproval: false,
    approveReplans: false,
    maxReplans: 0,
    stepsPerRun: 2,
    confirmTiers: ['destructive'],
    ...overrides,
  };
}

const scenarios: Scenario[] = [
  {
    name: 'a retried, confirmed step before a non-idempotent one',
    events: 'all',
    input: input(
      {
        steps: [
          note('a', { retry: { maxAttempts: 2, backoffMs: 100 }, tier: 'destructive' }),
          custom('b', { dependsOn: ['a'], tier: 'destructive' }),
        ],
      },
      { requireApproval: true, stepsPerRun: 1 },
    ),
  },
  {
    name: 'two roots joined by a third step',
    events: 'outcomes',
    input: input(
      { steps: [custom('a'), custom('b'), note('c', { dependsOn: ['a', 'b'] })] },
      { stepsPerRun: 1 },
    ),
  },
  {
    name: 'a failure repaired by a replan',
    events: 'outcomes',
    input: input(
      { steps: [custom('a'), custom('b'), note('d', { dependsOn: ['a'] })] },
      { maxReplans: 2, stepsPerRun: 1 },
    ),
    replan: {
      fits: [note('a2', { replaces: 'a', dependsOn: ['b'] })],
      misfit: [note('x', { dependsOn: ['nowhere'] })],
    },
  },
  {
    name: 'a replan that waits for approval',
    events: 'outcomes',
    input: input(
      { steps: [custom('a'), note('d', { dependsOn: ['a'] })] },
      { maxReplans: 1, approveReplans: true },
    ),
    replan: { fits: [note('a2', { replaces: 'a' })], misfit: [note('a2', { replaces: 'd' })] },
  },
  {
    name: 'a run that pauses at its step limit and is extended',
    events: 'outcomes',
    input: input(
      { steps: [custom('a'), custom('b'), note('c', { dependsOn: ['a'] })] },
      { stepsPerRun: 2, budget: { maxSteps: 1 } },
    ),
    extend: { maxSteps: 3 },
  },
  {
    name: 'a goal planned by the model and approved',
    events: 'all',
    input: input(undefined, { requireApproval: true }),
    llmPlan: { steps: [note('p')] },
  },
  {
    name: 'a goal planned by the model without approval',
    events: 'all',
    input: input(undefined),
    llmPlan: { steps: [note('p')] },
  },
];

const steps = (list: StepInput[]): Step[] => list.map((step) => StepSchema.parse(step));

function done(id: string, output: unknown): EventObject {
  return { type: `xstate.done.actor.${id}`, output, actorId: id } as EventObject;
}
function failed(id: string, error: unknown): EventObject {
  return { type: `xstate.error.actor.${id}`, error, actorId: id } as EventObject;
}

/** The outside events that make sense in a world state. */
function eventsFor(scenario: Scenario) {
  return (world: WorldSnapshot): WorldEvent[] => {
    const task = world.task;
    if (task.status !== 'active') return [];
    const events: WorldEvent[] = [{ type: 'run.cancel', by: 'ops', reason: 'enough', at }];
    switch (task.value) {
      case 'queued':
        events.push({ type: 'run.admitted', at });
        break;
      case 'planning':
        events.push(
          done('plan', { plan: parsePlan(scenario.llmPlan), at }),
          failed('plan', { message: 'model unavailable' }),
          { type: 'budget.exhausted', detail: 'maxCostUsd reached', at },
        );
        break;
      case 'awaitingApproval':
        events.push(
          { type: 'plan.approved', by: 'ann', at },
          { type: 'plan.rejected', by: 'ann', reason: 'no', at },
        );
        break;
      case 'running':
        events.push(
          { type: 'budget.exhausted', limit: 'maxTokens', detail: 'maxTokens reached', at },
          { type: 'run.resumed', at },
        );
        // Raising the limits of a run that is not paused.
        if (scenario.extend) events.push({ type: 'budget.extended', budget: scenario.extend, at });
        break;
      case 'replanning':
        if (scenario.replan) {
          events.push(
            done('replan', { steps: steps(scenario.replan.fits), at }),
            done('replan', { steps: steps(scenario.replan.misfit), at }),
          );
        }
        events.push(failed('replan', { message: 'model unavailable' }), {
          type: 'budget.exhausted',
          detail: 'maxCostUsd reached',
          at,
        });
        break;
      case 'paused':
        events.push({
          type: 'budget.extended',
          by: 'ann',
          ...(scenario.extend ? { budget: scenario.extend } : {}),
          at,
        });
        break;
    }
    for (const [stepId, step] of Object.entries(world.steps)) {
      const command = (command: EventObject): WorldEvent => ({ type: 'step.command', stepId, command });
      const control = (action: string) =>
        command({ type: 'step.control', action, by: 'ops', at } as EventObject);
      const toStep = (event: EventObject): WorldEvent => ({ type: 'to.step', stepId, event });
      const state = stepStateName(step);
      if (scenario.events === 'outcomes') {
        if (state === 'pending') events.push(control('cancel'));
        if (state === 'running') {
          events.push(
            toStep(done('attempt', { output: `${stepId} done`, at })),
            toStep(failed('attempt', { message: 'broken', retryable: false, at })),
          );
        }
        if (state === 'failed' || state === 'cancelled') events.push(control('retry'));
        continue;
      }
      switch (state) {
        case 'pending':
          events.push(control('cancel'));
          break;
        case 'awaitingConfirmation':
          events.push(
            command({ type: 'step.confirm', approved: true, by: 'ann', at } as EventObject),
            command({ type: 'step.confirm', approved: false, decision: 'skip', at } as EventObject),
            command({
              type: 'step.confirm',
              approved: false,
              decision: 'fail',
              reason: 'bad',
              at,
            } as EventObject),
            command({ type: 'step.confirm', approved: false, by: 'ann', reason: 'risky', at } as EventObject),
            control('cancel'),
          );
          break;
        case 'running':
          events.push(
            toStep(done('attempt', { output: `${stepId} done`, at })),
            toStep(failed('attempt', { message: 'flaky', retryable: true, at })),
            toStep(failed('attempt', { message: 'broken', retryable: false, at })),
            toStep(
              failed('attempt', { message: 'process died', code: ATTEMPT_INTERRUPTED, retryable: true, at }),
            ),
            command({ type: 'input.requested', requestId: 'q1', at } as EventObject),
            control('interrupt'),
            control('cancel'),
          );
          break;
        case 'awaitingInput':
          events.push(
            command({ type: 'input.answered', requestId: 'q1', at } as EventObject),
            command({ type: 'input.answered', requestId: 'other', at } as EventObject),
          );
          break;
        case 'retrying':
          events.push(toStep(done('backoff', { at: at + 100 })), control('retry'), control('cancel'));
          break;
        case 'interrupted':
          events.push(control('resume'), control('cancel'));
          break;
        case 'failed':
        case 'cancelled':
          events.push(control('retry'));
          break;
      }
    }
    events.push({
      type: 'step.command',
      stepId: 'ghost',
      command: { type: 'step.control', action: 'cancel', at },
    });
    return events;
  };
}

/** A stable key for a world state (attempt and crash counts are capped so retry loops stay finite). */
function serializeWorld(world: WorldSnapshot): string {
  const { plan, ...task } = world.task.context as { plan?: { steps: Step[] } };
  return JSON.stringify([
    world.task.value,
    task,
    plan?.steps.map((step) => [step.id, step.dependsOn]),
    Object.entries(world.steps).map(([id, snapshot]) => {
      const { step, startedAt, endedAt, ...context } = snapshot.context as Record<string, unknown> & {
        attempt: number;
        step: Step;
      };
      return [
        id,
        snapshot.value,
        {
          ...context,
          attempt: Math.min(context.attempt, 3),
          ...(context.crashes === undefined ? {} : { crashes: Math.min(Number(context.crashes), 3) }),
          dependsOn: step.dependsOn,
        },
      ];
    }),
  ]);
}

type TaskSnapshot = SnapshotFrom<typeof taskMachine>;
type StepSnapshot = SnapshotFrom<typeof stepMachine>;

class InvariantError extends Error {}

function check(condition: boolean, message: () => string): void {
  if (!condition) throw new InvariantError(message());
}

const WORKING = new Set(['awaitingConfirmation', 'running', 'awaitingInput', 'retrying', 'interrupted']);

/** What must hold in every reachable state of a run. */
function checkInvariants(world: WorldSnapshot): void {
  const task = world.task as TaskSnapshot;
  const context = task.context;
  const stepStates = new Map(
    Object.entries(world.steps).map(([id, s]) => [id, stepStateName(s as AnyMachineSnapshot)]),
  );
  if (task.status !== 'active') {
    // A completed run has every step succeeded, or failed and replaced.
    if (task.value === 'completed') {
      for (const [id, state] of stepStates) {
        const replaced = (world.steps[id] as StepSnapshot).context.replacedBy !== undefined;
        check(
          state === 'succeeded' || (state === 'failed' && replaced),
          () => `${id} is ${state} in a completed run`,
        );
      }
    }
    return;
  }
  // Slots: every working step holds one, and the task knows which.
  const holding = [...stepStates].filter(([, state]) => WORKING.has(state)).map(([id]) => id);
  check(
    holding.length === context.started.length && holding.every((id) => context.started.includes(id)),
    () => `steps holding a slot ${JSON.stringify(holding)} != started ${JSON.stringify(context.started)}`,
  );
  // A step limit is never passed.
  const maxSteps = context.budget.maxSteps;
  check(
    maxSteps === undefined || context.stepsStarted <= maxSteps,
    () => `${context.stepsStarted} steps started under maxSteps ${maxSteps}`,
  );
  // Counts mirror the steps.
  for (const state of ['succeeded', 'failed', 'skipped', 'cancelled'] as const) {
    const actual = [...stepStates.values()].filter((s) => s === state).length;
    check(context.counts[state] === actual, () => `${state} count ${context.counts[state]} != ${actual}`);
  }
  // A step in flight or done ran only once every dependency had succeeded.
  for (const [id, snapshot] of Object.entries(world.steps)) {
    const step = snapshot as StepSnapshot;
    const state = stepStates.get(id)!;
    if (state === 'pending' || state === 'skipped' || state === 'cancelled' || step.context.attempt === 0)
      continue;
    for (const dependency of step.context.step.dependsOn) {
      check(stepStates.get(dependency) === 'succeeded', () => `${id} ran before ${dependency} succeeded`);
    }
  }
  // A ready step is pending with nothing left to wait on.
  for (const id of context.ready) {
    const step = world.steps[id] as StepSnapshot;
    check(
      stepStates.get(id) === 'pending' && step.context.waitingOn.length === 0,
      () => `ready ${id} is not ready`,
    );
  }
  if (task.value === 'running') {
    // A running task is never stuck: some step works or waits for a slot.
    check(context.started.length + context.ready.length > 0, () => 'a running task with nothing to do');
    // Free slots are never left idle while steps are ready.
    check(
      context.ready.length === 0 || context.started.length >= context.stepsPerRun,
      () => 'ready steps wait while slots are free',
    );
  }
}

/** Adds the shortest sequence of events that reaches a state to an invariant's failure. */
function withPathTo(
  world: ReturnType<typeof createRunWorld>,
  scenario: Scenario,
  target: WorldSnapshot,
  error: unknown,
): unknown {
  const key = serializeWorld(target);
  const [path] = getShortestPaths(world, {
    events: eventsFor(scenario),
    serializeState: (state) => serializeWorld(state as WorldSnapshot),
    toState: (state) => serializeWorld(state as WorldSnapshot) === key,
    limit: 200_000,
  });
  const steps = path?.steps.map(({ event }) => `  ${JSON.stringify(event)}`).join('\n') ?? '  (no path)';
  if (error instanceof Error)
    error.message = `${scenario.name}: ${error.message}\nin ${key}\nreached by:\n${steps}`;
  return error;
}

describe('the task and step machines, explored together', () => {
  for (const scenario of scenarios) {
    it(`keeps its invariants in every reachable state: ${scenario.name}`, () => {
      const world = createRunWorld(taskMachine, stepMachine, scenario.input, coverage);
      const started = performance.now();
      const map = getAdjacencyMap(world, {
        events: eventsFor(scenario),
        serializeState: (state) => serializeWorld(state as WorldSnapshot),
        limit: 1_000_000,
      });
      const states = Object.values(map);
      console.log(
        `${scenario.name}: ${states.length} states in ${Math.round(performance.now() - started)} ms`,
      );
      expect(states.length).toBeGreaterThan(1);
      for (const { state } of states) {
        try {
          checkInvariants(state);
        } catch (error) {
          throw withPathTo(world, scenario, state, error);
        }
      }
    });
  }

  it('reaches every state and takes every transition of both machines', () => {
    // Runs last: by now every scenario above has recorded its coverage.
    for (const machine of [taskMachine, stepMachine]) {
      const report = coverageOf(coverage, machine);
      console.log(formatCoverage(report));
      expect(report.missingStates, `${machine.id}: states never reached`).toEqual([]);
      expect(report.missingTransitions, `${machine.id}: transitions never taken`).toEqual([]);
    }
  });
});
