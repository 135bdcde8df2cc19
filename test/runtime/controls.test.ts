/**
 * Worker controls (`cancel | interrupt | retry | resume` on one step) and cancelling a
 * whole run: in-flight actions see their AbortSignal fire, new attempts are counted and
 * old ones stay in the trace.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock, sleep, systemClock } from '../../src/clock.js';
import type { StepState } from '../../src/model/states.js';
import type { RunHandle } from '../../src/runtime/runtime.js';
import { createGate, unlessAborted, untilAborted } from '../support/gate.js';
import { useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

const harness = useSupervisorHarness();

const HOUR = 60 * 60 * 1000;

function stepOf(run: RunHandle, stepId: string) {
  return run.view().steps.find((step) => step.id === stepId);
}

async function untilStep(run: RunHandle, stepId: string, state: StepState, attempt?: number): Promise<void> {
  await until(
    () =>
      stepOf(run, stepId)?.state === state &&
      (attempt === undefined || stepOf(run, stepId)?.attempt === attempt),
    { what: `step ${stepId} ${state}${attempt === undefined ? '' : ` (attempt ${attempt})`}` },
  );
}

/** Records each call's attempt and signal; attempt 1 blocks until aborted, later ones succeed. */
function blocksOnFirstAttempt() {
  const calls: Array<{ attempt: number; signal: AbortSignal }> = [];
  return {
    calls,
    action: async (_input: Record<string, unknown>, ctx: { attempt: number; signal: AbortSignal }) => {
      calls.push({ attempt: ctx.attempt, signal: ctx.signal });
      if (ctx.attempt === 1) await untilAborted(ctx.signal);
      return { output: `attempt ${ctx.attempt}` };
    },
  };
}

