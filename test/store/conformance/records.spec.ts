/** What runs leave behind: attempts (with outputs), artifacts, episodes and their search. */
import { beforeEach, describe, expect, it } from 'vitest';
import { batch, createRun, output, type StoreInit, useStore } from './fixtures.js';

export function describeRecordSpec(init: StoreInit): void {
  describe(`${init.name}: records`, () => {
    const it$ = useStore(init);
    beforeEach(async () => {
      await it$.store.commit(createRun('r1'));
      await it$.store.commit(createRun('r2'));
    });

    it('round-trips attempts, a later write of the same attempt replacing its outcome', async () => {
      const { store } = it$;
      const started = (runId: string, stepId: string, attempt: number, startedAt: number) =>
        ({
          runId,
          stepId,
          attempt,
          idempotencyKey: `${runId}/${stepId}`,
          status: 'started',
          startedAt,
        }) as const;
      await store.commit(
        batch({
          attempts: [started('r1', 'a', 1, 10), started('r1', 'b', 1, 11), started('r2', 'a', 1, 12)],
          fences: { r1: 1, r2: 1 },
        }),
      );
      await store.commit(
        batch({
          attempts: [
            {
              ...started('r1', 'a', 1, 10),
              status: 'failed',
              endedAt: 20,
              error: { message: 'boom', code: 'ACTION_FAILED', retryable: true },
            },
            started('r1', 'a', 2, 30),
          ],
          fences: { r1: 1 },
        }),
      );
      const out = output('r1', { answer: [42, 'x'] });
      await store.commit(
        batch({
          outputs: [out.row],
          attempts: [{ ...started('r1', 'a', 2, 30), status: 'succeeded', endedAt: 40, outputRef: out.ref }],
          fences: { r1: 1 },
        }),
      );
      expect(await store.records.attempts('r1', 'a')).toEqual([
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
          outputRef: out.ref,
        },
      ]);
      expect(
        (await store.records.attempts('r1')).map((row) => `${row.stepId}#${row.attempt}`).sort(),
      ).toEqual(['a#1', 'a#2', 'b#1']);
      expect((await store.records.attempts('r2')).map((row) => row.idempotencyKey)).toEqual(['r2/a']);
      expect(await store.records.attempts('nope')).toEqual([]);
      expect(await store.records.output('r1', out.ref)).toBe(out.row.json);
      expect(await store.records.output('r2', out.ref)).toBeUndefined();
    });

    it('round-trips artifacts in the order they were written, with ids', async () => {
      const { store } = it$;
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
      const artifacts = await store.records.artifacts('r1');
      expect(artifacts.map(({ id: _id, ...rest }) => rest)).toEqual([
        { runId: 'r1', stepId: 'a', kind: 'file', name: 'notes.md', body: '# notes', at: 10 },
        { runId: 'r1', kind: 'summary', name: 'run', body: { ok: true, n: [1, 2] }, at: 11 },
      ]);
      expect(new Set(artifacts.map((artifact) => artifact.id)).size).toBe(2);
      expect(artifacts[0]!.id).toBeLessThan(artifacts[1]!.id);
      expect((await store.records.artifacts('r2')).map((artifact) => artifact.body)).toEqual([null]);
    });

    it('stores the episodes it is given and finds them by any words, best match first', async () => {
      const { store } = it$;
      await store.commit(
        batch({
          episodes: [
            {
              runId: 'r1',
              stepId: 'a',
              kind: 'delegation',
              title: 'Delegated to coder: Upgrade the parser',
              text: 'Spec: Upgrade the parser',
              at: 5,
              data: { agent: 'coder' },
            },
            { runId: 'r2', kind: 'run', title: 'Run failed: ship the parser', text: 'Goal: ship', at: 7 },
            { runId: 'r2', kind: 'run', title: 'Run completed: unrelated', text: 'nothing here', at: 8 },
          ],
          fences: { r1: 1, r2: 1 },
        }),
      );
      const parser = await store.records.searchEpisodes('parser');
      expect(parser.map((episode) => episode.title)).toEqual([
        'Delegated to coder: Upgrade the parser',
        'Run failed: ship the parser',
      ]);
      expect(parser[0]).toMatchObject({
        runId: 'r1',
        stepId: 'a',
        kind: 'delegation',
        at: 5,
        data: { agent: 'coder' },
      });
      expect(parser[0]!.score).toBeGreaterThanOrEqual(parser[1]!.score!);
      expect(await store.records.searchEpisodes('upgrade parser')).toHaveLength(2);
      // Any text is safe: query syntax is never interpreted.
      expect(await store.records.searchEpisodes('"parser AND (')).toHaveLength(2);
      expect(await store.records.searchEpisodes('')).toEqual([]);
      expect(await store.records.searchEpisodes('parser', { limit: 1 })).toHaveLength(1);
    });
  });
}
