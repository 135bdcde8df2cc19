/**
 * The audit log as stored: chained rows kept as given, each run's head moved with its
 * rows, anchors on the rows a commit writes, and the audit-key record set once.
 */
import { describe, expect, it } from 'vitest';
import { auditKeyRecord, keyedSince } from '../../../src/audit/hash-chain.js';
import { batch, chained, createRun, EMPTY_HEAD, logEvent, type StoreInit, useStore } from './fixtures.js';

export function describeAuditLogSpec(init: StoreInit): void {
  describe(`${init.name}: audit log`, () => {
    const it$ = useStore(init);

    it('stores chained rows as given, by run and position, and moves each run head with its last row', async () => {
      const { store } = it$;
      await store.commit(createRun('r1'));
      await store.commit(createRun('r2'));
      const first = chained(EMPTY_HEAD, 'r1', ['run.created', 'plan.approved']);
      const other = chained(EMPTY_HEAD, 'r2', ['run.created']);
      await store.commit(batch({ audit: [...first.rows, ...other.rows], fences: { r1: 1, r2: 1 } }));
      const next = chained(first.head, 'r1', ['run.completed'], 'a-key-of-sixteen-chars');
      await store.commit(batch({ audit: next.rows, events: [logEvent('r1', 'end')], fences: { r1: 1 } }));

      const rows = await store.auditLog.audit({ runId: 'r1' });
      expect(rows.map(({ id: _id, ...row }) => row)).toEqual([...first.rows, ...next.rows]);
      expect(rows.map((row) => row.keyed)).toEqual([false, false, true]);
      const all = await store.auditLog.audit();
      expect(all).toHaveLength(4);
      expect(all.map((row) => row.id)).toEqual([...all.map((row) => row.id)].sort((a, b) => a - b));
      expect((await store.runs.loadRun('r1'))?.auditHead).toEqual(next.head);
      expect((await store.runs.loadRun('r2'))?.auditHead).toEqual(other.head);
    });

    it("anchors every run's log with its chain length, which a head rewound by hand does not move", async () => {
      const { store } = it$;
      await store.commit(createRun('r1'));
      await store.commit(createRun('quiet'));
      const rows = chained(EMPTY_HEAD, 'r1', ['run.created', 'step.started', 'step.succeeded']);
      await store.commit(
        batch({
          audit: rows.rows,
          events: [logEvent('r1', 'x')],
          artifacts: [{ runId: 'r1', kind: 'file', name: 'f', body: 1, at: 2 }],
          fences: { r1: 1 },
        }),
      );
      const anchors = (await store.auditLog.auditAnchors()).sort((a, b) => a.runId.localeCompare(b.runId));
      expect(anchors).toEqual([
        { runId: 'quiet', createdAt: 1000, head: EMPTY_HEAD, anchor: 0, rows: 0 },
        { runId: 'r1', createdAt: 1000, head: rows.head, anchor: 3, rows: 3 },
      ]);
    });

    it('sets the audit-key record once and gives it back', async () => {
      const { store } = it$;
      const key = 'a-key-of-sixteen-chars';
      expect(await store.auditLog.auditKeyRecord()).toBeUndefined();
      const record = auditKeyRecord(5000, key);
      expect(await store.auditLog.auditKeyRecord(record)).toBe(record);
      expect(await store.auditLog.auditKeyRecord(auditKeyRecord(9000, key))).toBe(record);
      expect(keyedSince(record, key)).toBe(5000);
      expect(keyedSince(record, 'another-key-of-16-chars')).toBeUndefined();
    });
  });
}
