/** The event log: events after a cursor, of one run, a page at a time, with outputs given back. */
import { beforeEach, describe, expect, it } from 'vitest';
import { batch, createRun, logEvent, type StoreInit, useStore } from './fixtures.js';

export function describeEventLogSpec(init: StoreInit): void {
  describe(`${init.name}: event log`, () => {
    const it$ = useStore(init);

    it('returns 0 as the last seq of an empty store and no events', async () => {
      expect(await it$.store.events.lastSeq()).toBe(0);
      expect(await it$.store.events.readEvents({})).toEqual([]);
    });

    describe('with events', () => {
      beforeEach(async () => {
        const { store } = it$;
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
        const events = await it$.store.events.readEvents({ after: 3 });
        expect(events.map((event) => event.seq)).toEqual([4, 5, 6]);
        expect(events[0]).toEqual({
          type: 'step.log',
          at: 1,
          runId: 'r2',
          stepId: 'a',
          attempt: 1,
          message: 'two',
          seq: 4,
        });
      });

      it("reads one run's events only", async () => {
        const { store } = it$;
        const events = await store.events.readEvents({ runId: 'r1' });
        expect(events.map((event) => event.seq)).toEqual([1, 3, 5]);
        expect(events.every((event) => event.runId === 'r1')).toBe(true);
        expect((await store.events.readEvents({ runId: 'r1', after: 3 })).map((event) => event.seq)).toEqual([
          5,
        ]);
      });

      it('reads at most limit events', async () => {
        const { store } = it$;
        expect((await store.events.readEvents({ limit: 2 })).map((event) => event.seq)).toEqual([1, 2]);
        expect((await store.events.readEvents({ after: 2, limit: 3 })).map((event) => event.seq)).toEqual([
          3, 4, 5,
        ]);
        expect(
          (await store.events.readEvents({ runId: 'r2', after: 2, limit: 1 })).map((event) => event.seq),
        ).toEqual([4]);
      });

      it('reads nothing for an unknown run or past the last seq', async () => {
        expect(await it$.store.events.readEvents({ runId: 'nope' })).toEqual([]);
        expect(await it$.store.events.readEvents({ after: 6 })).toEqual([]);
        expect(await it$.store.events.lastSeq()).toBe(6);
      });
    });
  });
}
