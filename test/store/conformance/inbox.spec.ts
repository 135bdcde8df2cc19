/** The command inbox and the questions waiting for a human. */
import { beforeEach, describe, expect, it } from 'vitest';
import { batch, createRun, type StoreInit, useStore } from './fixtures.js';

export function describeInboxSpec(init: StoreInit): void {
  describe(`${init.name}: command inbox and requests`, () => {
    const it$ = useStore(init);
    beforeEach(async () => {
      await it$.store.commit(createRun('r1'));
      await it$.store.commit(createRun('r2'));
    });

    it('keeps commands pending, in order, until a commit of their run marks them applied', async () => {
      const { store } = it$;
      const first = await store.inbox.addCommand('r1', { kind: 'approvePlan', runId: 'r1', at: 1 }, 100);
      const second = await store.inbox.addCommand('r1', { kind: 'cancel', runId: 'r1', at: 2 }, 200);
      const third = await store.inbox.addCommand('ghost', { kind: 'cancel', runId: 'ghost', at: 3 }, 300);
      expect(second).toBeGreaterThan(first);
      expect(third).toBeGreaterThan(second);
      expect(await store.inbox.pendingCommands()).toEqual([
        { id: first, runId: 'r1', command: { kind: 'approvePlan', runId: 'r1', at: 1 }, createdAt: 100 },
        { id: second, runId: 'r1', command: { kind: 'cancel', runId: 'r1', at: 2 }, createdAt: 200 },
        { id: third, runId: 'ghost', command: { kind: 'cancel', runId: 'ghost', at: 3 }, createdAt: 300 },
      ]);
      await store.commit(
        batch({
          commandsApplied: [
            { id: first, runId: 'r1', at: 400 },
            { id: third, runId: 'ghost', at: 400, error: 'no run "ghost"', unowned: true },
            // A command id marked for the wrong run changes nothing.
            { id: second, runId: 'r2', at: 400 },
          ],
          fences: { r1: 1, r2: 1 },
        }),
      );
      expect((await store.inbox.pendingCommands()).map((row) => row.id)).toEqual([second]);
    });

    it('round-trips requests: opened, found by id and by key, answered once, closed, reopened', async () => {
      const { store } = it$;
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
      expect(await store.inbox.findRequest({ id: 'q1' })).toEqual({
        id: 'q1',
        runId: 'r1',
        stepId: 'a',
        key: 'go',
        question: 'Go on?',
        options,
        openedAt: 10,
      });
      expect((await store.inbox.findRequest({ runId: 'r1', stepId: 'b', key: 'name' }))?.id).toBe('q2');
      expect(await store.inbox.findRequest({ runId: 'r1', stepId: 'b', key: 'other' })).toBeUndefined();
      expect(await store.inbox.findRequest({ id: 'nope' })).toBeUndefined();
      expect((await store.inbox.openRequests()).map((row) => row.id)).toEqual(['q1', 'q2', 'q3']);
      expect((await store.inbox.openRequests('r1')).map((row) => row.id)).toEqual(['q1', 'q2']);

      const answer = (id: string, value: string, at: number, by: string) =>
        store.commit(
          batch({
            requests: [{ type: 'answer', runId: 'r1', id, answer: { optionId: value }, at, by }],
            fences: { r1: 1 },
          }),
        );
      await answer('q1', 'y', 20, 'ann');
      // A second answer to the same request changes nothing.
      await answer('q1', 'n', 30, 'bob');
      expect(await store.inbox.findRequest({ id: 'q1' })).toMatchObject({
        answer: { optionId: 'y' },
        answeredAt: 20,
        answeredBy: 'ann',
      });
      expect((await store.inbox.openRequests()).map((row) => row.id)).toEqual(['q2', 'q3']);
      expect((await store.inbox.requests('r1')).map((row) => [row.id, row.answeredAt])).toEqual([
        ['q1', 20],
        ['q2', undefined],
      ]);

      // A closed request takes no answer until it is reopened.
      await store.commit(
        batch({ requests: [{ type: 'close', runId: 'r1', id: 'q2', at: 40 }], fences: { r1: 1 } }),
      );
      await answer('q2', 'late', 41, 'ann');
      expect(await store.inbox.findRequest({ id: 'q2' })).toMatchObject({ closedAt: 40 });
      expect(await store.inbox.findRequest({ id: 'q2' })).not.toHaveProperty('answer');
      await store.commit(batch({ requests: [{ type: 'reopen', runId: 'r1', id: 'q2' }], fences: { r1: 1 } }));
      expect((await store.inbox.openRequests('r1')).map((row) => row.id)).toEqual(['q2']);
    });
  });
}