describe('step controls', () => {
  it('interrupts a running step (its signal aborts) and resumes it as a new attempt', async () => {
    const work = blocksOnFirstAttempt();
    const sv = await harness.open({
      db: harness.dbPath(),
      clock: new ManualClock(1000),
      actions: { work: work.action },
    });
    const run = await sv.start({
      goal: 'g',
      plan: {
        steps: [
          { id: 'w', action: { kind: 'work' } },
          {
            id: 'after',
            dependsOn: ['w'],
            action: { kind: 'note', output: '{{steps.w.output}} then after' },
          },
        ],
      },
    });
    await until(() => work.calls.length === 1, { what: 'the first attempt to start' });

    await sv.control(run.id, 'w', 'interrupt', { by: 'ann' });

    await untilStep(run, 'w', 'interrupted');
    expect(work.calls[0]?.signal.aborted).toBe(true);
    expect(stepOf(run, 'w')).toMatchObject({
      state: 'interrupted',
      attempt: 1,
      reason: 'interrupted by ann',
    });
    expect(stepOf(run, 'after')?.state).toBe('pending');

    await sv.control(run.id, 'w', 'resume', { by: 'ann' });

    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs).toEqual({ w: 'attempt 2', after: 'attempt 2 then after' });
    expect(work.calls.map((call) => call.attempt)).toEqual([1, 2]);
    const trace = await sv.trace(run.id);
    expect(
      trace.attempts.filter((row) => row.stepId === 'w').map((row) => [row.attempt, row.status]),
    ).toEqual([
      [1, 'aborted'],
      [2, 'succeeded'],
    ]);
    expect(trace.events.filter((event) => event.type === 'control.applied')).toEqual([
      expect.objectContaining({ stepId: 'w', action: 'interrupt', by: 'ann' }),
      expect.objectContaining({ stepId: 'w', action: 'resume', by: 'ann' }),
    ]);
  });

  it('interrupting a step that waits for an answer keeps its question, which the resumed attempt asks once more', async () => {
    const attempts: number[] = [];
    const sv = await harness.open({
      db: harness.dbPath(),
      actions: {
        ask: async (_input, ctx) => {
          attempts.push(ctx.attempt);
          return { output: await ctx.ask({ key: 'go', question: 'Go on?' }) };
        },
      },
    });
    const run = await sv.start({ goal: 'g', plan: { steps: [{ id: 'q', action: { kind: 'ask' } }] } });
    await untilStep(run, 'q', 'awaitingInput');
    const [asked] = (await sv.pending()).requests;

    await sv.control(run.id, 'q', 'interrupt');
    await untilStep(run, 'q', 'interrupted');
    await sv.control(run.id, 'q', 'resume');
    await untilStep(run, 'q', 'awaitingInput', 2);

    expect((await sv.pending()).requests.map((request) => request.requestId)).toEqual([asked?.requestId]);
    await sv.answer(asked!.requestId, { text: 'yes' });
    expect((await run.done).outputs.q).toEqual({ text: 'yes' });
    expect(attempts).toEqual([1, 2]);
  });

  it('cancels a running step for good: its signal aborts, it cannot be resumed, and its dependents are skipped', async () => {
    const hold = createGate();
    const work = blocksOnFirstAttempt();
    const sv = await harness.open({
      db: harness.dbPath(),
      actions: {
        work: work.action,
        hold: async (_input, ctx) => ({ output: await unlessAborted(hold.promise, ctx.signal) }),
      },
    });
    const run = await sv.start({
      goal: 'g',
      plan: {
        steps: [
          { id: 'w', action: { kind: 'work' } },
          { id: 'after', dependsOn: ['w'], action: { kind: 'note', output: 'never' } },
          { id: 'hold', action: { kind: 'hold' } },
        ],
      },
    });
    await until(() => work.calls.length === 1, { what: 'the attempt to start' });

    await sv.control(run.id, 'w', 'cancel', { by: 'ann' });

    await untilStep(run, 'w', 'cancelled');
    expect(work.calls[0]?.signal.aborted).toBe(true);
    expect(stepOf(run, 'w')?.reason).toBe('cancelled by ann');
    await untilStep(run, 'after', 'skipped');
    await expect(sv.control(run.id, 'w', 'resume')).rejects.toMatchObject({
      code: 'INVALID_STATE',
      message: expect.stringContaining('is cancelled'),
    });
    await expect(sv.control(run.id, 'w', 'interrupt')).rejects.toMatchObject({ code: 'INVALID_STATE' });
    await expect(sv.control(run.id, 'w', 'cancel')).rejects.toMatchObject({ code: 'INVALID_STATE' });

    hold.open();
    const result = await run.done;
    expect(result.phase).toBe('failed');
    expect(work.calls).toHaveLength(1);
    expect(run.view().steps.map((step) => [step.id, step.state])).toEqual([
      ['w', 'cancelled'],
      ['after', 'skipped'],
      ['hold', 'succeeded'],
    ]);
  });

  it('cancels a step that has not started yet without ever running it', async () => {
    const hold = createGate();
    let laterCalls = 0;
    const sv = await harness.open({
      db: harness.dbPath(),
      actions: {
        hold: async (_input, ctx) => ({ output: await unlessAborted(hold.promise, ctx.signal) }),
        later: async () => {
          laterCalls += 1;
          return { output: null };
        },
      },
    });
    const run = await sv.start({
      goal: 'g',
      plan: {
        steps: [
          { id: 'hold', action: { kind: 'hold' } },
          { id: 'later', dependsOn: ['hold'], action: { kind: 'later' } },
        ],
      },
    });
    await untilStep(run, 'hold', 'running');
    await sv.control(run.id, 'later', 'cancel');
    await untilStep(run, 'later', 'cancelled');
    hold.open();
    expect((await run.done).phase).toBe('failed');
    expect(laterCalls).toBe(0);
  });

  it('retries a failed step as a new attempt and keeps the failed attempt in the trace with its error', async () => {
    const hold = createGate();
    let calls = 0;
    const sv = await harness.open({
      db: harness.dbPath(),
      actions: {
        flaky: async (_input, ctx) => {
          calls += 1;
          if (ctx.attempt === 1) throw new Error('boom on the first attempt');
          return { output: `ok on attempt ${ctx.attempt}` };
        },
        hold: async (_input, ctx) => ({ output: await unlessAborted(hold.promise, ctx.signal) }),
      },
    });
    const run = await sv.start({
      goal: 'g',
      plan: {
        steps: [
          { id: 'f', action: { kind: 'flaky' } },
          { id: 'hold', action: { kind: 'hold' } },
        ],
      },
    });
    await untilStep(run, 'f', 'failed');
    expect(stepOf(run, 'f')).toMatchObject({ attempt: 1, error: 'boom on the first attempt' });

    await sv.control(run.id, 'f', 'retry', { by: 'ann' });

    await untilStep(run, 'f', 'succeeded', 2);
    expect(stepOf(run, 'f')?.error).toBeUndefined();
    hold.open();
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs.f).toBe('ok on attempt 2');
    expect(calls).toBe(2);
    const attempts = (await sv.trace(run.id)).attempts.filter((row) => row.stepId === 'f');
    expect(attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        status: 'failed',
        error: { message: 'boom on the first attempt', code: 'ACTION_FAILED', retryable: true },
      }),
      expect.objectContaining({ attempt: 2, status: 'succeeded', output: 'ok on attempt 2' }),
    ]);
    expect(attempts[0]?.idempotencyKey).toBe(attempts[1]?.idempotencyKey);
  });

  it('retrying a failed step revives the dependents its failure skipped, and the run completes', async () => {
    const hold = createGate();
    const sv = await harness.open({
      db: harness.dbPath(),
      actions: {
        flaky: async (_input, ctx) => {
          if (ctx.attempt === 1) throw Object.assign(new Error('not yet'), { retryable: false });
          return { output: 'fixed' };
        },
        hold: async (_input, ctx) => ({ output: await unlessAborted(hold.promise, ctx.signal) }),
      },
    });
    const run = await sv.start({
      goal: 'g',
      plan: {
        steps: [
          { id: 'f', action: { kind: 'flaky' } },
          { id: 'd', dependsOn: ['f'], action: { kind: 'note', output: 'd after {{steps.f.output}}' } },
          { id: 'e', dependsOn: ['d'], action: { kind: 'note', output: 'e after {{steps.d.output}}' } },
          { id: 'hold', action: { kind: 'hold' } },
        ],
      },
    });
    await untilStep(run, 'e', 'skipped');
    expect(stepOf(run, 'd')).toMatchObject({ state: 'skipped', reason: 'dependency f failed' });
    expect(stepOf(run, 'e')).toMatchObject({ state: 'skipped', reason: 'dependency f failed' });

    await sv.control(run.id, 'f', 'retry');

    await untilStep(run, 'e', 'succeeded');
    hold.open();
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs).toMatchObject({ f: 'fixed', d: 'd after fixed', e: 'e after d after fixed' });
    const transitions = (await sv.trace(run.id)).transitions.flatMap((event) =>
      event.type === 'step.transition' && event.stepId === 'd' ? [`${event.from}->${event.to}`] : [],
    );
    expect(transitions).toEqual([
      'pending->skipped',
      'skipped->pending',
      'pending->running',
      'running->succeeded',
    ]);
  });

  it('retrying a step during its backoff starts the next attempt at once', async () => {
    const clock = new ManualClock(1000);
    const attempts: number[] = [];
    const sv = await harness.open({
      db: harness.dbPath(),
      clock,
      actions: {
        flaky: async (_input, ctx) => {
          attempts.push(ctx.attempt);
          if (ctx.attempt === 1) throw new Error('first fails');
          return { output: 'ok' };
        },
      },
    });
    const run = await sv.start({
      goal: 'g',
      plan: { steps: [{ id: 'f', retry: { maxAttempts: 3, backoffMs: HOUR }, action: { kind: 'flaky' } }] },
    });
    await untilStep(run, 'f', 'retrying');
    await sv.control(run.id, 'f', 'retry');
    expect((await run.done).phase).toBe('completed');
    expect(attempts).toEqual([1, 2]);
    expect(clock.now()).toBe(1000);
  });
});

