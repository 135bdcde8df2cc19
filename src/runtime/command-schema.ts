/**
 * The schema of a stored command: what another process wrote to the inbox is checked
 * when it is read back, before it reaches a run (a row written by an older or a broken
 * process is refused and marked applied with the problem, never cast and trusted).
 */
import { z } from 'zod';
import { BudgetSchema } from '../model/budget.js';
import { AnswerSchema } from '../model/events.js';
import type { Command } from './commands.js';

const base = {
  runId: z.string().min(1),
  by: z.string().optional(),
  at: z.number(),
};

export const CommandSchema: z.ZodType<Command> = z.discriminatedUnion('kind', [
  z.object({ ...base, kind: z.literal('approvePlan'), note: z.string().optional() }),
  z.object({ ...base, kind: z.literal('rejectPlan'), reason: z.string() }),
  z.object({
    ...base,
    kind: z.literal('confirmStep'),
    stepId: z.string().min(1),
    approved: z.boolean(),
    decision: z.enum(['skip', 'fail']).optional(),
    reason: z.string().optional(),
  }),
  z.object({
    ...base,
    kind: z.literal('answer'),
    stepId: z.string().min(1),
    requestId: z.string().min(1),
    answer: AnswerSchema,
  }),
  z.object({
    ...base,
    kind: z.literal('control'),
    stepId: z.string().min(1),
    action: z.enum(['cancel', 'interrupt', 'retry', 'resume']),
  }),
  z.object({ ...base, kind: z.literal('cancel'), reason: z.string().optional() }),
  z.object({ ...base, kind: z.literal('extendBudget'), budget: BudgetSchema }),
]);

/**
 * A stored command as the runtime may apply it, or why it cannot be.
 *
 * @example
 * ```ts
 * const read = readCommand(row.command);
 * if ('problem' in read) markApplied(row, read.problem);
 * ```
 */
export function readCommand(stored: unknown): { readonly command: Command } | { readonly problem: string } {
  const parsed = CommandSchema.safeParse(stored);
  if (parsed.success) return { command: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return {
    problem: `the stored command is not one this version reads (${where}${issue?.message ?? 'invalid'})`,
  };
}
