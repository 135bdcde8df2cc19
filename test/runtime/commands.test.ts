/**
 * Human commands: the plan gate (approvePlan / rejectPlan), the step gate (confirmStep
 * for confirm tiers), and every bad input refused with a TaskvisorError whose code and
 * message name the bad value and the state it met.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { isTaskvisorError, type TaskvisorErrorCode } from '../../src/errors.js';
import type { StepState } from '../../src/model/states.js';
import { createSupervisor, type Supervisor, type SupervisorOptions } from '../../src/supervisor.js';
import { createGate, unlessAborted } from '../support/gate.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

const harness = useSupervisorHarness();

const noteAction = (output: string) => ({
  kind: 'note',
  summary: `note: ${output}`,
  details: [{ label: 'output', value: output }],
});

async function expectRefusal(
  attempt: () => Promise<unknown>,
  code: TaskvisorErrorCode,
  mentions: ReadonlyArray<string | RegExp>,
): Promise<void> {
  let error: unknown;
  try {
    await attempt();
  } catch (caught) {
    error = caught;
  }
  expect(isTaskvisorError(error), `expected a TaskvisorError ${code}, got ${String(error)}`).toBe(true);
  const { code: actual, message } = error as { code: string; message: string };
  expect(actual, message).toBe(code);
  for (const mention of mentions) {
    if (typeof mention === 'string') expect(message).toContain(mention);
    else expect(message).toMatch(mention);
  }
}

function stepState(sv: Supervisor, runId: string, stepId: string) {
  return async () => (await sv.get(runId))?.steps.find((step) => step.id === stepId)?.state;
}

async function untilStep(sv: Supervisor, runId: string, stepId: string, state: StepState): Promise<void> {
  await until(async () => (await stepState(sv, runId, stepId)()) === state, {
    what: `step ${stepId} ${state}`,
  });
}

describe('the plan gate', () => {
  it('holds a run with requireApproval in awaitingApproval until approvePlan, then runs it', async () => {
    const sv = await harness.open({ db: harness.dbPath(), clock: new ManualClock(1000) });
    const run = await sv.start({
      goal: 'approve me',
      requireApproval: true,
      plan: {
        steps: [
          { id: 'a', action: { kind: 'note', output: 'A' } },
          { id: 'b', dependsOn: ['a'], action: { kind: 'note', output: 'B' } },
        ],
      },
    });
    expect(run.view().phase).toBe('awaitingApproval');
    expect(run.view().steps.map((step) => step.state)).toEqual(['pending', 'pending']);
    const pending = await sv.pending();
    expect(pending.approvals).toEqual([
      {
        runId: run.id,
        kind: 'plan',
        goal: 'approve me',
        reason: 'plan waits for approval',
        steps: [
          { id: 'a', title: 'a', kind: 'note', tier: 'read', dependsOn: [], action: noteAction('A') },
          { id: 'b', title: 'b', kind: 'note', tier: 'read', dependsOn: ['a'], action: noteAction('B') },
        ],
        // What each step runs is part of what the human approves.
        summary:
          'Plan: approve me (2 steps)\n  1. a [note]\n       note: A\n  2. b [note] after 1\n       note: B',
      },
    ]);

    await sv.approvePlan(run.id, { by: 'ann', note: 'looks fine' });

    expect(await run.done).toMatchObject({ phase: 'completed', outputs: { a: 'A', b: 'B' } });
    expect((await sv.pending()).approvals).toEqual([]);
    const events = (await sv.trace(run.id)).events;
    expect(events.filter((event) => event.type.startsWith('approval.'))).toEqual([
      expect.objectContaining({ type: 'approval.requested', kind: 'plan' }),
      expect.objectContaining({
        type: 'approval.resolved',
        kind: 'plan',
        approved: true,
        decision: 'approve',
        by: 'ann',
        reason: 'looks fine',
      }),
    ]);
  });

  it('accepts only one of two concurrent approvals of the same plan', async () => {
    const sv = await harness.open({ db: harness.dbPath() });
    const run = await sv.start({
      goal: 'g',
      requireApproval: true,
      plan: { steps: [{ id: 'a', action: { kind: 'note', output: 1 } }] },
    });

    const outcomes = await Promise.allSettled([
      sv.approvePlan(run.id, { by: 'ann' }),
      sv.approvePlan(run.id, { by: 'bob' }),
    ]);

    expect((await run.done).phase).toBe('completed');
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'INVALID_STATE' });
    const resolved = (await sv.trace(run.id)).events.filter((event) => event.type === 'approval.resolved');
    expect(resolved).toEqual([expect.objectContaining({ by: 'ann' })]);
  });

  it('cancels a run whose plan is rejected, without running any step', async () => {
    let ran = 0;
    const sv = await harness.open({
      db: harness.dbPath(),
      actions: {
        work: async () => {
          ran += 1;
          return { output: null };
        },
      },
    });
    const run = await sv.start({
      goal: 'reject me',
      requireApproval: true,
      plan: { steps: [{ id: 'w', action: { kind: 'work' } }] },
    });

    await sv.rejectPlan(run.id, { by: 'bob', reason: 'too risky' });

    const result = await run.done;
    expect(result.phase).toBe('cancelled');
    expect(result.error).toContain('too risky');
    expect(ran).toBe(0);
    expect(run.view().steps[0]?.state).toBe('pending');
    expect((await sv.trace(run.id)).events).toContainEqual(
      expect.objectContaining({
        type: 'approval.resolved',
        approved: false,
        decision: 'reject',
        by: 'bob',
        reason: 'too risky',
      }),
    );
  });
});

describe('the step gate', () => {
  /** destroy (destructive) between a note and a dependent note. */
  async function startDestructive() {
    const calls: string[] = [];
    const sv = await harness.open({
      db: harness.dbPath(),
      clock: new ManualClock(1000),
      actions: {
        wipe: async (_input, ctx) => {
          calls.push(`${ctx.stepId}#${ctx.attempt}`);
          return { output: 'wiped' };
        },
      },
    });
    const run = await sv.start({
      goal: 'wipe',
      plan: {
        steps: [
          { id: 'prepare', action: { kind: 'note', output: 'ready' } },
          { id: 'destroy', tier: 'destructive', dependsOn: ['prepare'], action: { kind: 'wipe' } },
          {
            id: 'report',
            dependsOn: ['destroy'],
            action: { kind: 'note', output: 'done: {{steps.destroy.output}}' },
          },
          { id: 'archive', dependsOn: ['report'], action: { kind: 'note', output: 'archived' } },
        ],
      },
    });
    await untilStep(sv, run.id, 'destroy', 'awaitingConfirmation');
    expect(calls).toEqual([]);
    expect((await sv.pending()).confirmations).toEqual([
      {
        runId: run.id,
        stepId: 'destroy',
        title: 'destroy',
        kind: 'wipe',
        tier: 'destructive',
        reason: 'tier destructive needs confirmation',
        action: { kind: 'wipe', summary: 'wipe (no input)', details: [{ label: 'input', value: '{}' }] },
      },
    ]);
    return { sv, run, calls };
  }

  it('runs a destructive step once it is confirmed', async () => {
    const { sv, run, calls } = await startDestructive();
    await sv.confirmStep(run.id, 'destroy', { approved: true, by: 'ann' });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs.report).toBe('done: wiped');
    expect(calls).toEqual(['destroy#1']);
    expect((await sv.pending()).confirmations).toEqual([]);
    expect((await sv.trace(run.id)).events).toContainEqual(
      expect.objectContaining({
        type: 'approval.resolved',
        kind: 'step',
        stepId: 'destroy',
        approved: true,
        decision: 'approve',
        by: 'ann',
      }),
    );
  });

  it('cancels a denied step and skips its dependents, so the run ends failed instead of hanging', async () => {
    const { sv, run, calls } = await startDestructive();
    await sv.confirmStep(run.id, 'destroy', { approved: false, by: 'ann', reason: 'not today' });
    const result = await run.done;
    expect(result.phase).toBe('failed');
    expect(calls).toEqual([]);
    const steps = Object.fromEntries(run.view().steps.map((step) => [step.id, step]));
    expect(steps.prepare?.state).toBe('succeeded');
    expect(steps.destroy).toMatchObject({ state: 'cancelled', reason: 'denied by ann: not today' });
    expect(steps.report).toMatchObject({ state: 'skipped', reason: 'dependency destroy failed' });
    expect(steps.archive).toMatchObject({ state: 'skipped', reason: 'dependency destroy failed' });
    expect((await sv.trace(run.id)).events).toContainEqual(
      expect.objectContaining({
        type: 'approval.resolved',
        stepId: 'destroy',
        approved: false,
        decision: 'deny',
      }),
    );
  });

  it("skips a step confirmed with decision 'skip', and its dependents with it", async () => {
    const { sv, run, calls } = await startDestructive();
    await sv.confirmStep(run.id, 'destroy', { approved: false, decision: 'skip', by: 'ann' });
    const result = await run.done;
    expect(result.phase).toBe('failed');
    expect(calls).toEqual([]);
    const states = Object.fromEntries(run.view().steps.map((step) => [step.id, step.state]));
    expect(states).toEqual({
      prepare: 'succeeded',
      destroy: 'skipped',
      report: 'skipped',
      archive: 'skipped',
    });
    expect(run.view().steps[1]?.reason).toBe('skipped by ann');
  });

  it("fails a step confirmed with decision 'fail', with the human's reason as its error", async () => {
    const { sv, run, calls } = await startDestructive();
    await sv.confirmStep(run.id, 'destroy', {
      approved: false,
      decision: 'fail',
      by: 'ann',
      reason: 'wrong target',
    });
    const result = await run.done;
    expect(result.phase).toBe('failed');
    expect(result.error).toBe('step destroy failed: failed by ann: wrong target');
    expect(calls).toEqual([]);
    expect(run.view().steps[1]).toMatchObject({ state: 'failed', error: 'failed by ann: wrong target' });
    expect(run.view().steps[2]?.state).toBe('skipped');
  });

  it('does not ask for confirmation of tiers left out of confirmTiers', async () => {
    const sv = await harness.open({ db: harness.dbPath(), confirmTiers: ['external'] });
    const run = await sv.start({
      goal: 'g',
      plan: { steps: [{ id: 'destroy', tier: 'destructive', action: { kind: 'note', output: 1 } }] },
    });
    expect((await run.done).phase).toBe('completed');
  });
});

