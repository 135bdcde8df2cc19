/**
 * The bus: every event is schema-valid, numbered gaplessly, emitted only after its
 * transaction committed, one transition event per actor transition; `events({ after })`
 * replays then continues live with no gap and no duplicate; `events({ runId })` filters.
 */
import { isDeepStrictEqual } from 'node:util';
import Database from 'better-sqlite3';
import type { Subscription } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot, InspectionEvent } from 'xstate';
import { ManualClock } from '../../src/clock.js';
import { type Json, type TaskvisorEvent, TaskvisorEventSchema } from '../../src/index.js';
import type { RunHandle } from '../../src/runtime/runtime.js';
import type { Supervisor } from '../../src/supervisor.js';
import { createGate, unlessAborted, untilAborted } from '../support/gate.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

const harness = useSupervisorHarness();

/** Subscribes to `events`, collecting into an array, unsubscribed after the test. */
function collect(source: { subscribe: Supervisor['events$']['subscribe'] }): TaskvisorEvent[] {
  const events: TaskvisorEvent[] = [];
  const subscription: Subscription = source.subscribe({ next: (event) => events.push(event) });
  harness.defer(() => subscription.unsubscribe());
  return events;
}

const isEnd = (runId: string) => (event: TaskvisorEvent) =>
  event.runId === runId &&
  event.type === 'run.transition' &&
  (event.to === 'completed' || event.to === 'failed' || event.to === 'cancelled');

/** A plan that visits most step states: retrying, awaitingInput, failed, skipped. */
const richPlan = {
  goal: 'visit many states',
  steps: [
    { id: 'flaky', retry: { maxAttempts: 2, backoffMs: 1000 }, action: { kind: 'flaky' } },
    { id: 'ask', dependsOn: ['flaky'], action: { kind: 'ask' } },
    { id: 'broken', dependsOn: ['flaky'], action: { kind: 'broken' } },
    { id: 'after', dependsOn: ['broken'], action: { kind: 'note', output: 'never' } },
  ],
};

function richActions() {
  let flakyCalls = 0;
  return {
    flaky: async (_input: Record<string, unknown>, ctx: { log: (message: string, data?: Json) => void }) => {
      ctx.log('trying', { call: flakyCalls + 1 });
      flakyCalls += 1;
      if (flakyCalls === 1) throw new Error('first attempt fails');
      return { output: 'flaky ok' };
    },
    ask: async (
      _input: Record<string, unknown>,
      ctx: { ask: (q: { key: string; question: string }) => Promise<unknown> },
    ) => ({
      output: await ctx.ask({ key: 'name', question: 'Your name?' }),
    }),
    broken: async () => {
      throw Object.assign(new Error('always broken'), { retryable: false });
    },
  };
}

/** Drives `richPlan` to its end: advances the backoff, answers the question. */
async function driveRichRun(
  sv: Supervisor,
  clock: ManualClock,
  afterStart?: () => Promise<unknown>,
): Promise<string> {
  const run = await sv.start({ plan: richPlan });
  await afterStart?.();
  await until(() => run.view().steps.find((step) => step.id === 'flaky')?.state === 'retrying', {
    what: 'flaky retrying',
  });
  clock.advance(1000);
  const request = await until(async () => (await sv.pending()).requests[0], { what: 'the question' });
  await sv.answer(request.requestId, { text: 'Ada' });
  expect((await run.done).phase).toBe('failed');
  return run.id;
}

/** An actor's state as the API names it, with its attempt for steps. */
function stateOf(kind: 'task' | 'step', snapshot: AnyMachineSnapshot): string {
  if (kind === 'task') return String(snapshot.value);
  const value = snapshot.value as string | { running?: string };
  const state =
    typeof value === 'string' ? value : value.running === 'awaitingInput' ? 'awaitingInput' : 'running';
  return `${state}#${(snapshot.context as { attempt: number }).attempt}`;
}

