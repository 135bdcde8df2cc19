/**
 * The README flow: embed a supervisor, start a plan with a custom action and a note that
 * reads its output, await the result, and read the run back through get, list and trace.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { RunViewSchema, TaskvisorEventSchema } from '../../src/index.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';

const harness = useSupervisorHarness();

const greetPlan = {
  goal: 'say hi',
  steps: [
    { id: 'hi', title: 'Greet Ada', action: { kind: 'greet', name: 'Ada' } },
    { id: 'echo', dependsOn: ['hi'], action: { kind: 'note', output: 'got {{steps.hi.output}}' } },
  ],
};

describe('embedding a supervisor', () => {
  it('runs a plan with a custom action and a note that interpolates its output, and done gives the outputs', async () => {
    const calls: Array<Record<string, unknown>> = [];
    const sv = await harness.open({
      db: harness.dbPath(),
      actions: {
        greet: async (input) => {
          calls.push(input);
          return { output: `hi ${String(input.name)}` };
        },
      },
    });
    const run = await sv.start({ plan: greetPlan });
    const result = await run.done;

    expect(result).toEqual({
      phase: 'completed',
      outputs: { hi: 'hi Ada', echo: 'got hi Ada' },
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
    });
    expect(calls).toEqual([{ name: 'Ada' }]);

    const view = run.view();
    expect(RunViewSchema.parse(view)).toEqual(view);
    expect(view).toMatchObject({ id: run.id, goal: 'say hi', phase: 'completed', replans: 0, result });
    expect(view.steps).toEqual([
      expect.objectContaining({
        id: 'hi',
        title: 'Greet Ada',
        kind: 'greet',
        tier: 'execute',
        state: 'succeeded',
        attempt: 1,
        dependsOn: [],
        output: 'hi Ada',
      }),
      expect.objectContaining({
        id: 'echo',
        title: 'echo',
        kind: 'note',
        tier: 'read',
        state: 'succeeded',
        attempt: 1,
        dependsOn: ['hi'],
        output: 'got hi Ada',
      }),
    ]);
    for (const step of view.steps) {
      expect(step.startedAt).toBeTypeOf('number');
      expect(step.endedAt).toBeGreaterThanOrEqual(step.startedAt!);
      expect(step.error).toBeUndefined();
      expect(step.reason).toBeUndefined();
    }
  });

  it('agrees across get, list, trace and a second supervisor opened on the same file', async () => {
    const db = harness.dbPath();
    const clock = new ManualClock(1_000_000);
    const sv = await harness.open({
      db,
      clock,
      ids: sequentialIds(),
      actions: { greet: async (input) => ({ output: `hi ${String(input.name)}` }) },
    });
    const run = await sv.start({ plan: greetPlan, metadata: { ticket: 'T-7' } });
    await run.done;
    const view = run.view();

    expect(run.id).toBe('run-1');
    expect(await sv.get(run.id)).toEqual(view);
    expect(view.metadata).toEqual({ ticket: 'T-7' });
    expect(view.createdAt).toBe(1_000_000);
    expect(await sv.list()).toEqual([view]);
    expect(await sv.list({ phase: 'completed' })).toEqual([view]);
    expect(await sv.list({ phase: ['running', 'failed'] })).toEqual([]);
    expect(await sv.get('run-nope')).toBeUndefined();

    const trace = await sv.trace(run.id);
    expect(trace.run).toEqual(view);
    expect(trace.usage).toEqual(view.usage);
    expect(trace.events.map((event) => event.seq)).toEqual(trace.events.map((_, index) => index + 1));
    for (const event of trace.events) TaskvisorEventSchema.parse(event);
    expect(trace.events.at(-1)?.seq).toBe(view.seq);
    expect(trace.transitions).toEqual(
      trace.events.filter((event) => event.type === 'run.transition' || event.type === 'step.transition'),
    );
    expect(
      trace.transitions.map((event) =>
        event.type === 'step.transition'
          ? `${event.stepId} ${event.from}->${event.to}`
          : event.type === 'run.transition'
            ? `run ${event.from}->${event.to}`
            : event.type,
      ),
    ).toEqual([
      'run queued->running',
      'hi pending->running',
      'hi running->succeeded',
      'echo pending->running',
      'echo running->succeeded',
      'run running->completed',
    ]);
    expect(trace.attempts).toEqual([
      expect.objectContaining({
        runId: 'run-1',
        stepId: 'hi',
        attempt: 1,
        idempotencyKey: 'run-1/hi',
        status: 'succeeded',
        output: 'hi Ada',
      }),
      expect.objectContaining({
        runId: 'run-1',
        stepId: 'echo',
        attempt: 1,
        idempotencyKey: 'run-1/echo',
        status: 'succeeded',
        output: 'got hi Ada',
      }),
    ]);
    expect(trace.requests).toEqual([]);
    expect(trace.artifacts).toEqual([]);

    await sv.close();
    const reader = await harness.open({ db, clock, actions: { greet: async () => ({ output: 'unused' }) } });
    expect(await reader.get(run.id)).toEqual(view);
    expect(await reader.list()).toEqual([view]);
    expect((await reader.trace(run.id)).events).toEqual(trace.events);
  });

  it('lists runs newest first and honours the limit', async () => {
    const sv = await harness.open({ db: harness.dbPath(), clock: new ManualClock(5), ids: sequentialIds() });
    const runs = [];
    for (const output of ['a', 'b', 'c']) {
      const run = await sv.start({
        goal: `note ${output}`,
        plan: { steps: [{ id: 'n', action: { kind: 'note', output } }] },
      });
      await run.done;
      runs.push(run);
    }
    expect((await sv.list()).map((view) => view.id)).toEqual(['run-3', 'run-2', 'run-1']);
    expect((await sv.list({ limit: 2 })).map((view) => view.id)).toEqual(['run-3', 'run-2']);
    expect((await sv.list({ limit: 2 })).map((view) => view.goal)).toEqual(['note c', 'note b']);
  });

  it('works on an in-memory database', async () => {
    const sv = await harness.open({ db: ':memory:' });
    const run = await sv.start({
      goal: 'g',
      plan: { steps: [{ id: 'n', action: { kind: 'note', output: { ok: true } } }] },
    });
    expect(await run.done).toMatchObject({ phase: 'completed', outputs: { n: { ok: true } } });
    expect((await sv.get(run.id))?.phase).toBe('completed');
  });
});
