import { describe, expect, it } from 'vitest';
import { costOf, type Prices } from '../../src/llm/prices.js';

const prices: Prices = {
  'gpt-4o': { inputPer1M: 2.5, outputPer1M: 10 },
  'gpt-4o-mini': { inputPer1M: 0.15, outputPer1M: 0.6 },
};

describe('costOf', () => {
  it('prices input and output tokens per million', () => {
    expect(costOf({ inputTokens: 1_000, outputTokens: 500 }, 'gpt-4o-mini', prices)).toEqual({
      costUsd: 0.00045,
      priced: true,
    });
    expect(costOf({ inputTokens: 1_000_000, outputTokens: 1_000_000 }, 'gpt-4o', prices)).toEqual({
      costUsd: 12.5,
      priced: true,
    });
  });

  it('rounds to a billionth of a dollar', () => {
    // 7 * 0.15 / 1e6 = 1.05e-6 exactly in decimal, not in binary floating point.
    expect(costOf({ inputTokens: 7, outputTokens: 0 }, 'gpt-4o-mini', prices).costUsd).toBe(0.00000105);
    // 1 token at $0.0004 per million is $4e-10: below a billionth, so it rounds to 0.
    expect(
      costOf({ inputTokens: 1, outputTokens: 0 }, 'tiny', { tiny: { inputPer1M: 0.0004, outputPer1M: 0 } }),
    ).toEqual({ costUsd: 0, priced: true });
  });

  it('costs nothing and says so for a model missing from the table', () => {
    expect(costOf({ inputTokens: 100, outputTokens: 100 }, 'llama3.2', prices)).toEqual({
      costUsd: 0,
      priced: false,
    });
  });

  it('prices a dated snapshot by its base model, but not a different model sharing a prefix', () => {
    expect(costOf({ inputTokens: 1_000_000, outputTokens: 0 }, 'gpt-4o-2024-08-06', prices)).toEqual({
      costUsd: 2.5,
      priced: true,
    });
    expect(
      costOf({ inputTokens: 1_000_000, outputTokens: 0 }, 'gpt-4o-mini-2024-07-18', prices).costUsd,
    ).toBe(0.15);
    expect(costOf({ inputTokens: 1_000_000, outputTokens: 0 }, 'gpt-4o-audio', prices).priced).toBe(false);
  });

  it('does not mistake an inherited property for a price', () => {
    expect(costOf({ inputTokens: 1, outputTokens: 1 }, 'constructor', prices)).toEqual({
      costUsd: 0,
      priced: false,
    });
  });
});