describe('the event bus', () => {
  it('validates every event against TaskvisorEventSchema and numbers them 1, 2, 3, ... without gaps', async () => {
    const clock = new ManualClock(1000);
    const sv = await harness.open({ db: harness.dbPath(), clock, actions: richActions() });
    const live = collect(sv.events$);

    await driveRichRun(sv, clock);
    const second = await sv.start({
      goal: 'g',
      plan: { steps: [{ id: 'n', action: { kind: 'note', output: 1 } }] },
    });
    await second.done;

    expect(live.length).toBeGreaterThan(20);
    expect(live.map((event) => event.seq)).toEqual(live.map((_, index) => index + 1));
    for (const event of live) expect(TaskvisorEventSchema.parse(event)).toEqual(event);
    expect(new Set(live.map((event) => event.type))).toEqual(
      new Set([
        'run.created',
        'run.transition',
        'step.transition',
        'step.output',
        'step.log',
        'request.opened',
        'request.answered',
      ]),
    );
    expect(live.filter((event) => event.type === 'step.log')).toEqual([
      expect.objectContaining({ stepId: 'flaky', attempt: 1, message: 'trying', data: { call: 1 } }),
      expect.objectContaining({ stepId: 'flaky', attempt: 2, message: 'trying', data: { call: 2 } }),
    ]);
    const replayed = collect(sv.events());
    await until(() => replayed.length === live.length, { what: 'the full replay' });
    expect(replayed).toEqual(live);
  });

  it('emits exactly one step.transition per step state change and one run.transition per phase change', async () => {
    const clock = new ManualClock(1000);
    const visited = new Map<string, string[]>();
    const visit = (key: string, state: string) => {
      const states = visited.get(key) ?? [];
      if (states.at(-1) !== state) states.push(state);
      visited.set(key, states);
    };
    const inspect = (event: InspectionEvent) => {
      if (event.type !== '@xstate.microstep' && event.type !== '@xstate.snapshot') return;
      const kind = (event.actorRef as { src?: unknown }).src;
      if (kind !== 'task' && kind !== 'step') return;
      const snapshot = event.snapshot as AnyMachineSnapshot;
      if (snapshot.status === 'stopped' || snapshot.status === 'error') return;
      const context = snapshot.context as { runId: string; stepId?: string };
      const key = kind === 'task' ? `${context.runId}/task` : `${context.runId}/${context.stepId}`;
      if (!visited.has(key)) visited.set(key, [kind === 'task' ? 'queued' : 'pending#0']);
      visit(key, stateOf(kind, snapshot));
    };
    // One run slot: a second run waits in queued, then for approval.
    const sv = await harness.open({
      db: harness.dbPath(),
      clock,
      ids: sequentialIds(),
      concurrency: { runs: 1 },
      actions: richActions(),
      inspect,
    });
    const live = collect(sv.events$);
    let gated: RunHandle | undefined;
    const runId = await driveRichRun(sv, clock, async () => {
      gated = await sv.start({
        goal: 'gated',
        requireApproval: true,
        plan: { steps: [{ id: 'n', action: { kind: 'note', output: 1 } }] },
      });
      expect(gated.view().phase).toBe('queued');
    });
    await until(() => gated?.view().phase === 'awaitingApproval', {
      what: 'the gated run to wait for approval',
    });
    await sv.approvePlan(gated!.id);
    await gated!.done;

    const logged = new Map<string, string[]>();
    for (const event of live) {
      if (event.type === 'run.transition') {
        const key = `${event.runId}/task`;
        const states = logged.get(key) ?? [event.from];
        expect(states.at(-1), `${key}: from of ${event.seq}`).toBe(event.from);
        states.push(event.to);
        logged.set(key, states);
      }
      if (event.type === 'step.transition') {
        const key = `${event.runId}/${event.stepId}`;
        const states = logged.get(key) ?? [`${event.from}#0`];
        expect(states.at(-1)?.split('#')[0], `${key}: from of ${event.seq}`).toBe(event.from);
        states.push(`${event.to}#${event.attempt}`);
        logged.set(key, states);
      }
    }
    expect(Object.fromEntries(logged)).toEqual(Object.fromEntries(visited));
    expect(logged.get(`${runId}/flaky`)).toEqual([
      'pending#0',
      'running#1',
      'retrying#1',
      'running#2',
      'succeeded#2',
    ]);
    expect(logged.get(`${runId}/ask`)).toEqual([
      'pending#0',
      'running#1',
      'awaitingInput#1',
      'running#1',
      'succeeded#1',
    ]);
    expect(logged.get(`${runId}/broken`)).toEqual(['pending#0', 'running#1', 'failed#1']);
    expect(logged.get(`${runId}/after`)).toEqual(['pending#0', 'skipped#0']);
    expect(logged.get(`${runId}/task`)).toEqual(['queued', 'running', 'failed']);
    expect(logged.get(`${gated!.id}/task`)).toEqual(['queued', 'awaitingApproval', 'running', 'completed']);
  });

  it('replays from the database after a seq taken mid-run, then continues live with no gap and no duplicate', async () => {
    const gate = createGate();
    const sv = await harness.open({
      db: harness.dbPath(),
      clock: new ManualClock(1000),
      actions: {
        wait: async (_input, ctx) => ({
          output: await unlessAborted(
            gate.promise.then(() => 'opened'),
            ctx.signal,
          ),
        }),
      },
    });
    const run = await sv.start({
      goal: 'replay',
      plan: {
        steps: [
          { id: 'a', action: { kind: 'note', output: 'a' } },
          { id: 'b', dependsOn: ['a'], action: { kind: 'note', output: 'b' } },
          { id: 'wait', dependsOn: ['b'], action: { kind: 'wait' } },
          { id: 'c', dependsOn: ['wait'], action: { kind: 'note', output: 'c' } },
          { id: 'd', dependsOn: ['c'], action: { kind: 'note', output: 'd' } },
        ],
      },
    });
    await until(() => run.view().steps.find((step) => step.id === 'wait')?.state === 'running', {
      what: 'wait running',
    });
    const committed = run.view().seq;
    expect(committed).toBeGreaterThanOrEqual(6);
    const middle = Math.floor(committed / 2);

    const fromMiddle = collect(sv.events({ after: middle }));
    const fromStart = collect(sv.events());
    const fromEnd = collect(sv.events({ after: committed }));
    gate.open();
    await run.done;
    const last = run.view().seq;
    await until(
      () => fromMiddle.some(isEnd(run.id)) && fromStart.some(isEnd(run.id)) && fromEnd.some(isEnd(run.id)),
      {
        what: 'every subscriber to reach the end of the run',
      },
    );

    const range = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, index) => from + index);
    expect(fromMiddle.map((event) => event.seq)).toEqual(range(middle + 1, last));
    expect(fromStart.map((event) => event.seq)).toEqual(range(1, last));
    expect(fromEnd.map((event) => event.seq)).toEqual(range(committed + 1, last));
    expect(fromStart).toEqual((await sv.trace(run.id)).events);
  });

  it("filters one run's events with events({ runId }), from its first event to its last", async () => {
    const gates = { 'run-1': createGate(), 'run-2': createGate() };
    const sv = await harness.open({
      db: harness.dbPath(),
      clock: new ManualClock(1000),
      ids: sequentialIds(),
      actions: {
        wait: async (input, ctx) => {
          await unlessAborted(gates[ctx.runId as keyof typeof gates].promise, ctx.signal);
          return { output: input.label };
        },
      },
    });
    const plan = (label: string) => ({
      goal: label,
      steps: [
        { id: 'w', action: { kind: 'wait', label } },
        { id: 'n', dependsOn: ['w'], action: { kind: 'note', output: `{{steps.w.output}}!` } },
      ],
    });
    const first = await sv.start({ plan: plan('first') });
    const second = await sv.start({ plan: plan('second') });
    const onlyFirst = collect(sv.events({ runId: first.id }));
    // A run handle's events$ is the same filtered replay.
    const onlySecond = collect(second.events$);
    gates['run-2'].open();
    await second.done;
    gates['run-1'].open();
    await first.done;
    await until(() => onlyFirst.some(isEnd(first.id)) && onlySecond.some(isEnd(second.id)), {
      what: 'both ends',
    });

    expect(onlyFirst.every((event) => event.runId === first.id)).toBe(true);
    expect(onlyFirst).toEqual((await sv.trace(first.id)).events);
    expect(onlySecond).toEqual((await sv.trace(second.id)).events);
    expect(onlyFirst[0]?.type).toBe('run.created');
  });

  it('has committed what a command did by the time its promise resolves', async () => {
    const db = harness.dbPath();
    const sv = await harness.open({ db, actions: { wait: async (_input, ctx) => untilAborted(ctx.signal) } });
    const reader = new Database(db, { readonly: true });
    harness.defer(() => reader.close());
    const phase = (runId: string) =>
      (reader.prepare('SELECT phase FROM runs WHERE id = ?').get(runId) as { phase: string }).phase;
    const actor = (runId: string, actorId: string) =>
      (
        reader.prepare('SELECT state FROM actors WHERE run_id = ? AND actor_id = ?').get(runId, actorId) as {
          state: string;
        }
      ).state;
    const types = (runId: string) =>
      (
        reader.prepare('SELECT type FROM events WHERE run_id = ? ORDER BY seq').all(runId) as Array<{
          type: string;
        }>
      ).map((row) => row.type);

    const run = await sv.start({
      goal: 'g',
      requireApproval: true,
      plan: {
        steps: [
          { id: 'a', action: { kind: 'wait' } },
          { id: 'b', tier: 'destructive', action: { kind: 'wait' } },
        ],
      },
    });
    expect(phase(run.id)).toBe('awaitingApproval');
    expect(types(run.id)).toEqual(['run.created', 'run.transition', 'approval.requested']);

    await sv.approvePlan(run.id);
    expect(phase(run.id)).toBe('running');
    expect(types(run.id)).toContain('approval.resolved');

    await until(() => run.view().steps[0]?.state === 'running', { what: 'a running' });
    await sv.control(run.id, 'a', 'interrupt');
    expect(actor(run.id, 'a')).toBe('interrupted');
    expect(run.view().steps[0]?.state).toBe('interrupted');

    await sv.confirmStep(run.id, 'b', { approved: false });
    expect(actor(run.id, 'b')).toBe('cancelled');

    await sv.cancel(run.id);
    expect(phase(run.id)).toBe('cancelled');
    expect(run.view().phase).toBe('cancelled');
  });

  it('emits an event only after it is committed: a separate connection reads it back inside the subscriber', async () => {
    const db = harness.dbPath();
    const clock = new ManualClock(1000);
    const sv = await harness.open({ db, clock, actions: richActions() });
    const reader = new Database(db, { readonly: true });
    harness.defer(() => reader.close());
    // An output is stored once, beside the event that refers to it.
    const readEvent = reader.prepare(
      'SELECT e.seq, e.run_id, e.type, e.body, o.json AS output FROM events e LEFT JOIN outputs o ON o.run_id = e.run_id AND o.ref = e.output_ref WHERE e.seq = ?',
    );
    const readPhase = reader.prepare('SELECT phase FROM runs WHERE id = ?');
    const problems: string[] = [];
    let seen = 0;
    const subscription = sv.events$.subscribe((event) => {
      seen += 1;
      const row = readEvent.get(event.seq) as
        { seq: number; run_id: string; type: string; body: string; output: string | null } | undefined;
      if (!row) {
        problems.push(`seq ${event.seq} (${event.type}) was emitted before it was stored`);
        return;
      }
      const { seq: _seq, ...body } = event;
      if (row.type !== event.type || row.run_id !== event.runId)
        problems.push(`seq ${event.seq} differs: ${row.type}`);
      const stored = JSON.parse(row.body) as Record<string, unknown>;
      delete stored.seq;
      if (row.output !== null) stored.output = JSON.parse(row.output);
      if (!isDeepStrictEqual(stored, body)) problems.push(`seq ${event.seq} body differs`);
      if (event.type === 'run.transition' && ['completed', 'failed', 'cancelled'].includes(event.to)) {
        const run = readPhase.get(event.runId) as { phase: string } | undefined;
        if (run?.phase !== event.to)
          problems.push(`run ${event.runId} ended ${event.to} but its row says ${run?.phase}`);
      }
    });
    harness.defer(() => subscription.unsubscribe());

    await driveRichRun(sv, clock);

    expect(seen).toBeGreaterThan(15);
    expect(problems).toEqual([]);
  });
});
