/** Leases: one writer per run, with expiry, a dead holder's lease taken at once, and a fence. */
import { beforeEach, describe, expect, it } from 'vitest';
import { ALICE, BOB, createRun, type StoreInit, TTL, useStore } from './fixtures.js';

export function describeLeaseSpec(init: StoreInit): void {
  describe(`${init.name}: leases`, () => {
    const it$ = useStore(init);
    beforeEach(async () => {
      await it$.store.commit(createRun('r1', { claim: ALICE, createdAt: 1000 }));
    });

    it('records the lease a new run is created with', async () => {
      expect((await it$.store.runs.getRun('r1'))?.lease).toEqual({
        ...ALICE,
        expiresAt: 1000 + TTL,
        fence: 1,
      });
    });

    it('gives a free lease (released) to a claimant with the next fence', async () => {
      const { store } = it$;
      await store.leases.releaseLeases(ALICE.owner);
      expect((await store.runs.getRun('r1'))?.lease).toBeUndefined();
      expect(await store.leases.acquireLease('r1', BOB, { now: 2000, ttlMs: TTL })).toBe(2);
      expect((await store.runs.getRun('r1'))?.lease).toEqual({ ...BOB, expiresAt: 2000 + TTL, fence: 2 });
    });

    it('gives its holder its own lease again, with the next fence and a new expiry', async () => {
      const { store } = it$;
      expect(await store.leases.acquireLease('r1', ALICE, { now: 2000, ttlMs: TTL })).toBe(2);
      expect(await store.leases.acquireLease('r1', ALICE, { now: 3000, ttlMs: TTL })).toBe(3);
      expect((await store.runs.getRun('r1'))?.lease).toEqual({ ...ALICE, expiresAt: 3000 + TTL, fence: 3 });
    });

    it('gives an expired lease to another claimant', async () => {
      const { store } = it$;
      expect(await store.leases.acquireLease('r1', BOB, { now: 1000 + TTL + 1, ttlMs: TTL })).toBe(2);
      expect((await store.runs.getRun('r1'))?.lease?.owner).toBe(BOB.owner);
    });

    it('gives a live lease whose holder is dead to another claimant at once', async () => {
      const { store } = it$;
      expect(
        await store.leases.acquireLease('r1', BOB, { now: 1500, ttlMs: TTL, deadHolder: ALICE.owner }),
      ).toBe(2);
      expect((await store.runs.getRun('r1'))?.lease).toEqual({ ...BOB, expiresAt: 1500 + TTL, fence: 2 });
    });

    it('refuses a live lease held by another, and leaves it as it was', async () => {
      const { store } = it$;
      expect(await store.leases.acquireLease('r1', BOB, { now: 1000 + TTL - 1, ttlMs: TTL })).toBeUndefined();
      // A dead holder that is not the holder changes nothing.
      expect(
        await store.leases.acquireLease('r1', BOB, { now: 1500, ttlMs: TTL, deadHolder: 'someone-else' }),
      ).toBeUndefined();
      expect((await store.runs.getRun('r1'))?.lease).toEqual({ ...ALICE, expiresAt: 1000 + TTL, fence: 1 });
    });

    it('refuses the lease of a run that does not exist', async () => {
      expect(await it$.store.leases.acquireLease('nope', BOB, { now: 1, ttlMs: TTL })).toBeUndefined();
    });

    it("renews every lease the owner holds and no one else's", async () => {
      const { store } = it$;
      await store.commit(createRun('r2', { claim: ALICE, createdAt: 1000 }));
      await store.commit(createRun('r3', { claim: BOB, createdAt: 1000 }));
      await store.leases.renewLeases(ALICE.owner, 99_999);
      expect((await store.runs.getRun('r1'))?.lease?.expiresAt).toBe(99_999);
      expect((await store.runs.getRun('r2'))?.lease?.expiresAt).toBe(99_999);
      expect((await store.runs.getRun('r3'))?.lease?.expiresAt).toBe(1000 + TTL);
      // A renewed lease is no longer expired at the old expiry.
      expect(await store.leases.acquireLease('r1', BOB, { now: 1000 + TTL + 1, ttlMs: TTL })).toBeUndefined();
    });

    it("releases every lease the owner holds and no one else's", async () => {
      const { store } = it$;
      await store.commit(createRun('r2', { claim: ALICE, createdAt: 1000 }));
      await store.commit(createRun('r3', { claim: BOB, createdAt: 1000 }));
      await store.leases.releaseLeases(ALICE.owner);
      expect((await store.runs.getRun('r1'))?.lease).toBeUndefined();
      expect((await store.runs.getRun('r2'))?.lease).toBeUndefined();
      expect((await store.runs.getRun('r3'))?.lease?.owner).toBe(BOB.owner);
    });

    it('gives an expired lease to exactly one of two writers racing for it', async () => {
      if (!init.connect) return;
      const { store } = it$;
      const other = await it$.connect();
      const carol = { owner: 'host-b:300:carol', host: 'host-b', pid: 300 };
      for (let round = 0; round < 10; round++) {
        const now = 1000 + TTL + 1 + round * 2 * TTL;
        const results = await Promise.all([
          store.leases.acquireLease('r1', BOB, { now, ttlMs: TTL }),
          other.leases.acquireLease('r1', carol, { now, ttlMs: TTL }),
        ]);
        const winners = results.filter((fence) => fence !== undefined);
        expect(winners, `round ${round}: ${JSON.stringify(results)}`).toHaveLength(1);
        expect((await store.runs.getRun('r1'))?.lease?.fence).toBe(winners[0]);
      }
    });
  });
}
