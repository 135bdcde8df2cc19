/**
 * The commit: one atomic batch, events numbered without gaps, every write of a run fenced,
 * outputs stored once, and two writers committing while a reader follows the log.
 */
import { describe, expect, it } from 'vitest';
import type { UnsequencedEvent } from '../../../src/model/events.js';
import {
  ALICE,
  BOB,
  batch,
  chained,
  createdEvent,
  createRun,
  EMPTY_HEAD,
  lease,
  logEvent,
  output,
  PLAN_V1,
  PLAN_V2,
  runRow,
  type StoreInit,
  TTL,
  useStore,
} from './fixtures.js';

export function describeCommitSpec(init: StoreInit): void {
  describe(`${init.name}: commit`, () => {
    const it$ = useStore(init);

    it('writes a batch of runs, plans, actors and events and returns the events with their seq', async () => {
      const { store } = it$;
      const created = createRun('r1');
      const result = await store.commit({
        ...created,
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
        events: [{ event: createdEvent('r1') }, { event: logEvent('r1', 'hello') }],
      });
      expect(result.lostRuns).toEqual([]);
      expect(result.events.map((event) => [event.seq, event.type])).toEqual([
        [1, 'run.created'],
        [2, 'step.log'],
      ]);
      expect(await store.events.readEvents({})).toEqual(result.events);
      expect(await store.events.lastSeq()).toBe(2);
      expect((await store.runs.getRun('r1'))?.phase).toBe('queued');
    });

    it('writes nothing of a batch that fails midway on a constraint violation', async () => {
      const { store } = it$;
      await store.commit(createRun('existing'));
      const before = await store.events.lastSeq();
      const out = output('fresh', { big: 'x' });
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
        outputs: [out.row],
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
        audit: chained(EMPTY_HEAD, 'fresh', ['run.created']).rows,
        episodes: [{ runId: 'existing', kind: 'run', title: 'never', text: 'never', at: 2000 }],
        fences: { fresh: 1, existing: 1 },
      });
      await expect(store.commit(failing)).rejects.toThrow();

      expect(await store.runs.getRun('fresh')).toBeUndefined();
      expect(await store.runs.loadRun('fresh')).toBeUndefined();
      expect(await store.events.lastSeq()).toBe(before);
      expect(await store.events.readEvents({ after: before })).toEqual([]);
      expect(await store.records.attempts('existing')).toEqual([]);
      expect(await store.records.artifacts('existing')).toEqual([]);
      expect(await store.records.output('fresh', out.ref)).toBeUndefined();
      expect(await store.auditLog.audit({ runId: 'fresh' })).toEqual([]);
      expect(await store.records.searchEpisodes('never')).toEqual([]);
      expect((await store.runs.getRun('existing'))?.createdAt).toBe(1000);

      // The store goes on working, and seq stays gapless.
      const next = await store.commit(
        batch({ events: [logEvent('existing', 'after')], fences: { existing: 1 } }),
      );
      expect(next.events.map((event) => event.seq)).toEqual([before + 1]);
    });

    it('numbers events gaplessly and increasingly across commits', async () => {
      const { store } = it$;
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
      expect((await store.events.readEvents({})).map((event) => event.seq)).toEqual(seqs);
      expect(await store.events.lastSeq()).toBe(8);
    });

    it("drops every kind of write of a fenced-out writer for the run taken over, and reports it, while other runs' writes land", async () => {
      const { store } = it$;
      await store.commit(createRun('taken', { claim: ALICE }));
      await store.commit(createRun('kept', { claim: ALICE }));
      await store.commit(
        batch({
          requests: [
            {
              type: 'open',
              row: { id: 'q-old', runId: 'taken', stepId: 'a', key: 'old', question: '?', openedAt: 5 },
            },
            {
              type: 'open',
              row: { id: 'q-closed', runId: 'taken', stepId: 'a', key: 'closed', question: '?', openedAt: 5 },
            },
          ],
          fences: { taken: 1 },
        }),
      );
      await store.commit(
        batch({ requests: [{ type: 'close', runId: 'taken', id: 'q-closed', at: 6 }], fences: { taken: 1 } }),
      );
      const command = await store.inbox.addCommand('taken', { kind: 'cancel' }, 7);
      // Alice's lease on `taken` expires and Bob takes it over.
      const bobFence = await store.leases.acquireLease('taken', BOB, { now: 1000 + TTL + 1, ttlMs: TTL });
      expect(bobFence).toBe(2);
      const seqBefore = await store.events.lastSeq();
      const takenOut = output('taken', 'stale output');
      const keptOut = output('kept', 'fresh output');

      const stale = await store.commit({
        ...batch({
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
          outputs: [takenOut.row, keptOut.row],
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
            { type: 'answer', runId: 'taken', id: 'q-old', answer: 'stale', at: 9, by: 'alice' },
            { type: 'close', runId: 'taken', id: 'q-old', at: 9 },
            { type: 'reopen', runId: 'taken', id: 'q-closed' },
          ],
          artifacts: [
            { runId: 'taken', kind: 'file', name: 'stale', body: 1, at: 9 },
            { runId: 'kept', kind: 'file', name: 'fresh', body: 2, at: 9 },
          ],
          commandsApplied: [{ id: command, runId: 'taken', at: 9 }],
          audit: [...chained(EMPTY_HEAD, 'taken', ['x']).rows, ...chained(EMPTY_HEAD, 'kept', ['y']).rows],
          episodes: [
            { runId: 'taken', kind: 'run', title: 'stale summary', text: 'stale', at: 9 },
            { runId: 'kept', kind: 'run', title: 'fresh summary', text: 'fresh', at: 9 },
          ],
          fences: { taken: 1, kept: 1 },
        }),
        events: [
          { event: logEvent('taken', 'stale') },
          { event: logEvent('kept', 'fresh') },
          { event: outputEvent('taken', 'stale output'), outputRef: takenOut.ref },
        ],
      });

      expect(stale.lostRuns).toEqual(['taken']);
      expect(stale.events.map((event) => [event.seq, event.runId])).toEqual([[seqBefore + 1, 'kept']]);

      const taken = await store.runs.loadRun('taken');
      expect(taken?.run.phase).toBe('queued');
      expect(taken?.run.planVersion).toBe(1);
      expect(taken?.plan).toEqual(PLAN_V1);
      expect(taken?.actors).toEqual([]);
      expect(taken?.auditHead).toEqual(EMPTY_HEAD);
      expect(taken?.run.lease).toMatchObject({ owner: BOB.owner, fence: 2 });
      expect(await store.records.attempts('taken')).toEqual([]);
      expect(await store.records.output('taken', takenOut.ref)).toBeUndefined();
      expect(await store.inbox.findRequest({ id: 'q-taken' })).toBeUndefined();
      expect(await store.inbox.findRequest({ id: 'q-old' })).not.toHaveProperty('answer');
      expect(await store.inbox.findRequest({ id: 'q-old' })).not.toHaveProperty('closedAt');
      expect(await store.inbox.findRequest({ id: 'q-closed' })).toHaveProperty('closedAt', 6);
      expect((await store.inbox.pendingCommands()).map((row) => row.id)).toEqual([command]);
      expect(await store.records.artifacts('taken')).toEqual([]);
      expect(await store.auditLog.audit({ runId: 'taken' })).toEqual([]);
      expect(await store.records.searchEpisodes('stale')).toEqual([]);
      expect(await store.events.readEvents({ runId: 'taken' })).toHaveLength(1);

      const kept = await store.runs.loadRun('kept');
      expect(kept?.run.phase).toBe('running');
      expect(kept?.actors.map((row) => [row.actorId, row.state])).toEqual([['task', 'running']]);
      expect(kept?.auditHead.position).toBe(1);
      expect(await store.records.attempts('kept')).toHaveLength(1);
      expect(await store.records.output('kept', keptOut.ref)).toBe(JSON.stringify('fresh output'));
      expect(await store.inbox.findRequest({ id: 'q-kept' })).toBeDefined();
      expect((await store.records.artifacts('kept')).map((artifact) => artifact.name)).toEqual(['fresh']);
      expect((await store.records.searchEpisodes('fresh summary')).map((episode) => episode.runId)).toEqual([
        'kept',
      ]);

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
          commandsApplied: [{ id: command, runId: 'taken', at: 10 }],
          events: [logEvent('taken', 'bob')],
          fences: { taken: 2 },
        }),
      );
      expect(bob.lostRuns).toEqual([]);
      expect(bob.events).toHaveLength(1);
      expect((await store.runs.loadRun('taken'))?.actors.map((row) => row.snapshot)).toEqual([{ by: 'bob' }]);
      expect(await store.inbox.pendingCommands()).toEqual([]);
    });

    it('closes a command of an ended or unknown run without a fence when it is marked unowned', async () => {
      const { store } = it$;
      const ghost = await store.inbox.addCommand('ghost', { kind: 'cancel' }, 1);
      await store.commit(batch({ commandsApplied: [{ id: ghost, runId: 'ghost', at: 2 }] }));
      expect((await store.inbox.pendingCommands()).map((row) => row.id)).toEqual([ghost]);
      await store.commit(
        batch({
          commandsApplied: [{ id: ghost, runId: 'ghost', at: 2, error: 'no run "ghost"', unowned: true }],
        }),
      );
      expect(await store.inbox.pendingCommands()).toEqual([]);
    });

    it('stores an output once however many rows refer to it, and gives it back with each', async () => {
      const { store } = it$;
      await store.commit(createRun('r1'));
      const value = { text: 'y'.repeat(10_000), n: [1, 2, 3] };
      const out = output('r1', value);
      await store.commit({
        ...batch({
          actors: [
            {
              runId: 'r1',
              actorId: 'a',
              kind: 'step',
              state: 'succeeded',
              snapshot: { value: 'succeeded' },
              outputRef: out.ref,
              updatedAt: 5,
            },
          ],
          outputs: [out.row, out.row],
          attempts: [
            {
              runId: 'r1',
              stepId: 'a',
              attempt: 1,
              idempotencyKey: 'r1/a',
              status: 'succeeded',
              startedAt: 3,
              endedAt: 5,
              outputRef: out.ref,
            },
          ],
          fences: { r1: 1 },
        }),
        events: [{ event: outputEvent('r1', value), outputRef: out.ref }],
      });
      // The same output again, from a later commit of the same run.
      await store.commit(batch({ outputs: [out.row], fences: { r1: 1 } }));

      expect(await store.records.output('r1', out.ref)).toBe(out.row.json);
      expect((await store.events.readEvents({ runId: 'r1' })).at(-1)).toMatchObject({
        type: 'step.output',
        output: value,
      });
      expect(await store.records.attempts('r1')).toEqual([
        {
          runId: 'r1',
          stepId: 'a',
          attempt: 1,
          idempotencyKey: 'r1/a',
          status: 'succeeded',
          startedAt: 3,
          endedAt: 5,
          output: value,
          outputRef: out.ref,
        },
      ]);
      expect((await store.runs.loadRun('r1'))?.actors).toEqual([
        {
          runId: 'r1',
          actorId: 'a',
          kind: 'step',
          state: 'succeeded',
          snapshot: { value: 'succeeded' },
          output: value,
          version: 1,
        },
      ]);
    });

    it('keeps two writers committing at once apart: a reader following the log sees every event once, in order', async () => {
      if (!init.connect) return;
      const { store } = it$;
      const other = await it$.connect();
      await store.commit(createRun('a-run', { claim: ALICE }));
      await other.commit(createRun('b-run', { claim: BOB }));
      const seen: number[] = [];
      let cursor = 0;
      const follow = async () => {
        const page = await store.events.readEvents({ after: cursor });
        for (const event of page) seen.push(event.seq);
        cursor = page.at(-1)?.seq ?? cursor;
      };
      const rounds = 40;
      let writing = true;
      // One reader, following from its cursor while both writers commit.
      const reader = (async () => {
        while (writing) {
          await follow();
          await new Promise((resolve) => setImmediate(resolve));
        }
        await follow();
      })();
      const commits: Array<Promise<unknown>> = [];
      for (let round = 0; round < rounds; round++) {
        commits.push(
          store.commit(
            batch({
              events: [logEvent('a-run', `a${round}`), logEvent('a-run', `a${round}'`)],
              fences: { 'a-run': 1 },
            }),
          ),
          other.commit(batch({ events: [logEvent('b-run', `b${round}`)], fences: { 'b-run': 1 } })),
        );
        if (round % 4 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(commits);
      writing = false;
      await reader;
      const total = 2 + rounds * 3;
      expect(seen).toEqual(Array.from({ length: total }, (_, index) => index + 1));
      const messages = (await other.events.readEvents({ runId: 'a-run' })).flatMap(
        (event: UnsequencedEvent) => (event.type === 'step.log' ? [event.message] : []),
      );
      expect(messages).toEqual(
        Array.from({ length: rounds }, (_, round) => [`a${round}`, `a${round}'`]).flat(),
      );
    });
  });
}

function outputEvent(runId: string, value: unknown): UnsequencedEvent {
  return { type: 'step.output', at: 5, runId, stepId: 'a', attempt: 1, output: value as never };
}