describe('cancelling a run', () => {
  it('aborts an action awaiting an hour-long wait and settles done as cancelled within a second', async () => {
    let aborted: unknown;
    const sv = await harness.open({
      db: harness.dbPath(),
      actions: {
        slow: async (_input, ctx) => {
          try {
            await sleep(systemClock, HOUR, ctx.signal);
          } catch (error) {
            aborted = error;
            throw error;
          }
          return { output: 'too late' };
        },
      },
    });
    const run = await sv.start({
      goal: 'g',
      plan: {
        steps: [
          { id: 'slow', action: { kind: 'slow' } },
          { id: 'next', dependsOn: ['slow'], action: { kind: 'note', output: 1 } },
        ],
      },
    });
    await untilStep(run, 'slow', 'running');

    const started = performance.now();
    await sv.cancel(run.id, { by: 'ann', reason: 'enough' });
    const result = await run.done;
    const elapsed = performance.now() - started;

    expect(elapsed).toBeLessThan(1000);
    expect(result.phase).toBe('cancelled');
    expect(result.error).toBe('cancelled by ann: enough');
    expect(aborted).toBeDefined();
    expect(run.view().steps.map((step) => [step.id, step.state])).toEqual([
      ['slow', 'cancelled'],
      ['next', 'cancelled'],
    ]);
    expect(run.view().steps[0]?.reason).toBe('run cancelled: enough');
    const attempts = (await sv.trace(run.id)).attempts;
    expect(attempts).toEqual([expect.objectContaining({ stepId: 'slow', attempt: 1, status: 'aborted' })]);
  });

  it('refuses to cancel a run twice', async () => {
    const sv = await harness.open({
      db: harness.dbPath(),
      actions: { wait: async (_input, ctx) => untilAborted(ctx.signal) },
    });
    const run = await sv.start({ goal: 'g', plan: { steps: [{ id: 'w', action: { kind: 'wait' } }] } });
    await sv.cancel(run.id);
    expect((await run.done).phase).toBe('cancelled');
    await expect(sv.cancel(run.id)).rejects.toMatchObject({
      code: 'INVALID_STATE',
      message: expect.stringContaining('cancelled'),
    });
  });
});
