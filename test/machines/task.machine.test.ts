import { describe, expect, it } from 'vitest';
import type { EventObject } from 'xstate';
import type { TaskInput } from '../../machines/protocol.js';
import { stepMachine } from '../../machines/step.machine.js';
import { taskMachine } from '../../machines/task.machine.js';
import { parsePlan } from '../../src/model/parse-plan.js';
import { type PlanInput, StepSchema } from '../../src/model/plan.js';
import { Coverage, createRunWorld, replay, type WorldEvent } from '../support/run-world.js';

function world(plan: PlanInput | undefined, overrides: Partial<TaskInput> = {}) {
  return createRunWorld(
    taskMachine,
    stepMachine,
    {
      runId: 'run-1',
      goal: 'ship it',
      ...(plan ? { plan: parsePlan(plan) } : {}),
      requireApproval: false,
      approveReplans: false,
      maxReplans: 0,
      stepsPerRun: 4,
      confirmTiers: ['destructive', 'external'],
      ...overrides,
    } satisfies TaskInput,
    new Coverage(),
  );
}

const note = (id: string, dependsOn: string[] = []) => ({
  id,
  dependsOn,
  action: { kind: 'note', output: id },
});
const admitted: WorldEvent = { type: 'run.admitted', at: 1 };
const succeed = (stepId: string, at = 2): WorldEvent => ({
  type: 'to.step',
  stepId,
  event: { type: 'xstate.done.actor.attempt', output: { output: `${stepId}!`, at } } as EventObject,
});
const fail = (stepId: string, at = 2): WorldEvent => ({
  type: 'to.step',
  stepId,
  event: {
    type: 'xstate.error.actor.attempt',
    error: { message: 'exit 1', retryable: false, at },
  } as EventObject,
});

describe('the task machine', () => {
  it('starts ready steps up to stepsPerRun and the next one when a slot frees', () => {
    const { log } = replay(world({ steps: [note('a'), note('b'), note('c')] }, { stepsPerRun: 2 }), [
      admitted,
      succeed('b'),
      succeed('a'),
      succeed('c'),
    ]);
    expect(log).toMatchInlineSnapshot(`
      [
        "task: queued -> running",
        "a: spawned running",
        "b: spawned running",
        "c: spawned pending",
        "b: running -> succeeded (attempt 1)",
        "c: pending -> running (attempt 1)",
        "a: running -> succeeded (attempt 1)",
        "task: running -> completed",
        "c: running -> succeeded (attempt 1)",
      ]
    `);
  });

  it('skips every transitive dependent of a failed step and ends failed', () => {
    const plan = {
      steps: [note('fetch'), note('parse', ['fetch']), note('report', ['parse']), note('other')],
    };
    const { state, log } = replay(world(plan), [admitted, fail('fetch'), succeed('other')]);
    expect(log).toMatchInlineSnapshot(`
      [
        "task: queued -> running",
        "fetch: spawned running",
        "parse: spawned pending",
        "report: spawned pending",
        "other: spawned running",
        "fetch: running -> failed (attempt 1)",
        "parse: pending -> skipped (attempt 0)",
        "report: pending -> skipped (attempt 0)",
        "task: running -> failed",
        "other: running -> succeeded (attempt 1)",
      ]
    `);
    expect(state.steps.report?.context.reason).toBe('dependency fetch failed');
  });

  it('lets a replanned step replace a failed one: its dependents wait on the replacement and the run completes', () => {
    const plan = { steps: [note('build'), note('test', ['build'])] };
    const replacement = StepSchema.parse({ ...note('build-fixed'), replaces: 'build' });
    const { state, log } = replay(world(plan, { maxReplans: 2 }), [
      admitted,
      fail('build'),
      { type: 'xstate.done.actor.replan', output: { steps: [replacement], at: 3 } },
      succeed('build-fixed', 4),
      succeed('test', 5),
    ]);
    expect(log).toMatchInlineSnapshot(`
      [
        "task: queued -> running",
        "build: spawned running",
        "test: spawned pending",
        "task: running -> replanning",
        "build: running -> failed (attempt 1)",
        "task: replanning -> running",
        "build-fixed: spawned running",
        "test: pending -> running (attempt 1)",
        "build-fixed: running -> succeeded (attempt 1)",
        "task: running -> completed",
        "test: running -> succeeded (attempt 1)",
      ]
    `);
    expect(state.steps.test?.context.step.dependsOn).toEqual(['build-fixed']);
    expect(state.steps.build?.context.reason).toBe('replaced by build-fixed');
    expect(state.task.context.counts).toEqual({
      succeeded: 2,
      failed: 1,
      skipped: 0,
      cancelled: 0,
      replaced: 1,
    });
  });

  it('revives the steps a failed step skipped when a human retries it', () => {
    const plan = { steps: [note('a'), note('b', ['a']), note('slow')] };
    const { state, log } = replay(world(plan), [
      admitted,
      fail('a'),
      {
        type: 'step.command',
        stepId: 'a',
        command: { type: 'step.control', action: 'retry', by: 'ops', at: 3 },
      },
      succeed('a', 4),
    ]);
    expect(log).toMatchInlineSnapshot(`
      [
        "task: queued -> running",
        "a: spawned running",
        "b: spawned pending",
        "slow: spawned running",
        "a: running -> failed (attempt 1)",
        "b: pending -> skipped (attempt 0)",
        "a: failed -> running (attempt 2)",
        "b: skipped -> pending (attempt 0)",
        "a: running -> succeeded (attempt 2)",
        "b: pending -> running (attempt 1)",
      ]
    `);
    expect(state.task.value).toBe('running');
  });

  it('cancels the run with the reason when the plan is rejected', () => {
    const { state } = replay(world({ steps: [note('a')] }, { requireApproval: true }), [
      admitted,
      { type: 'plan.rejected', by: 'ann', reason: 'too risky', at: 2 },
    ]);
    expect(state.task.value).toBe('cancelled');
    expect(state.task.context.reason).toBe('plan rejected: too risky');
    expect(state.steps).toEqual({});
  });

  it('cancels every open step when the run is cancelled, and leaves settled ones alone', () => {
    const plan = { steps: [note('done'), note('busy'), note('later', ['busy'])] };
    const { state } = replay(world(plan), [
      admitted,
      succeed('done'),
      { type: 'run.cancel', by: 'ops', reason: 'stop', at: 9 },
    ]);
    expect(state.task.value).toBe('cancelled');
    expect(state.task.context.reason).toBe('cancelled by ops: stop');
    const values = Object.fromEntries(Object.entries(state.steps).map(([id, s]) => [id, s.value]));
    expect(values).toEqual({ done: 'succeeded', busy: 'cancelled', later: 'cancelled' });
  });

  it('plans with the model when no plan is given, then waits for approval', () => {
    const llmPlan = parsePlan({ steps: [note('p')] });
    const { state } = replay(world(undefined, { requireApproval: true }), [
      admitted,
      { type: 'xstate.done.actor.plan', output: { plan: llmPlan, at: 2 } },
    ]);
    expect(state.task.value).toBe('awaitingApproval');
    expect(state.task.context.plan).toBe(llmPlan);
  });
});
