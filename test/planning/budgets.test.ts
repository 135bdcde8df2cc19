import { describe, expect, it } from 'vitest';
import type { BudgetExhaustion } from '../../src/model/budget.js';
import { BudgetLedger, MIN_OUTPUT_TOKENS } from '../../src/runtime/budgets.js';

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

  it('caps a call to what the token limit leaves after its prompt, counting calls in flight', async () => {
    const { books, exhausted } = ledger();
    books.track('r', { maxTokens: 400 }, { tokens: 50, costUsd: 0 });
    const call = { promptTokens: 30, maxOutputTokens: 4096, costUsd: (out: number) => out / 1e6 };
    const first = await books.reserveCall('r', call);
    expect(first.maxOutputTokens).toBe(400 - 50 - 30);
    first.release();
    // A call that asks for less than is left keeps what it asked for.
    const small = await books.reserveCall('r', { ...call, maxOutputTokens: 100 });
    expect(small.maxOutputTokens).toBe(100);
    // With the small call in flight, the next one gets what is left after both.
    const next = await books.reserveCall('r', call);
    expect(next.maxOutputTokens).toBe(400 - 50 - 130 - 30);
    expect(exhausted).toEqual([]);
  });

  it('pauses only when less than MIN_OUTPUT_TOKENS would be left, and never reserves past the limit', async () => {
    const { books, exhausted } = ledger();
    const limit = 200;
    books.track('r', { maxTokens: limit }, { tokens: limit - 30 - MIN_OUTPUT_TOKENS, costUsd: 0 });
    const call = { promptTokens: 30, maxOutputTokens: 4096, costUsd: () => 0 };
    const fits = await books.reserveCall('r', call);
    expect(fits.maxOutputTokens).toBe(MIN_OUTPUT_TOKENS);
    fits.release();
    books.record('r', { tokens: 1, costUsd: 0 });
    const waiting = books.reserveCall('r', call);
    expect(await settled(waiting)).toBe(false);
    expect(exhausted[0]![1]).toMatchObject({ limit: 'maxTokens' });
    books.extend('r', { maxTokens: limit + 1000 });
    const used = limit - 30 - MIN_OUTPUT_TOKENS + 1;
    expect((await waiting).maxOutputTokens).toBe(limit + 1000 - used - 30);
  });
});
