import { describe, expect, it } from 'vitest';
import type { BudgetExhaustion } from '../../src/model/budget.js';
import { BudgetLedger } from '../../src/runtime/budgets.js';

function ledger() {
  const exhausted: Array<[string, BudgetExhaustion]> = [];
  const books = new BudgetLedger((runId, exhaustion) => exhausted.push([runId, exhaustion]));
  return { books, exhausted };
}

const settled = async (promise: Promise<unknown>) => {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('BudgetLedger', () => {
  it('counts calls in flight with their reservations, so two calls cannot both pass a limit', async () => {
    const { books, exhausted } = ledger();
    books.track('r', { maxCostUsd: 0.01 });
    const first = await books.reserve('r', { tokens: 100, costUsd: 0.006 });
    const second = books.reserve('r', { tokens: 100, costUsd: 0.006 });
    expect(await settled(second)).toBe(false);
    expect(exhausted).toEqual([
      ['r', { limit: 'maxCostUsd', detail: expect.stringMatching(/^budget: maxCostUsd \$0\.0100 reached/) }],
    ]);
    first();
    books.record('r', { tokens: 80, costUsd: 0.004 });
    // Still paused until the budget is extended, even though the first call cost less.
    expect(await settled(second)).toBe(false);
    books.extend('r', { maxCostUsd: 0.02 });
    const release = await second;
    release();
    expect(books.usedBy('r')).toEqual({ tokens: 80, costUsd: 0.004 });
  });

  it('names maxTokens when tokens run out first', async () => {
    const { books, exhausted } = ledger();
    books.track('r', { maxTokens: 1000, maxCostUsd: 100 });
    books.record('r', { tokens: 900, costUsd: 0 });
    const waiting = books.reserve('r', { tokens: 200, costUsd: 0 });
    expect(await settled(waiting)).toBe(false);
    expect(exhausted[0]![1]).toEqual({
      limit: 'maxTokens',
      detail: 'budget: maxTokens 1000 reached (900 used, the next model call may take up to 200 more)',
    });
  });

  it('stops waiting calls when their signal aborts or the run is forgotten', async () => {
    const { books } = ledger();
    books.track('r', { maxTokens: 10 }, { tokens: 10, costUsd: 0 }, true);
    const controller = new AbortController();
    const aborted = books.reserve('r', { tokens: 1, costUsd: 0 }, controller.signal);
    const forgotten = books.reserve('r', { tokens: 1, costUsd: 0 });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
    books.forget('r');
    await expect(forgotten).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('lets a run without limits (or one it does not track) call freely', async () => {
    const { books, exhausted } = ledger();
    books.track('r', {});
    (await books.reserve('r', { tokens: 1e9, costUsd: 1e6 }))();
    (await books.reserve('other', { tokens: 1, costUsd: 1 }))();
    expect(exhausted).toEqual([]);
  });
});
