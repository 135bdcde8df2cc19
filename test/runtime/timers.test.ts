/**
 * Time with a ManualClock: retry backoff (growing by `factor`), step timeouts, and
 * deadlines that survive a restart. Nothing here waits on the wall clock.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { StepState } from '../../src/model/states.js';
import { openSqliteStore } from '../../src/store/sqlite-open.js';
import type { Supervisor } from '../../src/supervisor.js';
import { untilAborted } from '../support/gate.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { turns, until } from '../support/until.js';

const harness = useSupervisorHarness();

/** The step's persisted context, read through a second connection to the database. */
async function storedContext(db: string, runId: string, stepId: string): Promise<Record<string, unknown>> {
  const store = openSqliteStore(db);
  try {
    const loaded = await store.runs.loadRun(runId);
    const row = loaded?.actors.find((actor) => actor.actorId === stepId);
    if (!row) throw new Error(`no actor row for ${stepId}`);
    return (row.snapshot as { context: Record<string, unknown> }).context;
  } finally {
    await store.close();
  }
}

async function untilStep(
  sv: Supervisor,
  runId: string,
  stepId: string,
  state: StepState,
  attempt: number,
): Promise<void> {
  await until(
    async () => {
      const step = (await sv.get(runId))?.steps.find((candidate) => candidate.id === stepId);
      return step?.state === state && step.attempt === attempt;
    },
    { what: `step ${stepId} ${state} on attempt ${attempt}` },
  );
}

describe('retry backoff', () => {
  it('waits in retrying until the clock passes the stored deadline, each wait growing by the factor', async () => {
    const db = harness.dbPath();
    const clock = new ManualClock(10_000);
    const calls: Array<{ attempt: number; at: number }> = [];
    const sv = await harness.open({
      db,
      clock,
      ids: sequentialIds(),
      actions: {
        flaky: async (_input, ctx) => {
          calls.push({ attempt: ctx.attempt, at: clock.now() });
          if (ctx.attempt < 4) throw new Error(`attempt ${ctx.attempt} fails`);
          return { output: 'finally' };
        },
      },
    });
    const run = await sv.start({
      goal: 'g',
      plan: {
        steps: [
          { id: 'f', retry: { maxAttempts: 4, backoffMs: 1000, factor: 3 }, action: { kind: 'flaky' } },
        ],
      },
    });

    const waits: number[] = [];
    for (const attempt of [1, 2, 3]) {
      await untilStep(sv, run.id, 'f', 'retrying', attempt);
      const failedAt = clock.now();
      const { retryAt } = await storedContext(db, run.id, 'f');
      expect(retryAt).toBeTypeOf('number');
      const wait = (retryAt as number) - failedAt;
      waits.push(wait);

      clock.advance(wait - 1);
      await turns(20);
      expect(calls).toHaveLength(attempt);
      expect(run.view().steps[0]?.state).toBe('retrying');

      clock.advance(1);
      await until(() => calls.length === attempt + 1, { what: `attempt ${attempt + 1}` });
      expect(calls[attempt]?.at).toBe(retryAt);
    }

    expect(waits).toEqual([1000, 3000, 9000]);
    const result = await run.done;
    expect(result).toMatchObject({ phase: 'completed', outputs: { f: 'finally' } });
    expect(run.view().steps[0]).toMatchObject({ state: 'succeeded', attempt: 4 });
    const attempts = (await sv.trace(run.id)).attempts;
    expect(attempts.map((row) => [row.attempt, row.status])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
      [3, 'failed'],
      [4, 'succeeded'],
    ]);
  });

  it('fails the step when the last attempt fails, and does not retry an error marked not retryable', async () => {
    const clock = new ManualClock(0);
    let calls = 0;
    const sv = await harness.open({
      db: harness.dbPath(),
      clock,
      actions: {
        fatal: async () => {
          calls += 1;
          throw Object.assign(new Error('bad credentials'), { retryable: false });
        },
      },
    });
    const run = await sv.start({
      goal: 'g',
      plan: { steps: [{ id: 'x', retry: { maxAttempts: 5, backoffMs: 10 }, action: { kind: 'fatal' } }] },
    });
    const result = await run.done;
    expect(result.phase).toBe('failed');
    expect(result.error).toBe('step x failed: bad credentials');
    expect(calls).toBe(1);
  });
});

