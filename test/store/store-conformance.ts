/**
 * The conformance suite of the `Store` port: every backend (SQLite today, PostgreSQL
 * later) must pass it. It speaks only the `Store` interface.
 *
 * @example
 * ```ts
 * describeStoreConformance('SqliteStore', async () => openSqliteStore(tempFile()));
 * ```
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { UnsequencedEvent } from '../../src/model/events.js';
import { parsePlan } from '../../src/model/parse-plan.js';
import type { Plan } from '../../src/model/plan.js';
import type { RunPhase } from '../../src/model/states.js';
import type { Batch, Lease, LeaseClaim, RunRow, Store } from '../../src/store/store.js';

const ALICE: LeaseClaim = { owner: 'host-a:100:alice', host: 'host-a', pid: 100 };
const BOB: LeaseClaim = { owner: 'host-a:200:bob', host: 'host-a', pid: 200 };
const TTL = 30_000;

const PLAN_V1: Plan = parsePlan({
  goal: 'first',
  steps: [
    { id: 'a', action: { kind: 'note', output: 1 } },
    { id: 'b', dependsOn: ['a'], action: { kind: 'note', output: 2 } },
  ],
});
const PLAN_V2: Plan = parsePlan({
  goal: 'second',
  steps: [...PLAN_V1.steps, { id: 'c', dependsOn: ['b'], action: { kind: 'note', output: 3 } }],
});

/** A batch with nothing in it but what `parts` says. */
function batch(parts: Partial<Omit<Batch, 'fences'>> & { fences?: Record<string, number> } = {}): Batch {
  const { fences, ...rest } = parts;
  return {
    runs: [],
    plans: [],
    actors: [],
    events: [],
    attempts: [],
    requests: [],
    artifacts: [],
    commandsApplied: [],
    ...rest,
    fences: new Map(Object.entries(fences ?? {})),
  };
}

function runRow(id: string, createdAt: number, phase: RunPhase = 'queued'): Omit<RunRow, 'lease'> {
  return { id, goal: `goal of ${id}`, phase, createdAt, updatedAt: createdAt, planVersion: 1 };
}

function lease(claim: LeaseClaim, expiresAt: number, fence = 1): Lease {
  return { ...claim, expiresAt, fence };
}

function logEvent(runId: string, message: string, at = 1): UnsequencedEvent {
  return { type: 'step.log', at, runId, stepId: 'a', attempt: 1, message };
}

function createdEvent(runId: string, at = 1): UnsequencedEvent {
  return { type: 'run.created', at, runId, goal: `goal of ${runId}`, steps: [], requireApproval: false };
}

/** The batch that creates a run held by `claim` (fence 1) with its first plan and event. */
function createRun(
  id: string,
  options: { createdAt?: number; claim?: LeaseClaim; phase?: RunPhase } = {},
): Batch {
  const createdAt = options.createdAt ?? 1000;
  return batch({
    runs: [
      {
        type: 'insert',
        row: runRow(id, createdAt, options.phase),
        lease: lease(options.claim ?? ALICE, createdAt + TTL),
      },
    ],
    plans: [{ runId: id, version: 1, plan: PLAN_V1 }],
    events: [createdEvent(id, createdAt)],
    fences: { [id]: 1 },
  });
}

