/**
 * Claiming runs for workers: the unfinished runs that need a driver, oldest first, up to a
 * limit, never one run to two claimants; and the holders of live leases on a host.
 */
import { describe, expect, it } from 'vitest';
import { ALICE, BOB, batch, createRun, type StoreInit, TTL, useStore } from './fixtures.js';

const CAROL = { owner: 'host-b:300:carol', host: 'host-b', pid: 300 };

export function describeClaimSpec(init: StoreInit): void {
  describe(`${init.name}: claims`, () => {
    const it$ = useStore(init);

    async function seed() {
      const { store } = it$;
      // free: released; expired: its lease ran out; live: held; done: finished.
      await store.commit(createRun('free', { claim: ALICE, createdAt: 1000 }));
      await store.commit(createRun('expired', { claim: BOB, createdAt: 2000 }));
      await store.commit(createRun('live', { claim: CAROL, createdAt: 900 }));
      await store.commit(createRun('done', { claim: CAROL, createdAt: 800 }));
      await store.commit(
        batch({
          runs: [{ type: 'update', id: 'done', phase: 'completed', planVersion: 1, updatedAt: 801 }],
          fences: { done: 1 },
        }),
      );
      await store.leases.releaseLeases(ALICE.owner);
      await store.leases.renewLeases(CAROL.owner, 10 * TTL);
    }

    it('claims the unfinished runs without a live lease, oldest first, with their next fence, saying which were taken over', async () => {
      const { store } = it$;
      await seed();
      const now = 2000 + TTL + 1;
      const worker = { owner: 'host-w:1:worker', host: 'host-w', pid: 1 };
      expect(await store.leases.claimRuns(worker, { now, ttlMs: TTL, limit: 10 })).toEqual([
        // A released lease is free; one left behind (expired) is taken over from its holder.
        { runId: 'free', fence: 2, takenOver: false },
        { runId: 'expired', fence: 2, takenOver: true },
      ]);
      expect((await store.runs.getRun('free'))?.lease).toEqual({ ...worker, expiresAt: now + TTL, fence: 2 });
      expect((await store.runs.getRun('live'))?.lease?.owner).toBe(CAROL.owner);
      expect((await store.runs.getRun('done'))?.lease).toBeUndefined();
      // Claimed now, so nothing is left to claim.
      expect(await store.leases.claimRuns(BOB, { now, ttlMs: TTL, limit: 10 })).toEqual([]);
    });

    it('claims at most limit runs, and a live lease only when its holder is named dead', async () => {
      const { store } = it$;
      await seed();
      const now = 2000 + TTL + 1;
      expect(await store.leases.claimRuns(BOB, { now, ttlMs: TTL, limit: 1 })).toEqual([
        { runId: 'free', fence: 2, takenOver: false },
      ]);
      expect(await store.leases.claimRuns(BOB, { now, ttlMs: TTL, limit: 0 })).toEqual([]);
      expect(
        await store.leases.claimRuns(BOB, { now, ttlMs: TTL, limit: 5, deadHolders: [CAROL.owner] }),
      ).toEqual([
        { runId: 'live', fence: 2, takenOver: true },
        { runId: 'expired', fence: 2, takenOver: true },
      ]);
    });

    it('lists the holders of live leases of unfinished runs on a host', async () => {
      const { store } = it$;
      await seed();
      await store.commit(createRun('other', { claim: BOB, createdAt: 5000 }));
      expect(await store.leases.leaseHolders('host-b', 3000)).toEqual([{ owner: CAROL.owner, pid: 300 }]);
      // Bob's lease of `expired` ran out; his lease of `other` is live.
      expect(await store.leases.leaseHolders('host-a', 5000 + 10)).toEqual([{ owner: BOB.owner, pid: 200 }]);
      expect(await store.leases.leaseHolders('host-z', 0)).toEqual([]);
    });

    it('never gives one run to two workers claiming at once', async () => {
      if (!init.connect) return;
      const { store } = it$;
      const other = await it$.connect();
      for (let index = 0; index < 20; index++) {
        await store.commit(createRun(`r${String(index).padStart(2, '0')}`, { createdAt: 1000 + index }));
      }
      await store.leases.releaseLeases(ALICE.owner);
      const claims = await Promise.all(
        Array.from({ length: 6 }, (_, index) =>
          (index % 2 === 0 ? store : other).leases.claimRuns(
            { owner: `host-w:${index}:w`, host: 'host-w', pid: index },
            { now: 5000, ttlMs: TTL, limit: 4 },
          ),
        ),
      );
      const runIds = claims.flat().map((claim) => claim.runId);
      expect(new Set(runIds).size).toBe(runIds.length);
      expect(runIds).toHaveLength(20);
    });
  });
}