describe('step timeouts', () => {
  it('aborts an attempt at its timeout with STEP_TIMEOUT, retries it per policy, then fails the step', async () => {
    const clock = new ManualClock(0);
    const reasons: unknown[] = [];
    const sv = await harness.open({
      db: harness.dbPath(),
      clock,
      actions: {
        hang: async (_input, ctx) => {
          try {
            return await untilAborted(ctx.signal);
          } catch (error) {
            reasons.push(error);
            throw error;
          }
        },
      },
    });
    const run = await sv.start({
      goal: 'g',
      plan: {
        steps: [
          {
            id: 'slow',
            timeoutMs: 5000,
            retry: { maxAttempts: 2, backoffMs: 100 },
            action: { kind: 'hang' },
          },
          { id: 'after', dependsOn: ['slow'], action: { kind: 'note', output: 1 } },
        ],
      },
    });
    await untilStep(sv, run.id, 'slow', 'running', 1);
    await until(() => clock.pending > 0 && run.view().steps[0]?.state === 'running', {
      what: 'the timeout to be armed',
    });

    clock.advance(4999);
    await turns(20);
    expect(reasons).toEqual([]);
    clock.advance(1);
    await untilStep(sv, run.id, 'slow', 'retrying', 1);
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatchObject({ name: 'TaskvisorError', code: 'STEP_TIMEOUT' });

    clock.advance(100);
    await untilStep(sv, run.id, 'slow', 'running', 2);
    await until(() => reasons.length === 1 && clock.pending > 0, { what: 'the second timeout to be armed' });
    clock.advance(5000);

    const result = await run.done;
    expect(result.phase).toBe('failed');
    expect(reasons).toHaveLength(2);
    expect(run.view().steps.map((step) => [step.id, step.state])).toEqual([
      ['slow', 'failed'],
      ['after', 'skipped'],
    ]);
    expect(result.error).toMatch(/^step slow failed: step slow timed out after 5000 ms/);
    const trace = await sv.trace(run.id);
    expect(trace.attempts.map((row) => [row.attempt, row.status, row.error?.code, row.endedAt])).toEqual([
      [1, 'failed', 'STEP_TIMEOUT', 5000],
      [2, 'failed', 'STEP_TIMEOUT', 10_100],
    ]);
    expect(trace.transitions).toContainEqual(
      expect.objectContaining({
        stepId: 'slow',
        from: 'running',
        to: 'retrying',
        error: expect.objectContaining({ code: 'STEP_TIMEOUT' }),
      }),
    );
  });

  it('does not time out an attempt that finishes in time', async () => {
    const clock = new ManualClock(0);
    const sv = await harness.open({
      db: harness.dbPath(),
      clock,
      actions: { quick: async () => ({ output: 'quick' }) },
    });
    const run = await sv.start({
      goal: 'g',
      plan: { steps: [{ id: 'q', timeoutMs: 1000, action: { kind: 'quick' } }] },
    });
    expect((await run.done).phase).toBe('completed');
    clock.advance(10_000);
    expect(run.view().steps[0]?.state).toBe('succeeded');
  });
});

describe('deadlines across a restart', () => {
  it('re-arms a retry backoff from the stored deadline after close and reopen', async () => {
    const db = harness.dbPath();
    const clock = new ManualClock(50_000);
    const calls: Array<{ attempt: number; at: number; process: string }> = [];
    const actions = (process: string) => ({
      flaky: async (_input: Record<string, unknown>, ctx: { attempt: number }) => {
        calls.push({ attempt: ctx.attempt, at: clock.now(), process });
        if (ctx.attempt === 1) throw new Error('first fails');
        return { output: `ok in ${process}` };
      },
    });
    const first = await harness.open({ db, clock, ids: sequentialIds(), actions: actions('first') });
    const run = await first.start({
      goal: 'g',
      plan: { steps: [{ id: 'f', retry: { maxAttempts: 2, backoffMs: 60_000 }, action: { kind: 'flaky' } }] },
    });
    await untilStep(first, run.id, 'f', 'retrying', 1);
    const { retryAt } = await storedContext(db, run.id, 'f');
    expect(retryAt).toBe(110_000);

    clock.advance(30_000);
    await first.close();
    expect(calls).toHaveLength(1);

    const second = await harness.open({ db, clock, actions: actions('second') });
    await untilStep(second, run.id, 'f', 'retrying', 1);
    expect((await storedContext(db, run.id, 'f')).retryAt).toBe(110_000);
    await turns(20);
    expect(calls).toHaveLength(1);

    clock.advance(29_999);
    await turns(20);
    expect(calls).toHaveLength(1);
    clock.advance(1);

    await until(async () => (await second.get(run.id))?.phase === 'completed', {
      what: 'the retried run to complete',
    });
    expect(calls).toEqual([
      { attempt: 1, at: 50_000, process: 'first' },
      { attempt: 2, at: 110_000, process: 'second' },
    ]);
    expect((await second.get(run.id))?.steps[0]).toMatchObject({
      state: 'succeeded',
      attempt: 2,
      output: 'ok in second',
    });
  });

  it('retries on reopen without waiting again when the stored deadline has already passed', async () => {
    const db = harness.dbPath();
    const clock = new ManualClock(0);
    let calls = 0;
    const flaky = async () => {
      calls += 1;
      if (calls === 1) throw new Error('first fails');
      return { output: 'ok' };
    };
    const first = await harness.open({ db, clock, actions: { flaky } });
    const run = await first.start({
      goal: 'g',
      plan: { steps: [{ id: 'f', retry: { maxAttempts: 2, backoffMs: 1000 }, action: { kind: 'flaky' } }] },
    });
    await untilStep(first, run.id, 'f', 'retrying', 1);
    await first.close();

    // Time passes while no supervisor runs.
    clock.advance(5000);
    const second = await harness.open({ db, clock, actions: { flaky } });
    // No more time needs to pass: advancing by 0 fires what is already due.
    await until(
      async () => {
        clock.advance(0);
        return (await second.get(run.id))?.phase === 'completed';
      },
      { what: 'the overdue retry' },
    );
    expect(calls).toBe(2);
    expect(clock.now()).toBe(5000);
  });
});
