import { z } from 'zod';

/**
 * Limits on one run: dollars and tokens spent on model calls, and steps started. Each is
 * optional; a missing one is unlimited.
 */
export const BudgetSchema = z.strictObject({
  maxCostUsd: z.number().positive().optional(),
  maxTokens: z.int().positive().optional(),
  maxSteps: z.int().positive().optional(),
});
export type Budget = z.output<typeof BudgetSchema>;
export type BudgetLimit = keyof Budget;

/** Which budget ran out, and how (shown to the human who may extend it). */
export interface BudgetExhaustion {
  readonly limit: BudgetLimit;
  readonly detail: string;
}