describe('bad input', () => {
  /**
   * One run with a step blocked in `running` (`block`), a step waiting on it, a finished
   * run, and a run waiting for plan approval.
   */
  async function world() {
    const gate = createGate();
    const sv = await harness.open({
      db: harness.dbPath(),
      clock: new ManualClock(1000),
      ids: sequentialIds(),
      actions: { block: async (_input, ctx) => ({ output: await unlessAborted(gate.promise, ctx.signal) }) },
    });
    const running = await sv.start({
      goal: 'running',
      plan: {
        steps: [
          { id: 'block', action: { kind: 'block' } },
          { id: 'next', dependsOn: ['block'], action: { kind: 'note', output: 1 } },
        ],
      },
    });
    const finished = await sv.start({
      goal: 'finished',
      plan: { steps: [{ id: 'only', action: { kind: 'note', output: 1 } }] },
    });
    await finished.done;
    const waiting = await sv.start({
      goal: 'waiting',
      requireApproval: true,
      plan: { steps: [{ id: 'w', action: { kind: 'note', output: 1 } }] },
    });
    await untilStep(sv, running.id, 'block', 'running');
    harness.defer(() => gate.open());
    return { sv, running: running.id, finished: finished.id, waiting: waiting.id };
  }

  /** A run whose destructive step waits for confirmation. */
  async function destructiveRun() {
    const sv = await harness.open({ db: harness.dbPath() });
    const run = await sv.start({
      goal: 'g',
      plan: { steps: [{ id: 'destroy', tier: 'destructive', action: { kind: 'note', output: 1 } }] },
    });
    await untilStep(sv, run.id, 'destroy', 'awaitingConfirmation');
    return { sv, run: run.id };
  }

  it('refuses every command for an unknown run with UNKNOWN_RUN naming the id', async () => {
    const { sv } = await world();
    const attempts: Array<() => Promise<unknown>> = [
      () => sv.approvePlan('run-404'),
      () => sv.rejectPlan('run-404', { reason: 'no' }),
      () => sv.confirmStep('run-404', 'a', { approved: true }),
      () => sv.control('run-404', 'a', 'cancel'),
      () => sv.cancel('run-404'),
      () => sv.trace('run-404'),
    ];
    for (const attempt of attempts) await expectRefusal(attempt, 'UNKNOWN_RUN', ['"run-404"']);
  });

  it('refuses an unknown step with UNKNOWN_STEP, listing the steps and the closest one', async () => {
    const { sv, running } = await world();
    await expectRefusal(() => sv.control(running, 'blok', 'interrupt'), 'UNKNOWN_STEP', [
      '"blok"',
      running,
      'did you mean "block"',
      '"block", "next"',
    ]);
    await expectRefusal(() => sv.confirmStep(running, 'nope', { approved: true }), 'UNKNOWN_STEP', [
      '"nope"',
      '"block", "next"',
    ]);
  });

  it('refuses an unknown request with UNKNOWN_REQUEST naming it', async () => {
    const { sv } = await world();
    await expectRefusal(() => sv.answer('req-404', { text: 'hi' }), 'UNKNOWN_REQUEST', [
      '"req-404"',
      'pending()',
    ]);
  });

  it('refuses approvePlan and rejectPlan on a running run with INVALID_STATE naming the phase', async () => {
    const { sv, running } = await world();
    await expectRefusal(() => sv.approvePlan(running), 'INVALID_STATE', [
      running,
      'running',
      'awaitingApproval',
    ]);
    await expectRefusal(() => sv.rejectPlan(running, { reason: 'late' }), 'INVALID_STATE', [
      running,
      'running',
    ]);
  });

  it('refuses confirmStep on a running step with INVALID_STATE naming its state', async () => {
    const { sv, running } = await world();
    await expectRefusal(() => sv.confirmStep(running, 'block', { approved: true }), 'INVALID_STATE', [
      'block',
      'is running',
      'awaitingConfirmation',
    ]);
    await expectRefusal(() => sv.confirmStep(running, 'next', { approved: true }), 'INVALID_STATE', [
      'next',
      'is pending',
    ]);
  });

  it('refuses control resume on a step that is not interrupted, naming the state and the states it applies to', async () => {
    const { sv, running } = await world();
    await expectRefusal(() => sv.control(running, 'block', 'resume'), 'INVALID_STATE', [
      'block',
      'is running',
      '"resume"',
      'interrupted',
    ]);
    await expectRefusal(() => sv.control(running, 'next', 'retry'), 'INVALID_STATE', [
      'next',
      'is pending',
      '"retry"',
      'failed',
    ]);
    await expectRefusal(() => sv.control(running, 'next', 'interrupt'), 'INVALID_STATE', [
      'is pending',
      'running, awaitingInput',
    ]);
  });

  it('refuses a control action that does not exist, naming it and the closest one', async () => {
    const { sv, running } = await world();
    await expectRefusal(() => sv.control(running, 'block', 'cancle' as 'cancel'), 'INVALID_OPTION', [
      '"cancle"',
      'did you mean "cancel"',
      'cancel, interrupt, retry, resume',
    ]);
  });

  it('refuses commands on a completed run with INVALID_STATE naming the phase', async () => {
    const { sv, finished } = await world();
    const attempts: Array<() => Promise<unknown>> = [
      () => sv.approvePlan(finished),
      () => sv.cancel(finished),
      () => sv.control(finished, 'only', 'retry'),
      () => sv.confirmStep(finished, 'only', { approved: true }),
    ];
    for (const attempt of attempts) await expectRefusal(attempt, 'INVALID_STATE', [finished, 'completed']);
  });

  it('never accepts a step control it does not apply: cancelling a step of a run awaiting approval', async () => {
    let ran = 0;
    const sv = await harness.open({
      db: harness.dbPath(),
      actions: {
        work: async () => {
          ran += 1;
          return { output: 'ran' };
        },
      },
    });
    const run = await sv.start({
      goal: 'g',
      requireApproval: true,
      plan: {
        steps: [
          { id: 'x', action: { kind: 'work' } },
          { id: 'y', action: { kind: 'note', output: 1 } },
        ],
      },
    });

    const outcome = await sv.control(run.id, 'x', 'cancel', { by: 'ann' }).then(
      () => 'accepted',
      (error: unknown) => error,
    );

    if (outcome !== 'accepted') {
      // Refusing is fine, if it says why.
      expect(outcome).toMatchObject({
        code: 'INVALID_STATE',
        message: expect.stringContaining('awaitingApproval'),
      });
      return;
    }
    // Accepting it means the step is cancelled: it never runs, even once the plan is approved.
    await sv.approvePlan(run.id);
    const result = await run.done;
    expect(ran).toBe(0);
    expect(run.view().steps[0]?.state).toBe('cancelled');
    expect(result.phase).toBe('failed');
  });

  it('refuses decisions that contradict approved: true, and malformed confirmations', async () => {
    const { sv, running } = await world();
    await expectRefusal(
      () => sv.confirmStep(running, 'block', { approved: 'yes' as unknown as boolean }),
      'INVALID_OPTION',
      ['approved'],
    );
    const { sv: gated, run: destructive } = await destructiveRun();
    await expectRefusal(
      () => gated.confirmStep(destructive, 'destroy', { approved: true, decision: 'skip' }),
      'INVALID_OPTION',
      ['"skip"', 'approved: false'],
    );
    await expectRefusal(
      () => sv.confirmStep(running, 'block', { approved: false, decision: 'later' as 'skip' }),
      'INVALID_OPTION',
      ['"later"'],
    );
  });

  it('leaves the runs as they were after refusing bad commands', async () => {
    const { sv, running, waiting } = await world();
    const before = await sv.get(running);
    await sv.approvePlan(running).catch(() => {});
    await sv.control(running, 'next', 'resume').catch(() => {});
    expect(await sv.get(running)).toEqual(before);
    expect((await sv.get(waiting))?.phase).toBe('awaitingApproval');
    await sv.approvePlan(waiting);
    await until(async () => (await sv.get(waiting))?.phase === 'completed', {
      what: 'the waiting run to complete',
    });
  });
});