export function describeStoreConformance(name: string, open: () => Promise<Store>): void {
  describe(`${name} (Store conformance)`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await open();
    });

    afterEach(async () => {
      await store.close();
    });

    describe('commit', () => {
      it('writes a batch of runs, plans, actors and events and returns the events with their seq', async () => {
        const result = await store.commit({
          ...createRun('r1'),
          actors: [
            {
              runId: 'r1',
              actorId: 'task',
              kind: 'task',
              state: 'running',
              snapshot: { value: 'running' },
              updatedAt: 5,
            },
          ],
          events: [createdEvent('r1'), logEvent('r1', 'hello')],
        });
        expect(result.lostRuns).toEqual([]);
        expect(result.events.map((event) => [event.seq, event.type])).toEqual([
          [1, 'run.created'],
          [2, 'step.log'],
        ]);
        expect(await store.readEvents({})).toEqual(result.events);
        expect(await store.lastSeq()).toBe(2);
        expect((await store.getRun('r1'))?.phase).toBe('queued');
      });

      it('writes nothing of a batch that fails midway on a constraint violation', async () => {
        await store.commit(createRun('existing'));
        const before = await store.lastSeq();
        const failing = batch({
          runs: [
            { type: 'insert', row: runRow('fresh', 2000), lease: lease(ALICE, 2000 + TTL) },
            // The same run id twice: the second insert violates the primary key.
            { type: 'insert', row: runRow('existing', 2000), lease: lease(ALICE, 2000 + TTL) },
          ],
          plans: [{ runId: 'fresh', version: 1, plan: PLAN_V1 }],
          actors: [
            { runId: 'fresh', actorId: 'task', kind: 'task', state: 'queued', snapshot: {}, updatedAt: 2000 },
          ],
          events: [createdEvent('fresh', 2000), logEvent('existing', 'never stored')],
          attempts: [
            {
              runId: 'existing',
              stepId: 'a',
              attempt: 1,
              idempotencyKey: 'existing/a',
              status: 'started',
              startedAt: 2000,
            },
          ],
          artifacts: [{ runId: 'existing', kind: 'file', name: 'x', body: 'y', at: 2000 }],
          fences: { fresh: 1, existing: 1 },
        });
        await expect(store.commit(failing)).rejects.toThrow();

        expect(await store.getRun('fresh')).toBeUndefined();
        expect(await store.loadRun('fresh')).toBeUndefined();
        expect(await store.lastSeq()).toBe(before);
        expect(await store.readEvents({ after: before })).toEqual([]);
        expect(await store.attempts('existing')).toEqual([]);
        expect(await store.artifacts('existing')).toEqual([]);
        expect((await store.getRun('existing'))?.createdAt).toBe(1000);

        // The store goes on working, and seq stays gapless.
        const next = await store.commit(
          batch({ events: [logEvent('existing', 'after')], fences: { existing: 1 } }),
        );
        expect(next.events.map((event) => event.seq)).toEqual([before + 1]);
      });

      it('numbers events gaplessly and increasingly across commits', async () => {
        await store.commit(createRun('r1'));
        await store.commit(createRun('r2'));
        const seqs: number[] = [1, 2];
        for (const count of [3, 1, 0, 2]) {
          const events = Array.from({ length: count }, (_, index) =>
            logEvent(index % 2 ? 'r1' : 'r2', `m${index}`),
          );
          const result = await store.commit(batch({ events, fences: { r1: 1, r2: 1 } }));
          seqs.push(...result.events.map((event) => event.seq));
        }
        expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
        expect((await store.readEvents({})).map((event) => event.seq)).toEqual(seqs);
        expect(await store.lastSeq()).toBe(8);
      });

      it('returns 0 as the last seq of an empty store and no events', async () => {
        expect(await store.lastSeq()).toBe(0);
        expect(await store.readEvents({})).toEqual([]);
      });
    });

    describe('readEvents', () => {
      beforeEach(async () => {
        await store.commit(createRun('r1'));
        await store.commit(createRun('r2'));
        await store.commit(
          batch({
            events: [
              logEvent('r1', 'one'),
              logEvent('r2', 'two'),
              logEvent('r1', 'three'),
              logEvent('r2', 'four'),
            ],
            fences: { r1: 1, r2: 1 },
          }),
        );
      });

      it('reads the events after a seq, oldest first', async () => {
        const events = await store.readEvents({ after: 3 });
        expect(events.map((event) => event.seq)).toEqual([4, 5, 6]);
        expect(events[0]).toMatchObject({
          type: 'step.log',
          runId: 'r2',
          message: 'two',
          stepId: 'a',
          attempt: 1,
        });
      });

      it("reads one run's events only", async () => {
        const events = await store.readEvents({ runId: 'r1' });
        expect(events.map((event) => event.seq)).toEqual([1, 3, 5]);
        expect(events.every((event) => event.runId === 'r1')).toBe(true);
        expect((await store.readEvents({ runId: 'r1', after: 3 })).map((event) => event.seq)).toEqual([5]);
      });

      it('reads at most limit events', async () => {
        expect((await store.readEvents({ limit: 2 })).map((event) => event.seq)).toEqual([1, 2]);
        expect((await store.readEvents({ after: 2, limit: 3 })).map((event) => event.seq)).toEqual([3, 4, 5]);
        expect(
          (await store.readEvents({ runId: 'r2', after: 2, limit: 1 })).map((event) => event.seq),
        ).toEqual([4]);
      });

      it('reads nothing for an unknown run or past the last seq', async () => {
        expect(await store.readEvents({ runId: 'nope' })).toEqual([]);
        expect(await store.readEvents({ after: 6 })).toEqual([]);
      });
    });

    describe('fencing', () => {
      it("drops a stale writer's writes for a run taken over and reports it, while other runs' writes in the batch land", async () => {
        await store.commit(createRun('taken', { claim: ALICE }));
        await store.commit(createRun('kept', { claim: ALICE }));
        // Alice's lease on `taken` expires and Bob takes it over.
        const bobFence = await store.acquireLease('taken', BOB, { now: 1000 + TTL + 1, ttlMs: TTL });
        expect(bobFence).toBe(2);
        const seqBefore = await store.lastSeq();

        const stale = await store.commit(
          batch({
            runs: [
              { type: 'update', id: 'taken', phase: 'failed', planVersion: 2, updatedAt: 9 },
              { type: 'update', id: 'kept', phase: 'running', planVersion: 1, updatedAt: 9 },
            ],
            plans: [{ runId: 'taken', version: 2, plan: PLAN_V2 }],
            actors: [
              {
                runId: 'taken',
                actorId: 'task',
                kind: 'task',
                state: 'failed',
                snapshot: { by: 'alice' },
                updatedAt: 9,
              },
              {
                runId: 'kept',
                actorId: 'task',
                kind: 'task',
                state: 'running',
                snapshot: { by: 'alice' },
                updatedAt: 9,
              },
            ],
            events: [logEvent('taken', 'stale'), logEvent('kept', 'fresh')],
            attempts: [
              {
                runId: 'taken',
                stepId: 'a',
                attempt: 1,
                idempotencyKey: 'taken/a',
                status: 'started',
                startedAt: 9,
              },
              {
                runId: 'kept',
                stepId: 'a',
                attempt: 1,
                idempotencyKey: 'kept/a',
                status: 'started',
                startedAt: 9,
              },
            ],
            requests: [
              {
                type: 'open',
                row: { id: 'q-taken', runId: 'taken', stepId: 'a', key: 'k', question: '?', openedAt: 9 },
              },
              {
                type: 'open',
                row: { id: 'q-kept', runId: 'kept', stepId: 'a', key: 'k', question: '?', openedAt: 9 },
              },
            ],
            artifacts: [
              { runId: 'taken', kind: 'file', name: 'stale', body: 1, at: 9 },
              { runId: 'kept', kind: 'file', name: 'fresh', body: 2, at: 9 },
            ],
            fences: { taken: 1, kept: 1 },
          }),
        );

        expect(stale.lostRuns).toEqual(['taken']);
        expect(stale.events.map((event) => [event.seq, event.runId])).toEqual([[seqBefore + 1, 'kept']]);

        const taken = await store.loadRun('taken');
        expect(taken?.run.phase).toBe('queued');
        expect(taken?.run.planVersion).toBe(1);
        expect(taken?.plan).toEqual(PLAN_V1);
        expect(taken?.actors).toEqual([]);
        expect(taken?.run.lease).toMatchObject({ owner: BOB.owner, fence: 2 });
        expect(await store.attempts('taken')).toEqual([]);
        expect(await store.findRequest({ id: 'q-taken' })).toBeUndefined();
        expect(await store.artifacts('taken')).toEqual([]);
        expect(await store.readEvents({ runId: 'taken' })).toHaveLength(1);

        const kept = await store.loadRun('kept');
        expect(kept?.run.phase).toBe('running');
        expect(kept?.actors.map((row) => [row.actorId, row.state])).toEqual([['task', 'running']]);
        expect(await store.attempts('kept')).toHaveLength(1);
        expect(await store.findRequest({ id: 'q-kept' })).toBeDefined();
        expect((await store.artifacts('kept')).map((artifact) => artifact.name)).toEqual(['fresh']);

        // The new holder's writes land.
        const bob = await store.commit(
          batch({
            actors: [
              {
                runId: 'taken',
                actorId: 'task',
                kind: 'task',
                state: 'running',
                snapshot: { by: 'bob' },
                updatedAt: 10,
              },
            ],
            events: [logEvent('taken', 'bob')],
            fences: { taken: 2 },
          }),
        );
        expect(bob.lostRuns).toEqual([]);
        expect(bob.events).toHaveLength(1);
        expect((await store.loadRun('taken'))?.actors.map((row) => row.snapshot)).toEqual([{ by: 'bob' }]);
      });
    });

    describe('leases', () => {
      beforeEach(async () => {
        await store.commit(createRun('r1', { claim: ALICE, createdAt: 1000 }));
      });

      it('records the lease a new run is created with', async () => {
        expect((await store.getRun('r1'))?.lease).toEqual({ ...ALICE, expiresAt: 1000 + TTL, fence: 1 });
      });

      it('gives a free lease (released) to a claimant with the next fence', async () => {
        await store.releaseLeases(ALICE.owner);
        expect((await store.getRun('r1'))?.lease).toBeUndefined();
        expect(await store.acquireLease('r1', BOB, { now: 2000, ttlMs: TTL })).toBe(2);
        expect((await store.getRun('r1'))?.lease).toEqual({ ...BOB, expiresAt: 2000 + TTL, fence: 2 });
      });

      it('gives its holder its own lease again, with the next fence and a new expiry', async () => {
        expect(await store.acquireLease('r1', ALICE, { now: 2000, ttlMs: TTL })).toBe(2);
        expect(await store.acquireLease('r1', ALICE, { now: 3000, ttlMs: TTL })).toBe(3);
        expect((await store.getRun('r1'))?.lease).toEqual({ ...ALICE, expiresAt: 3000 + TTL, fence: 3 });
      });

      it('gives an expired lease to another claimant', async () => {
        expect(await store.acquireLease('r1', BOB, { now: 1000 + TTL + 1, ttlMs: TTL })).toBe(2);
        expect((await store.getRun('r1'))?.lease?.owner).toBe(BOB.owner);
      });

      it('gives a live lease whose holder is dead to another claimant at once', async () => {
        expect(await store.acquireLease('r1', BOB, { now: 1500, ttlMs: TTL, deadHolder: ALICE.owner })).toBe(
          2,
        );
        expect((await store.getRun('r1'))?.lease).toEqual({ ...BOB, expiresAt: 1500 + TTL, fence: 2 });
      });

      it('refuses a live lease held by another, and leaves it as it was', async () => {
        expect(await store.acquireLease('r1', BOB, { now: 1000 + TTL - 1, ttlMs: TTL })).toBeUndefined();
        // A dead holder that is not the holder changes nothing.
        expect(
          await store.acquireLease('r1', BOB, { now: 1500, ttlMs: TTL, deadHolder: 'someone-else' }),
        ).toBeUndefined();
        expect((await store.getRun('r1'))?.lease).toEqual({ ...ALICE, expiresAt: 1000 + TTL, fence: 1 });
      });

      it('refuses the lease of a run that does not exist', async () => {
        expect(await store.acquireLease('nope', BOB, { now: 1, ttlMs: TTL })).toBeUndefined();
      });

      it("renews every lease the owner holds and no one else's", async () => {
        await store.commit(createRun('r2', { claim: ALICE, createdAt: 1000 }));
        await store.commit(createRun('r3', { claim: BOB, createdAt: 1000 }));
        await store.renewLeases(ALICE.owner, 99_999);
        expect((await store.getRun('r1'))?.lease?.expiresAt).toBe(99_999);
        expect((await store.getRun('r2'))?.lease?.expiresAt).toBe(99_999);
        expect((await store.getRun('r3'))?.lease?.expiresAt).toBe(1000 + TTL);
        // A renewed lease is no longer expired at the old expiry.
        expect(await store.acquireLease('r1', BOB, { now: 1000 + TTL + 1, ttlMs: TTL })).toBeUndefined();
      });

      it("releases every lease the owner holds and no one else's", async () => {
        await store.commit(createRun('r2', { claim: ALICE, createdAt: 1000 }));
        await store.commit(createRun('r3', { claim: BOB, createdAt: 1000 }));
        await store.releaseLeases(ALICE.owner);
        expect((await store.getRun('r1'))?.lease).toBeUndefined();
        expect((await store.getRun('r2'))?.lease).toBeUndefined();
        expect((await store.getRun('r3'))?.lease?.owner).toBe(BOB.owner);
      });
    });

    describe('runs', () => {
      it('loads the latest plan and every actor row of a run, with versions counting writes', async () => {
        await store.commit(createRun('r1'));
        await store.commit(
          batch({
            runs: [{ type: 'update', id: 'r1', phase: 'running', planVersion: 1, updatedAt: 1100 }],
            actors: [
              {
                runId: 'r1',
                actorId: 'task',
                kind: 'task',
                state: 'running',
                snapshot: { n: 1 },
                updatedAt: 1100,
              },
              {
                runId: 'r1',
                actorId: 'a',
                kind: 'step',
                state: 'running',
                snapshot: { n: 1 },
                updatedAt: 1100,
              },
              {
                runId: 'r1',
                actorId: 'b',
                kind: 'step',
                state: 'pending',
                snapshot: { n: 1 },
                updatedAt: 1100,
              },
            ],
            fences: { r1: 1 },
          }),
        );
        await store.commit(
          batch({
            runs: [{ type: 'update', id: 'r1', phase: 'running', planVersion: 2, updatedAt: 1200 }],
            plans: [{ runId: 'r1', version: 2, plan: PLAN_V2 }],
            actors: [
              {
                runId: 'r1',
                actorId: 'a',
                kind: 'step',
                state: 'succeeded',
                snapshot: { n: 2, nested: { list: [1, 'x', null] } },
                updatedAt: 1200,
              },
              {
                runId: 'r1',
                actorId: 'c',
                kind: 'step',
                state: 'pending',
                snapshot: { n: 1 },
                updatedAt: 1200,
              },
            ],
            fences: { r1: 1 },
          }),
        );
        const loaded = await store.loadRun('r1');
        expect(loaded?.plan).toEqual(PLAN_V2);
        expect(loaded?.run).toMatchObject({
          id: 'r1',
          phase: 'running',
          planVersion: 2,
          updatedAt: 1200,
          createdAt: 1000,
        });
        const actors = [...(loaded?.actors ?? [])].sort((x, y) => x.actorId.localeCompare(y.actorId));
        expect(actors).toEqual([
          {
            runId: 'r1',
            actorId: 'a',
            kind: 'step',
            state: 'succeeded',
            snapshot: { n: 2, nested: { list: [1, 'x', null] } },
            version: 2,
          },
          { runId: 'r1', actorId: 'b', kind: 'step', state: 'pending', snapshot: { n: 1 }, version: 1 },
          { runId: 'r1', actorId: 'c', kind: 'step', state: 'pending', snapshot: { n: 1 }, version: 1 },
          { runId: 'r1', actorId: 'task', kind: 'task', state: 'running', snapshot: { n: 1 }, version: 1 },
        ]);
        expect(await store.loadRun('nope')).toBeUndefined();
        expect(await store.getRun('nope')).toBeUndefined();
      });

      it('keeps run metadata', async () => {
        const create = createRun('r1');
        const insert = create.runs[0]!;
        if (insert.type !== 'insert') throw new Error('createRun inserts');
        await store.commit({
          ...create,
          runs: [{ ...insert, row: { ...insert.row, metadata: { ticket: 'T-1', tags: ['a', 'b'], n: 3 } } }],
        });
        expect((await store.getRun('r1'))?.metadata).toEqual({ ticket: 'T-1', tags: ['a', 'b'], n: 3 });
      });

      it('lists runs newest first, filtered by phase and limited', async () => {
        await store.commit(createRun('old', { createdAt: 1000, phase: 'running' }));
        await store.commit(createRun('mid', { createdAt: 2000, phase: 'completed' }));
        await store.commit(createRun('new', { createdAt: 3000, phase: 'running' }));
        await store.commit(createRun('newest', { createdAt: 4000, phase: 'awaitingApproval' }));
        const ids = (rows: RunRow[]) => rows.map((row) => row.id);
        expect(ids(await store.listRuns())).toEqual(['newest', 'new', 'mid', 'old']);
        expect(ids(await store.listRuns({ phase: 'running' }))).toEqual(['new', 'old']);
        expect(ids(await store.listRuns({ phase: ['running', 'completed'] }))).toEqual(['new', 'mid', 'old']);
        expect(ids(await store.listRuns({ limit: 2 }))).toEqual(['newest', 'new']);
        expect(ids(await store.listRuns({ phase: ['running', 'awaitingApproval'], limit: 1 }))).toEqual([
          'newest',
        ]);
        expect(ids(await store.listRuns({ phase: 'failed' }))).toEqual([]);
      });

      it('lists the phase a run was updated to', async () => {
        await store.commit(createRun('r1', { phase: 'queued' }));
        await store.commit(
          batch({
            runs: [{ type: 'update', id: 'r1', phase: 'running', planVersion: 1, updatedAt: 1001 }],
            fences: { r1: 1 },
          }),
        );
        expect((await store.listRuns({ phase: 'queued' })).map((row) => row.id)).toEqual([]);
        expect((await store.listRuns({ phase: 'running' })).map((row) => row.id)).toEqual(['r1']);
      });
    });

    describe('attempts, requests and artifacts', () => {
      beforeEach(async () => {
        await store.commit(createRun('r1'));
        await store.commit(createRun('r2'));
      });

      it('round-trips attempts, a later write of the same attempt replacing its outcome', async () => {
        await store.commit(
          batch({
            attempts: [
              {
                runId: 'r1',
                stepId: 'a',
                attempt: 1,
                idempotencyKey: 'r1/a',
                status: 'started',
                startedAt: 10,
              },
              {
                runId: 'r1',
                stepId: 'b',
                attempt: 1,
                idempotencyKey: 'r1/b',
                status: 'started',
                startedAt: 11,
              },
              {
                runId: 'r2',
                stepId: 'a',
                attempt: 1,
                idempotencyKey: 'r2/a',
                status: 'started',
                startedAt: 12,
              },
            ],
            fences: { r1: 1, r2: 1 },
          }),
        );
        await store.commit(
          batch({
            attempts: [
              {
                runId: 'r1',
                stepId: 'a',
                attempt: 1,
                idempotencyKey: 'r1/a',
                status: 'failed',
                startedAt: 10,
                endedAt: 20,
                error: { message: 'boom', code: 'ACTION_FAILED', retryable: true },
              },
              {
                runId: 'r1',
                stepId: 'a',
                attempt: 2,
                idempotencyKey: 'r1/a',
                status: 'started',
                startedAt: 30,
              },
            ],
            fences: { r1: 1 },
          }),
        );
        await store.commit(
          batch({
            attempts: [
              {
                runId: 'r1',
                stepId: 'a',
                attempt: 2,
                idempotencyKey: 'r1/a',
                status: 'succeeded',
                startedAt: 30,
                endedAt: 40,
                output: { answer: [42, 'x'] },
              },
            ],
            fences: { r1: 1 },
          }),
        );
        expect(await store.attempts('r1', 'a')).toEqual([
          {
            runId: 'r1',
            stepId: 'a',
            attempt: 1,
            idempotencyKey: 'r1/a',
            status: 'failed',
            startedAt: 10,
            endedAt: 20,
            error: { message: 'boom', code: 'ACTION_FAILED', retryable: true },
          },
          {
            runId: 'r1',
            stepId: 'a',
            attempt: 2,
            idempotencyKey: 'r1/a',
            status: 'succeeded',
            startedAt: 30,
            endedAt: 40,
            output: { answer: [42, 'x'] },
          },
        ]);
        expect((await store.attempts('r1')).map((row) => `${row.stepId}#${row.attempt}`).sort()).toEqual([
          'a#1',
          'a#2',
          'b#1',
        ]);
        expect((await store.attempts('r2')).map((row) => row.idempotencyKey)).toEqual(['r2/a']);
        expect(await store.attempts('nope')).toEqual([]);
      });

      it('round-trips requests: opened, found by id and by key, answered once', async () => {
        const options = [
          { id: 'y', label: 'Yes' },
          { id: 'n', label: 'No' },
        ];
        await store.commit(
          batch({
            requests: [
              {
                type: 'open',
                row: {
                  id: 'q1',
                  runId: 'r1',
                  stepId: 'a',
                  key: 'go',
                  question: 'Go on?',
                  options,
                  openedAt: 10,
                },
              },
              {
                type: 'open',
                row: { id: 'q2', runId: 'r1', stepId: 'b', key: 'name', question: 'Name?', openedAt: 11 },
              },
              {
                type: 'open',
                row: { id: 'q3', runId: 'r2', stepId: 'a', key: 'go', question: 'Go on?', openedAt: 12 },
              },
            ],
            fences: { r1: 1, r2: 1 },
          }),
        );
        expect(await store.findRequest({ id: 'q1' })).toEqual({
          id: 'q1',
          runId: 'r1',
          stepId: 'a',
          key: 'go',
          question: 'Go on?',
          options,
          openedAt: 10,
        });
        expect((await store.findRequest({ runId: 'r1', stepId: 'b', key: 'name' }))?.id).toBe('q2');
        expect(await store.findRequest({ runId: 'r1', stepId: 'b', key: 'other' })).toBeUndefined();
        expect(await store.findRequest({ id: 'nope' })).toBeUndefined();
        expect((await store.openRequests()).map((row) => row.id)).toEqual(['q1', 'q2', 'q3']);
        expect((await store.openRequests('r1')).map((row) => row.id)).toEqual(['q1', 'q2']);

        await store.commit(
          batch({ requests: [{ type: 'answer', id: 'q1', answer: { optionId: 'y' }, at: 20, by: 'ann' }] }),
        );
        // A second answer to the same request changes nothing.
        await store.commit(
          batch({ requests: [{ type: 'answer', id: 'q1', answer: { optionId: 'n' }, at: 30, by: 'bob' }] }),
        );

        expect(await store.findRequest({ id: 'q1' })).toMatchObject({
          answer: { optionId: 'y' },
          answeredAt: 20,
          answeredBy: 'ann',
        });
        expect((await store.openRequests()).map((row) => row.id)).toEqual(['q2', 'q3']);
        expect((await store.requests('r1')).map((row) => [row.id, row.answeredAt])).toEqual([
          ['q1', 20],
          ['q2', undefined],
        ]);
      });

      it('round-trips artifacts in the order they were written, with ids', async () => {
        await store.commit(
          batch({
            artifacts: [
              { runId: 'r1', stepId: 'a', kind: 'file', name: 'notes.md', body: '# notes', at: 10 },
              { runId: 'r1', kind: 'summary', name: 'run', body: { ok: true, n: [1, 2] }, at: 11 },
              { runId: 'r2', kind: 'summary', name: 'other', body: null, at: 12 },
            ],
            fences: { r1: 1, r2: 1 },
          }),
        );
        const artifacts = await store.artifacts('r1');
        expect(artifacts.map(({ id: _id, ...rest }) => rest)).toEqual([
          { runId: 'r1', stepId: 'a', kind: 'file', name: 'notes.md', body: '# notes', at: 10 },
          { runId: 'r1', kind: 'summary', name: 'run', body: { ok: true, n: [1, 2] }, at: 11 },
        ]);
        expect(new Set(artifacts.map((artifact) => artifact.id)).size).toBe(2);
        expect(artifacts[0]!.id).toBeLessThan(artifacts[1]!.id);
        expect((await store.artifacts('r2')).map((artifact) => artifact.body)).toEqual([null]);
      });
    });

    describe('commands inbox', () => {
      it('keeps commands pending, in order, until a commit marks them applied', async () => {
        await store.commit(createRun('r1'));
        const first = await store.addCommand('r1', { kind: 'approvePlan', runId: 'r1', at: 1 }, 100);
        const second = await store.addCommand('r1', { kind: 'cancel', runId: 'r1', at: 2 }, 200);
        const third = await store.addCommand('ghost', { kind: 'cancel', runId: 'ghost', at: 3 }, 300);
        expect(second).toBeGreaterThan(first);
        expect(third).toBeGreaterThan(second);

        const pending = await store.pendingCommands();
        expect(pending).toEqual([
          { id: first, runId: 'r1', command: { kind: 'approvePlan', runId: 'r1', at: 1 }, createdAt: 100 },
          { id: second, runId: 'r1', command: { kind: 'cancel', runId: 'r1', at: 2 }, createdAt: 200 },
          { id: third, runId: 'ghost', command: { kind: 'cancel', runId: 'ghost', at: 3 }, createdAt: 300 },
        ]);

        await store.commit(
          batch({
            commandsApplied: [
              { id: first, at: 400 },
              { id: third, at: 400, error: 'no run "ghost"' },
            ],
          }),
        );
        expect((await store.pendingCommands()).map((row) => row.id)).toEqual([second]);
      });
    });

    describe('audit trail', () => {
      it('derives hash-chained rows from what a commit writes, in the same transaction', async () => {
        await store.commit(createRun('r1'));
        await store.commit(
          batch({
            events: [
              {
                type: 'approval.resolved',
                at: 2,
                runId: 'r1',
                kind: 'plan',
                approved: true,
                decision: 'approve',
                by: 'ann',
              },
              {
                type: 'step.transition',
                at: 3,
                runId: 'r1',
                stepId: 'a',
                from: 'pending',
                to: 'running',
                attempt: 1,
              },
              {
                type: 'step.transition',
                at: 5,
                runId: 'r1',
                stepId: 'a',
                from: 'running',
                to: 'succeeded',
                attempt: 1,
              },
              logEvent('r1', 'not audited'),
            ],
            attempts: [
              {
                runId: 'r1',
                stepId: 'a',
                attempt: 1,
                idempotencyKey: 'r1/a',
                status: 'succeeded',
                startedAt: 3,
                endedAt: 5,
                output: 1,
              },
            ],
            artifacts: [
              {
                runId: 'r1',
                stepId: 'a',
                kind: 'shell',
                name: 'git',
                body: { command: 'git', exitCode: 0, durationMs: 2 },
                at: 4,
              },
            ],
            fences: { r1: 1 },
          }),
        );
        const rows = await store.audit({ runId: 'r1' });
        expect(rows.map((row) => [row.id, row.action, row.stepId ?? null, row.by ?? null])).toEqual([
          [1, 'run.created', null, null],
          [2, 'plan.approved', null, 'ann'],
          [3, 'step.started', 'a', null],
          [4, 'shell.exited', 'a', null],
          [5, 'attempt.succeeded', 'a', null],
          [6, 'step.succeeded', 'a', null],
        ]);
        expect(rows[3]?.details).toEqual({ command: 'git', exitCode: 0, durationMs: 2 });
        expect(rows[4]?.details).toEqual({ attempt: 1, idempotencyKey: 'r1/a', durationMs: 2 });
        expect(rows[0]?.prevHash).toBe('0'.repeat(64));
        rows.slice(1).forEach((row, index) => expect(row.prevHash).toBe(rows[index]!.hash));
        expect(await store.verifyAudit()).toEqual({ ok: true, rows: 6 });
      });

      it('writes no audit row of a batch that fails, and the chain goes on intact', async () => {
        await store.commit(createRun('r1'));
        const failing = batch({
          runs: [{ type: 'insert', row: runRow('r1', 2), lease: lease(ALICE, 2 + TTL) }],
          events: [
            {
              type: 'approval.resolved',
              at: 2,
              runId: 'r1',
              kind: 'plan',
              approved: true,
              decision: 'approve',
              by: 'eve',
            },
          ],
          fences: { r1: 1 },
        });
        await expect(store.commit(failing)).rejects.toThrow();
        expect((await store.audit()).map((row) => row.action)).toEqual(['run.created']);
        await store.commit(
          batch({
            events: [
              { type: 'control.applied', at: 3, runId: 'r1', stepId: 'a', action: 'cancel', by: 'bob' },
            ],
            fences: { r1: 1 },
          }),
        );
        expect((await store.audit()).map((row) => [row.id, row.action])).toEqual([
          [1, 'run.created'],
          [2, 'control.cancel'],
        ]);
        expect(await store.verifyAudit()).toEqual({ ok: true, rows: 2 });
      });

      it("does not audit a stale writer's dropped writes", async () => {
        await store.commit(createRun('taken', { claim: ALICE }));
        await store.commit(createRun('kept', { claim: ALICE }));
        await store.acquireLease('taken', BOB, { now: 1000 + TTL + 1, ttlMs: TTL });
        await store.commit(
          batch({
            events: [
              { type: 'run.transition', at: 9, runId: 'taken', from: 'running', to: 'cancelled' },
              { type: 'run.transition', at: 9, runId: 'kept', from: 'running', to: 'completed' },
            ],
            fences: { taken: 1, kept: 1 },
          }),
        );
        expect((await store.audit({ runId: 'taken' })).map((row) => row.action)).toEqual(['run.created']);
        expect((await store.audit({ runId: 'kept' })).map((row) => row.action)).toEqual([
          'run.created',
          'run.completed',
        ]);
      });

      it('audits budget decisions, including budget event types added later', async () => {
        await store.commit(createRun('r1'));
        await store.commit(
          batch({
            events: [
              {
                type: 'budget.exceeded',
                at: 2,
                runId: 'r1',
                limit: 'maxCostUsd',
                detail: 'spent $1.20 of $1.00',
              },
              { type: 'budget.extended', at: 3, runId: 'r1', by: 'ann', budget: { maxCostUsd: 5 } } as never,
              {
                type: 'approval.resolved',
                at: 4,
                runId: 'r1',
                kind: 'budget',
                approved: true,
                decision: 'extend',
                by: 'bob',
                budget: { maxCostUsd: 10 },
              } as never,
            ],
            fences: { r1: 1 },
          }),
        );
        const rows = await store.audit({ runId: 'r1' });
        expect(rows.slice(1).map((row) => [row.action, row.by ?? null, row.details])).toEqual([
          ['budget.exceeded', null, { limit: 'maxCostUsd', detail: 'spent $1.20 of $1.00' }],
          ['budget.extended', 'ann', { budget: { maxCostUsd: 5 } }],
          ['budget.extended', 'bob', { decision: 'extend', budget: { maxCostUsd: 10 } }],
        ]);
      });
    });

    describe('episodes', () => {
      it('remembers delegation outcomes and ended runs, searchable by any text', async () => {
        await store.commit(createRun('r1'));
        await store.commit(
          batch({
            artifacts: [
              {
                runId: 'r1',
                stepId: 'a',
                kind: 'delegation',
                name: 'coder',
                body: {
                  agent: 'coder',
                  agentKind: 'cli',
                  round: 1,
                  outcome: 'failed',
                  spec: 'Upgrade the parser',
                  durationMs: 4,
                  error: { message: 'tests failed' },
                },
                at: 5,
              },
            ],
            events: [
              {
                type: 'step.transition',
                at: 6,
                runId: 'r1',
                stepId: 'a',
                from: 'running',
                to: 'failed',
                attempt: 1,
                error: { message: 'tests failed' },
              },
              {
                type: 'run.transition',
                at: 7,
                runId: 'r1',
                from: 'running',
                to: 'failed',
                reason: 'not every step succeeded',
              },
            ],
            fences: { r1: 1 },
          }),
        );
        const parser = await store.searchEpisodes('parser');
        expect(parser.map((episode) => [episode.kind, episode.title])).toEqual([
          ['delegation', 'Delegated to coder, failed: Upgrade the parser'],
        ]);
        const runs = await store.searchEpisodes('goal r1');
        expect(runs[0]).toMatchObject({ kind: 'run', runId: 'r1', title: 'Run failed: goal of r1', at: 7 });
        expect(runs[0]?.text).toContain('- a (note) failed: tests failed');
        expect(runs[0]?.text).toContain('- b (note) pending');
        expect(await store.searchEpisodes('"parser AND (')).toHaveLength(1);
        expect(await store.searchEpisodes('')).toEqual([]);
        expect(await store.searchEpisodes('parser', { limit: 1 })).toHaveLength(1);
      });
    });
  });
}
