/**
 * USD cost of model usage from a price table (dollars per million tokens).
 */
import type { TokenUsage } from './chat.js';

/** Dollars per million input and output tokens, keyed by model name. */
export type Prices = Record<string, { inputPer1M: number; outputPer1M: number }>;

export interface Cost {
  costUsd: number;
  /** False when the model is not in the price table (its cost is then 0). */
  priced: boolean;
}

/** A dated snapshot suffix such as `-2024-08-06` or `-0125`. */
const SNAPSHOT_SUFFIX = /^-(\d{4}-\d{2}-\d{2}|\d{4})$/;

/**
 * The cost of `usage` on `model`, rounded to 1e-9 dollars. A model missing from `prices`
 * costs 0 with `priced: false`. A dated snapshot (`gpt-4o-2024-08-06`) falls back to its
 * base name (`gpt-4o`) when only that is listed.
 *
 * @example
 * ```ts
 * const prices: Prices = { 'gpt-4o-mini': { inputPer1M: 0.15, outputPer1M: 0.6 } };
 * costOf({ inputTokens: 1000, outputTokens: 500 }, 'gpt-4o-mini', prices);
 * // { costUsd: 0.00045, priced: true }
 * ```
 */
export function costOf(usage: TokenUsage, model: string, prices: Prices): Cost {
  const price = priceOf(model, prices);
  if (!price) return { costUsd: 0, priced: false };
  const raw = (usage.inputTokens * price.inputPer1M + usage.outputTokens * price.outputPer1M) / 1_000_000;
  return { costUsd: Math.round(raw * 1e9) / 1e9, priced: true };
}

function priceOf(model: string, prices: Prices): Prices[string] | undefined {
  if (Object.hasOwn(prices, model)) return prices[model];
  const base = Object.keys(prices)
    .filter((name) => model.startsWith(name) && SNAPSHOT_SUFFIX.test(model.slice(name.length)))
    .sort((a, b) => b.length - a.length)[0];
  return base === undefined ? undefined : prices[base];
}