describe('createSupervisor options', () => {
  const cases: Array<{ name: string; options: unknown; mentions: Array<string | RegExp> }> = [
    {
      name: 'an unknown option, with a did-you-mean',
      options: { concurency: { runs: 2 } },
      mentions: ['"concurency"', 'did you mean "concurrency"'],
    },
    {
      name: 'a concurrency of zero runs',
      options: { concurrency: { runs: 0 } },
      mentions: ['concurrency.runs'],
    },
    {
      name: 'a fractional stepsPerRun',
      options: { concurrency: { stepsPerRun: 1.5 } },
      mentions: ['concurrency.stepsPerRun'],
    },
    {
      name: 'an unknown concurrency key',
      options: { concurrency: { run: 2 } },
      mentions: ['concurrency', 'run'],
    },
    {
      name: 'an llm endpoint that is not a URL',
      options: { llm: { baseURL: 'localhost:11434', model: 'llama3.2' } },
      mentions: ['llm.baseURL'],
    },
    {
      name: 'an llm without a model',
      options: { llm: { baseURL: 'http://127.0.0.1:9/v1', apiKey: 'local' } },
      mentions: ['llm', 'TASKVISOR_MODEL'],
    },
    {
      name: 'a budget of zero steps',
      options: { budget: { maxSteps: 0 } },
      mentions: ['budget.maxSteps'],
    },
    { name: 'an unknown durability', options: { durability: 'max' }, mentions: ['durability'] },
    {
      name: 'an action that is not a function',
      options: { actions: { greet: 'hello' } },
      mentions: ['actions.greet'],
    },
    {
      name: 'a custom action named like a built-in kind',
      options: { actions: { note: async () => ({}) } },
      mentions: ['"note"', 'built-in'],
    },
  ];
  for (const { name, options, mentions } of cases) {
    it(`refuses ${name} with INVALID_OPTION`, async () => {
      await expectRefusal(
        () => createSupervisor({ db: harness.dbPath(), ...(options as SupervisorOptions) }),
        'INVALID_OPTION',
        mentions,
      );
    });
  }
});

