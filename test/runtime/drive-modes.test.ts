/**
 * Drive modes on both backends: a client (`drive: 'none'`) starts runs and follows them
 * while a worker (`drive: 'all'`) drives them; workers share runs up to their concurrency;
 * a worker that stops with a grace period lets its attempts finish and starts nothing new,
 * and the next worker starts the held step for the first time; prune keeps the audit whole.
 */
import { describe, expect, it } from 'vitest';
import type { TaskvisorEvent } from '../../src/model/events.js';
import type { ActionFunction } from '../../src/runtime/executor.js';
import type { Supervisor } from '../../src/supervisor.js';
import { explainSkip, freshSchemaUrl, withPostgres } from '../support/postgres.js';
import { useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

explainSkip('the drive-mode tests on PostgreSQL');

const backends = [
  { name: 'SQLite', run: true, postgres: false },
  { name: 'PostgreSQL', run: withPostgres, postgres: true },
];

const chain = (n: number, kind = 'note') => ({
  steps: Array.from({ length: n }, (_, index) => ({
    id: `s${index}`,
    dependsOn: index === 0 ? [] : [`s${index - 1}`],
    action: kind === 'note' ? { kind: 'note', output: index } : { kind, i: index },
  })),
});

function collect(source: { subscribe: (next: (event: TaskvisorEvent) => void) => unknown }) {
  const events: TaskvisorEvent[] = [];
  source.subscribe((event) => events.push(event));
  return events;
}

for (const backend of backends) {
  describe.runIf(backend.run)(`drive modes on ${backend.name}`, () => {
    const harness = useSupervisorHarness();
    const database = () => (backend.postgres ? freshSchemaUrl('drive') : harness.dbPath());
    const worker = (db: string, extra: Record<string, unknown> = {}) =>
      harness.open({ db, drive: 'all', pollMs: 20, ...extra });

    it("follows a run from a client (drive: 'none') to its end while a worker drives it", async () => {
      const db = database();
      const client = await harness.open({ db, drive: 'none', pollMs: 20 });
      const live = collect(client.events$);
      const w = await worker(db);
      const run = await client.start({ goal: 'for the workers', plan: chain(5) });
      const replayed = collect(run.events$);
      const result = await run.done;
      expect(result.phase).toBe('completed');
      expect(result.outputs).toEqual({ s0: 0, s1: 1, s2: 2, s3: 3, s4: 4 });
      expect(run.view().phase).toBe('completed');
      expect(run.view().steps.map((step) => step.state)).toEqual(Array(5).fill('succeeded'));
      // The client drove nothing: the worker holds (held) the run.
      const trace = await w.trace(run.id);
      const stored = trace.events.map((event) => event.seq);
      await until(() => replayed.length === stored.length, { what: 'the replayed events' });
      expect(replayed.map((event) => event.seq)).toEqual(stored);
      // events$ of the client carries the worker's commits too, once each, in order.
      await until(() => live.filter((event) => event.runId === run.id).length === stored.length, {
        what: "the client's live events",
      });
      expect(live.filter((event) => event.runId === run.id).map((event) => event.seq)).toEqual(stored);
      const seqs = live.map((event) => event.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(await client.verifyAudit()).toMatchObject({ ok: true });
    });

    it('applies a command from the client in the worker that drives the run', async () => {
      const db = database();
      const client = await harness.open({ db, drive: 'none', pollMs: 20 });
      await worker(db);
      const run = await client.start({ goal: 'approve me', plan: chain(2), requireApproval: true });
      await until(async () => (await client.get(run.id))?.phase === 'awaitingApproval', {
        what: 'the plan waiting for approval',
      });
      await client.approvePlan(run.id, { by: 'ann' });
      expect((await run.done).phase).toBe('completed');
      const trace = await client.trace(run.id);
      expect(trace.audit.some((row) => row.action === 'plan.approved' && row.by === 'ann')).toBe(true);
    });

    it('shares runs between workers, each driving at most concurrency.runs at a time', async () => {
      const db = database();
      let running = new Map<string, number>();
      let most = new Map<string, number>();
      const slow =
        (name: string): ActionFunction =>
        async () => {
          running.set(name, (running.get(name) ?? 0) + 1);
          most.set(name, Math.max(most.get(name) ?? 0, running.get(name)!));
          await new Promise((resolve) => setImmediate(resolve));
          await new Promise((resolve) => setTimeout(resolve, 5));
          running.set(name, running.get(name)! - 1);
          return { output: name };
        };
      running = new Map();
      most = new Map();
      const client = await harness.open({ db, drive: 'none', pollMs: 20, actions: { slow: slow('client') } });
      const handles = [];
      for (let index = 0; index < 6; index++)
        handles.push(await client.start({ goal: `r${index}`, plan: chain(3, 'slow') }));
      await worker(db, { actions: { slow: slow('a') }, concurrency: { runs: 2, stepsPerRun: 1 } });
      await worker(db, { actions: { slow: slow('b') }, concurrency: { runs: 2, stepsPerRun: 1 } });
      const results = await Promise.all(handles.map((handle) => handle.done));
      expect(results.map((result) => result.phase)).toEqual(Array(6).fill('completed'));
      expect(Math.max(...most.values())).toBeLessThanOrEqual(2);
      // Both workers drove runs.
      const drivers = new Set(results.flatMap((result) => Object.values(result.outputs)));
      expect([...drivers].sort()).toEqual(['a', 'b']);
    });

    it('stops a worker gracefully: its attempt finishes, nothing new starts, and the next worker starts the held step once', async () => {
      const db = database();
      const ran: string[] = [];
      let release: (() => void) | undefined;
      const actions = {
        effect: (async (input, ctx) => {
          ran.push(`${ctx.stepId}#${ctx.attempt}`);
          if (input.i === 0) await new Promise<void>((resolve) => (release = resolve));
          return { output: input.i };
        }) as ActionFunction,
      };
      const client = await harness.open({ db, drive: 'none', pollMs: 20, actions });
      const first = await worker(db, { actions });
      const run = await client.start({ goal: 'graceful', plan: chain(3, 'effect') });
      await until(() => release, { what: 'the first step running' });
      const closing = first.close({ graceMs: 10_000 });
      release!();
      await closing;
      expect(ran).toEqual(['s0#1']);
      expect((await client.get(run.id))?.steps.map((step) => step.state)).toEqual([
        'succeeded',
        'running',
        'pending',
      ]);
      await worker(db, { actions });
      const result = await run.done;
      expect(result.phase).toBe('completed');
      // s1 had no journaled intent: it never began, so it starts once, with no human asked.
      expect(ran).toEqual(['s0#1', 's1#1', 's2#1']);
      expect(await client.verifyAudit()).toMatchObject({ ok: true });
    });

    it('prunes finished runs older than a duration and keeps the audit verifiable', async () => {
      const db = database();
      let now = Date.UTC(2030, 0, 1);
      const clock = {
        now: () => now,
        setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
        clearTimeout: (timer: unknown) => clearTimeout(timer as ReturnType<typeof setTimeout>),
      };
      const sv: Supervisor = await harness.open({ db, clock });
      const old = await sv.start({ goal: 'old', plan: chain(2) });
      await old.done;
      now += 40 * 86_400_000;
      const recent = await sv.start({ goal: 'recent', plan: chain(2) });
      await recent.done;
      const open = await sv.start({ goal: 'open', plan: chain(1), requireApproval: true });
      now += 86_400_000;
      await expect(sv.prune({ olderThan: 'soon' })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
      await expect(sv.prune({ olderThan: '1d', phases: ['running'] })).rejects.toMatchObject({
        code: 'INVALID_OPTION',
      });
      const pruned = await sv.prune({ olderThan: '30d' });
      expect(pruned.runs).toBe(1);
      expect(pruned.events).toBeGreaterThan(0);
      expect(await sv.get(old.id)).toBeUndefined();
      expect((await sv.list()).map((view) => view.id).sort()).toEqual([open.id, recent.id].sort());
      expect(await sv.verifyAudit()).toMatchObject({ ok: true, runs: 2 });
      expect(await sv.prune({ olderThan: 0, phases: ['failed'] })).toEqual({ runs: 0, events: 0 });
    });

    it("refuses resume with drive: 'none', and resume() on a client", async () => {
      const db = database();
      await expect(harness.open({ db, drive: 'none', resume: true })).rejects.toMatchObject({
        code: 'INVALID_OPTION',
      });
      const client = await harness.open({ db, drive: 'none' });
      await expect(client.resume()).rejects.toMatchObject({ code: 'INVALID_STATE' });
    });
  });
}
