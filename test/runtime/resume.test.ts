/**
 * Resume in one process: close() mid-run, then a new supervisor on the same file. An
 * idempotent step that was running re-runs (attempt + 1, same idempotency key); any other
 * waits for a human as `interrupted`. `resume: false` leaves runs alone until
 * `sv.resume()`; commands stored meanwhile apply at the next resume.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { ActionFunction } from '../../src/runtime/executor.js';
import type { Supervisor } from '../../src/supervisor.js';
import { createGate, unlessAborted, untilAborted } from '../support/gate.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { turns, until } from '../support/until.js';

const harness = useSupervisorHarness();

interface Call {
  readonly process: string;
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  readonly idempotencyKey: string;
}

/** An action that records its ctx; in the `first` process it blocks until aborted. */
function recordingAction(calls: Call[], process: string): ActionFunction {
  return async (_input, ctx) => {
    calls.push({
      process,
      runId: ctx.runId,
      stepId: ctx.stepId,
      attempt: ctx.attempt,
      idempotencyKey: ctx.idempotencyKey,
    });
    if (process === 'first') await untilAborted(ctx.signal);
    return { output: `done in ${process} on attempt ${ctx.attempt}` };
  };
}

async function untilPhase(sv: Supervisor, runId: string, phase: string): Promise<void> {
  await until(async () => (await sv.get(runId))?.phase === phase, { what: `run ${runId} ${phase}` });
}

/** Starts a run of `step` (+ a dependent note) in a first supervisor and closes it mid-attempt. */
async function closedMidRun(step: Record<string, unknown>) {
  const db = harness.dbPath();
  const clock = new ManualClock(1000);
  const calls: Call[] = [];
  const first = await harness.open({
    db,
    clock,
    ids: sequentialIds(),
    actions: { work: recordingAction(calls, 'first') },
  });
  const run = await first.start({
    goal: 'survive a restart',
    plan: {
      steps: [
        { id: 'work', action: { kind: 'work' }, ...step },
        {
          id: 'after',
          dependsOn: ['work'],
          action: { kind: 'note', output: 'after: {{steps.work.output}}' },
        },
      ],
    },
  });
  await until(() => calls.length === 1, { what: 'the first attempt to start' });
  await first.close();
  return { db, clock, calls, runId: run.id };
}