describe('start', () => {
  it('refuses a plan with a cycle with PLAN_CYCLE (parsePlan errors propagate) and creates no run', async () => {
    const sv = await harness.open({ db: harness.dbPath() });
    await expectRefusal(
      () =>
        sv.start({
          goal: 'loop',
          plan: {
            steps: [
              { id: 'a', dependsOn: ['b'], action: { kind: 'note', output: 1 } },
              { id: 'b', dependsOn: ['a'], action: { kind: 'note', output: 2 } },
            ],
          },
        }),
      'PLAN_CYCLE',
      ['a', 'b'],
    );
    expect(await sv.list()).toEqual([]);
  });

  it('refuses a step of an unregistered kind with UNKNOWN_ACTION_KIND naming the kind', async () => {
    const sv = await harness.open({
      db: harness.dbPath(),
      actions: { deploy: async () => ({ output: null }) },
    });
    await expectRefusal(
      () => sv.start({ goal: 'g', plan: { steps: [{ id: 'x', action: { kind: 'deploi' } }] } }),
      'UNKNOWN_ACTION_KIND',
      ['"deploi"', 'deploy'],
    );
    expect(await sv.list()).toEqual([]);
  });

  it('refuses other invalid plans with their own codes', async () => {
    const sv = await harness.open({ db: harness.dbPath() });
    const note = { kind: 'note', output: 1 };
    await expectRefusal(
      () => sv.start({ goal: 'g', plan: { steps: [{ id: 'a', dependsOn: ['ghost'], action: note }] } }),
      'UNKNOWN_DEPENDENCY',
      ['"ghost"'],
    );
    await expectRefusal(
      () =>
        sv.start({
          goal: 'g',
          plan: {
            steps: [
              { id: 'a', action: note },
              { id: 'a', action: note },
            ],
          },
        }),
      'DUPLICATE_STEP_ID',
      ['"a"'],
    );
    await expectRefusal(() => sv.start({ goal: 'g', plan: { steps: [] } }), 'INVALID_PLAN', [
      'at least one step',
    ]);
  });

  it('refuses a start without a plan when no model is configured, naming the goal', async () => {
    const sv = await harness.open({ db: harness.dbPath() });
    await expectRefusal(() => sv.start({ goal: 'write the docs' }), 'INVALID_OPTION', [
      '"write the docs"',
      'plan',
    ]);
  });

  it('refuses commands after close with SUPERVISOR_CLOSED', async () => {
    const sv = await createSupervisor({ db: harness.dbPath() });
    await sv.close();
    await expectRefusal(
      () => sv.start({ goal: 'g', plan: { steps: [{ id: 'a', action: { kind: 'note', output: 1 } }] } }),
      'SUPERVISOR_CLOSED',
      [],
    );
    await expectRefusal(() => sv.cancel('run-1'), 'SUPERVISOR_CLOSED', []);
  });
});
