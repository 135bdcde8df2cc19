/**
 * Retention: pruning deletes whole finished runs (every row of theirs, their audit chain
 * included) older than a time, keeps everything else, and leaves the audit verifiable.
 */
import { describe, expect, it } from 'vitest';
import { verifyAudit } from '../../../src/audit/verify-audit.js';
import {
  batch,
  chained,
  createRun,
  EMPTY_HEAD,
  logEvent,
  output,
  type StoreInit,
  useStore,
} from './fixtures.js';

export function describeRetentionSpec(init: StoreInit): void {
  describe(`${init.name}: retention`, () => {
    const it$ = useStore(init);

    /** A run with a row of every kind, ended (or not) at `endedAt`. */
    async function seed(runId: string, phase: 'completed' | 'failed' | 'running', endedAt: number) {
      const { store } = it$;
      const created = chained(EMPTY_HEAD, runId, ['run.created']);
      await store.commit({ ...createRun(runId, { createdAt: 1000 }), audit: created.rows });
      const out = output(runId, { text: `output of ${runId}` });
      await store.commit(
        batch({
          runs: [{ type: 'update', id: runId, phase, planVersion: 1, updatedAt: endedAt }],
          actors: [
            {
              runId,
              actorId: 'a',
              kind: 'step',
              state: 'succeeded',
              snapshot: {},
              outputRef: out.ref,
              updatedAt: endedAt,
            },
          ],
          outputs: [out.row],
          attempts: [
            {
              runId,
              stepId: 'a',
              attempt: 1,
              idempotencyKey: `${runId}/a`,
              status: 'succeeded',
              startedAt: 1001,
              endedAt,
              outputRef: out.ref,
            },
          ],
          requests: [
            {
              type: 'open',
              row: { id: `q-${runId}`, runId, stepId: 'a', key: 'k', question: '?', openedAt: 1002 },
            },
          ],
          artifacts: [{ runId, stepId: 'a', kind: 'file', name: 'f', body: 1, at: 1003 }],
          audit: chained(created.head, runId, ['step.succeeded']).rows,
          episodes: [{ runId, kind: 'run', title: `Run ${phase}: ${runId}`, text: 'goal', at: endedAt }],
          events: [logEvent(runId, 'working'), logEvent(runId, 'ended')],
          fences: { [runId]: 1 },
        }),
      );
      await store.inbox.addCommand(runId, { kind: 'cancel', runId, at: 1 }, 1004);
    }

    it('deletes whole finished runs older than the time, with every row of theirs, and keeps the rest', async () => {
      const { store } = it$;
      await seed('old-done', 'completed', 2000);
      await seed('old-failed', 'failed', 2500);
      await seed('new-done', 'completed', 9000);
      await seed('old-running', 'running', 2000);
      expect(await verifyAudit(store)).toMatchObject({ ok: true });

      const pruned = await store.runs.pruneRuns({
        endedBefore: 5000,
        phases: ['completed', 'failed', 'cancelled'],
      });
      expect({ runIds: [...pruned.runIds].sort(), events: pruned.events }).toEqual({
        runIds: ['old-done', 'old-failed'],
        events: 6,
      });

      for (const runId of ['old-done', 'old-failed']) {
        expect(await store.runs.getRun(runId)).toBeUndefined();
        expect(await store.runs.loadRun(runId)).toBeUndefined();
        expect(await store.events.readEvents({ runId })).toEqual([]);
        expect(await store.records.attempts(runId)).toEqual([]);
        expect(await store.records.artifacts(runId)).toEqual([]);
        expect(await store.inbox.requests(runId)).toEqual([]);
        expect(await store.auditLog.audit({ runId })).toEqual([]);
      }
      expect((await store.inbox.pendingCommands()).map((row) => row.runId).sort()).toEqual([
        'new-done',
        'old-running',
      ]);
      for (const runId of ['new-done', 'old-running']) {
        expect(await store.runs.getRun(runId)).toBeDefined();
        expect(await store.events.readEvents({ runId })).toHaveLength(3);
        expect(await store.auditLog.audit({ runId })).toHaveLength(2);
      }
      // Episodes are memory: they outlive the runs they came from.
      expect((await store.records.searchEpisodes('old')).map((episode) => episode.runId).sort()).toEqual([
        'old-done',
        'old-failed',
        'old-running',
      ]);
      expect(await verifyAudit(store)).toMatchObject({ ok: true, runs: 2 });
      // Numbering goes on after the last seq, pruned or not.
      const last = await store.events.lastSeq();
      const next = await store.commit(
        batch({ events: [logEvent('new-done', 'late')], fences: { 'new-done': 1 } }),
      );
      expect(next.events.map((event) => event.seq)).toEqual([last + 1]);
    });

    it('prunes only the phases asked for, and never an unfinished run whatever it is asked', async () => {
      const { store } = it$;
      await seed('done', 'completed', 2000);
      await seed('failed', 'failed', 2000);
      await seed('running', 'running', 2000);
      expect(await store.runs.pruneRuns({ endedBefore: 5000, phases: ['failed', 'running'] })).toEqual({
        runIds: ['failed'],
        events: 3,
      });
      expect((await store.runs.listRuns()).map((run) => run.id).sort()).toEqual(['done', 'running']);
      expect(await store.runs.pruneRuns({ endedBefore: 5000, phases: [] })).toEqual({
        runIds: [],
        events: 0,
      });
      expect(await verifyAudit(store)).toMatchObject({ ok: true });
    });
  });
}