describe('resuming after close()', () => {
  const idempotentSteps: Array<[string, Record<string, unknown>]> = [
    ['idempotent: true', { idempotent: true }],
    ['the read tier', { tier: 'read' }],
  ];
  for (const [why, step] of idempotentSteps) {
    it(`re-runs a step that is idempotent by ${why} with attempt + 1 and the same idempotency key`, async () => {
      const { db, clock, calls, runId } = await closedMidRun(step);

      const second = await harness.open({ db, clock, actions: { work: recordingAction(calls, 'second') } });
      await untilPhase(second, runId, 'completed');

      expect(calls).toEqual([
        { process: 'first', runId, stepId: 'work', attempt: 1, idempotencyKey: `${runId}/work` },
        { process: 'second', runId, stepId: 'work', attempt: 2, idempotencyKey: `${runId}/work` },
      ]);
      const view = await second.get(runId);
      expect(view?.steps[0]).toMatchObject({
        state: 'succeeded',
        attempt: 2,
        output: 'done in second on attempt 2',
      });
      expect(view?.steps[1]).toMatchObject({
        state: 'succeeded',
        output: 'after: done in second on attempt 2',
      });
      const trace = await second.trace(runId);
      expect(
        trace.attempts
          .filter((row) => row.stepId === 'work')
          .map((row) => [row.attempt, row.idempotencyKey, row.status]),
      ).toEqual([
        [1, `${runId}/work`, expect.not.stringMatching(/^succeeded$/)],
        [2, `${runId}/work`, 'succeeded'],
      ]);
      expect(
        trace.transitions.flatMap((event) =>
          event.type === 'step.transition' && event.stepId === 'work'
            ? [`${event.from}->${event.to}#${event.attempt}`]
            : [],
        ),
      ).toEqual(['pending->running#1', 'running->running#2', 'running->succeeded#2']);
    });
  }

  it('holds a non-idempotent step that was running in awaitingConfirmation with reason interrupted, and reruns it when confirmed', async () => {
    const { db, clock, calls, runId } = await closedMidRun({});

    const second = await harness.open({ db, clock, actions: { work: recordingAction(calls, 'second') } });
    await until(async () => (await second.get(runId))?.steps[0]?.state === 'awaitingConfirmation', {
      what: 'the interrupted step to wait for a human',
    });
    expect((await second.get(runId))?.steps[0]).toMatchObject({ attempt: 1, reason: 'interrupted' });
    expect((await second.pending()).confirmations).toEqual([
      {
        runId,
        stepId: 'work',
        title: 'work',
        kind: 'work',
        tier: 'execute',
        reason: 'interrupted',
        action: { kind: 'work', summary: 'work (no input)', details: [{ label: 'input', value: '{}' }] },
      },
    ]);
    await turns(20);
    expect(calls).toHaveLength(1);

    await second.confirmStep(runId, 'work', { approved: true, by: 'ann' });

    await untilPhase(second, runId, 'completed');
    expect(calls.map((call) => [call.process, call.attempt, call.idempotencyKey])).toEqual([
      ['first', 1, `${runId}/work`],
      ['second', 2, `${runId}/work`],
    ]);
    expect((await second.trace(runId)).events).toContainEqual(
      expect.objectContaining({
        type: 'approval.resolved',
        stepId: 'work',
        approved: true,
        decision: 'rerun',
        by: 'ann',
      }),
    );
  });

  it("skips an interrupted non-idempotent step on decision 'skip' without running it again", async () => {
    const { db, clock, calls, runId } = await closedMidRun({ idempotent: false });
    const second = await harness.open({ db, clock, actions: { work: recordingAction(calls, 'second') } });
    await until(async () => (await second.get(runId))?.steps[0]?.state === 'awaitingConfirmation', {
      what: 'interrupted',
    });

    await second.confirmStep(runId, 'work', { approved: false, decision: 'skip', by: 'ann' });

    await untilPhase(second, runId, 'failed');
    expect(calls).toHaveLength(1);
    expect((await second.get(runId))?.steps.map((step) => step.state)).toEqual(['skipped', 'skipped']);
  });

  it("fails an interrupted non-idempotent step on decision 'fail' without running it again", async () => {
    const { db, clock, calls, runId } = await closedMidRun({ idempotent: false });
    const second = await harness.open({ db, clock, actions: { work: recordingAction(calls, 'second') } });
    await until(async () => (await second.get(runId))?.steps[0]?.state === 'awaitingConfirmation', {
      what: 'interrupted',
    });

    await second.confirmStep(runId, 'work', {
      approved: false,
      decision: 'fail',
      by: 'ann',
      reason: 'check by hand',
    });

    await untilPhase(second, runId, 'failed');
    expect(calls).toHaveLength(1);
    const view = await second.get(runId);
    expect(view?.steps[0]).toMatchObject({ state: 'failed', error: 'failed by ann: check by hand' });
    expect(view?.steps[1]?.state).toBe('skipped');
    expect(view?.result?.error).toBe('step work failed: failed by ann: check by hand');
  });

  it('leaves unfinished runs alone with resume: false until sv.resume() adopts them', async () => {
    const { db, clock, calls, runId } = await closedMidRun({ idempotent: true });
    const idle = await harness.open({
      db,
      clock,
      resume: false,
      actions: { work: recordingAction(calls, 'second') },
    });
    await turns(20);
    expect(calls).toHaveLength(1);
    expect((await idle.get(runId))?.steps[0]).toMatchObject({ state: 'running', attempt: 1 });

    expect(await idle.resume()).toEqual([runId]);

    await untilPhase(idle, runId, 'completed');
    expect(calls.map((call) => [call.process, call.attempt])).toEqual([
      ['first', 1],
      ['second', 2],
    ]);
    expect(await idle.resume()).toEqual([]);
  });

  it('adopts only the run named in sv.resume(runId)', async () => {
    const db = harness.dbPath();
    const clock = new ManualClock(1000);
    const calls: Call[] = [];
    const first = await harness.open({
      db,
      clock,
      ids: sequentialIds(),
      actions: { work: recordingAction(calls, 'first') },
    });
    const plan = { steps: [{ id: 'work', idempotent: true, action: { kind: 'work' } }] };
    const one = await first.start({ goal: 'one', plan });
    const two = await first.start({ goal: 'two', plan });
    await until(() => calls.length === 2, { what: 'both attempts to start' });
    await first.close();

    const second = await harness.open({
      db,
      clock,
      resume: false,
      actions: { work: recordingAction(calls, 'second') },
    });
    expect(await second.resume(two.id)).toEqual([two.id]);
    await untilPhase(second, two.id, 'completed');
    expect((await second.get(one.id))?.phase).toBe('running');
    expect(calls.filter((call) => call.process === 'second').map((call) => call.runId)).toEqual([two.id]);
  });

  it('does not adopt a run that a live supervisor drives', async () => {
    const db = harness.dbPath();
    const calls: Call[] = [];
    const driver = await harness.open({
      db,
      ids: sequentialIds(),
      actions: { work: recordingAction(calls, 'first') },
    });
    const run = await driver.start({
      goal: 'g',
      plan: { steps: [{ id: 'work', idempotent: true, action: { kind: 'work' } }] },
    });
    await until(() => calls.length === 1, { what: 'the attempt to start' });

    const other = await harness.open({ db, actions: { work: recordingAction(calls, 'second') } });
    expect(await other.resume()).toEqual([]);
    await turns(20);
    expect(calls).toHaveLength(1);
    expect(run.view().steps[0]?.state).toBe('running');
  });

  it('applies a command stored while no supervisor drove the run when the next supervisor resumes it', async () => {
    const db = harness.dbPath();
    const clock = new ManualClock(1000);
    const first = await harness.open({ db, clock, ids: sequentialIds() });
    const run = await first.start({
      goal: 'approve later',
      requireApproval: true,
      plan: { steps: [{ id: 'n', action: { kind: 'note', output: 'approved and done' } }] },
    });
    await first.close();

    // A CLI-like supervisor that drives nothing stores the approval.
    const cli = await harness.open({ db, clock, resume: false });
    await cli.approvePlan(run.id, { by: 'cli' });
    await turns(20);
    expect((await cli.get(run.id))?.phase).toBe('awaitingApproval');
    await cli.close();

    const next = await harness.open({ db, clock });
    await untilPhase(next, run.id, 'completed');
    const view = await next.get(run.id);
    expect(view?.result?.outputs).toEqual({ n: 'approved and done' });
    expect((await next.trace(run.id)).events).toContainEqual(
      expect.objectContaining({ type: 'approval.resolved', kind: 'plan', approved: true, by: 'cli' }),
    );
  });

  it('applies only the first of two approvals stored while no supervisor drove the run', async () => {
    const db = harness.dbPath();
    const clock = new ManualClock(1000);
    const first = await harness.open({ db, clock, ids: sequentialIds() });
    const run = await first.start({
      goal: 'approve twice',
      requireApproval: true,
      plan: { steps: [{ id: 'n', action: { kind: 'note', output: 1 } }] },
    });
    await first.close();
    const ann = await harness.open({ db, clock, resume: false });
    const bob = await harness.open({ db, clock, resume: false });
    await ann.approvePlan(run.id, { by: 'ann' });
    await bob.approvePlan(run.id, { by: 'bob' });
    await ann.close();
    await bob.close();

    const next = await harness.open({ db, clock });
    await untilPhase(next, run.id, 'completed');
    const resolved = (await next.trace(run.id)).events.filter((event) => event.type === 'approval.resolved');
    expect(resolved).toEqual([expect.objectContaining({ approved: true, by: 'ann' })]);
  });

  it('stops a supervisor whose expired lease was taken over: its late writes are dropped and done rejects with LEASE_LOST', async () => {
    const db = harness.dbPath();
    const slowClock = new ManualClock(0);
    const laterClock = new ManualClock(60_000);
    const gate = createGate<string>();
    const first = await harness.open({
      db,
      clock: slowClock,
      leaseMs: 1000,
      ids: sequentialIds(),
      actions: { work: async (_input, ctx) => ({ output: await unlessAborted(gate.promise, ctx.signal) }) },
    });
    const run = await first.start({
      goal: 'g',
      plan: { steps: [{ id: 'work', idempotent: true, action: { kind: 'work' } }] },
    });
    await until(() => run.view().steps[0]?.state === 'running', {
      what: 'work running in the first supervisor',
    });

    // The first supervisor's lease (until 1000 on its clock) has expired by the second's clock.
    const second = await harness.open({
      db,
      clock: laterClock,
      leaseMs: 1000,
      actions: { work: async (_input, ctx) => ({ output: `second, attempt ${ctx.attempt}` }) },
    });
    await untilPhase(second, run.id, 'completed');
    const settled = await second.trace(run.id);

    gate.open('first, too late');
    await expect(run.done).rejects.toMatchObject({ code: 'LEASE_LOST' });
    const after = await second.trace(run.id);
    expect(after.events).toEqual(settled.events);
    expect(after.attempts).toEqual(settled.attempts);
    expect(after.run.steps[0]).toMatchObject({ state: 'succeeded', output: 'second, attempt 2' });
  });

  it('does not adopt finished runs', async () => {
    const db = harness.dbPath();
    const first = await harness.open({ db });
    const run = await first.start({
      goal: 'g',
      plan: { steps: [{ id: 'n', action: { kind: 'note', output: 1 } }] },
    });
    await run.done;
    await first.close();
    const second = await harness.open({ db, resume: false });
    expect(await second.resume()).toEqual([]);
    expect(await second.resume(run.id)).toEqual([]);
    expect((await second.get(run.id))?.phase).toBe('completed');
  });
});
