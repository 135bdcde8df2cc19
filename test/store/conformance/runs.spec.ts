/** Runs: rows, the latest plan, actor rows with write counts, pages of the run list. */
import { describe, expect, it } from 'vitest';
import type { RunRow } from '../../../src/store/rows.js';
import { batch, createRun, EMPTY_HEAD, PLAN_V2, type StoreInit, useStore } from './fixtures.js';

export function describeRunSpec(init: StoreInit): void {
  describe(`${init.name}: runs`, () => {
    const it$ = useStore(init);

    it('loads the latest plan, every actor row of a run with versions counting writes, and its audit head', async () => {
      const { store } = it$;
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
      const loaded = await store.runs.loadRun('r1');
      expect(loaded?.plan).toEqual(PLAN_V2);
      expect(loaded?.auditHead).toEqual(EMPTY_HEAD);
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
      expect(await store.runs.loadRun('nope')).toBeUndefined();
      expect(await store.runs.getRun('nope')).toBeUndefined();
    });

    it('keeps run metadata', async () => {
      const { store } = it$;
      const create = createRun('r1');
      const insert = create.runs[0]!;
      if (insert.type !== 'insert') throw new Error('createRun inserts');
      await store.commit({
        ...create,
        runs: [{ ...insert, row: { ...insert.row, metadata: { ticket: 'T-1', tags: ['a', 'b'], n: 3 } } }],
      });
      expect((await store.runs.getRun('r1'))?.metadata).toEqual({ ticket: 'T-1', tags: ['a', 'b'], n: 3 });
    });

    it('lists runs newest first, filtered by phase, limited, and a page at a time', async () => {
      const { store } = it$;
      await store.commit(createRun('old', { createdAt: 1000, phase: 'running' }));
      await store.commit(createRun('mid', { createdAt: 2000, phase: 'completed' }));
      await store.commit(createRun('new', { createdAt: 3000, phase: 'running' }));
      await store.commit(createRun('newest', { createdAt: 4000, phase: 'awaitingApproval' }));
      await store.commit(createRun('twin', { createdAt: 3000, phase: 'running' }));
      const ids = (rows: RunRow[]) => rows.map((row) => row.id);
      expect(ids(await store.runs.listRuns())).toEqual(['newest', 'twin', 'new', 'mid', 'old']);
      expect(ids(await store.runs.listRuns({ phase: 'running' }))).toEqual(['twin', 'new', 'old']);
      expect(ids(await store.runs.listRuns({ phase: ['running', 'completed'] }))).toEqual([
        'twin',
        'new',
        'mid',
        'old',
      ]);
      expect(ids(await store.runs.listRuns({ limit: 2 }))).toEqual(['newest', 'twin']);
      expect(ids(await store.runs.listRuns({ phase: ['running', 'awaitingApproval'], limit: 1 }))).toEqual([
        'newest',
      ]);
      expect(ids(await store.runs.listRuns({ phase: 'failed' }))).toEqual([]);
      // Pages: each continues after the last run of the one before (ties broken by id).
      expect(ids(await store.runs.listRuns({ limit: 2, before: 'twin' }))).toEqual(['new', 'mid']);
      expect(ids(await store.runs.listRuns({ limit: 2, before: 'mid' }))).toEqual(['old']);
      expect(ids(await store.runs.listRuns({ phase: 'running', before: 'twin' }))).toEqual(['new', 'old']);
      expect(ids(await store.runs.listRuns({ before: 'old' }))).toEqual([]);
    });

    it('lists the phase a run was updated to', async () => {
      const { store } = it$;
      await store.commit(createRun('r1', { phase: 'queued' }));
      await store.commit(
        batch({
          runs: [{ type: 'update', id: 'r1', phase: 'running', planVersion: 1, updatedAt: 1001 }],
          fences: { r1: 1 },
        }),
      );
      expect((await store.runs.listRuns({ phase: 'queued' })).map((row) => row.id)).toEqual([]);
      expect((await store.runs.listRuns({ phase: 'running' })).map((row) => row.id)).toEqual(['r1']);
    });
  });
}
