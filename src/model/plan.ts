import { z } from 'zod';
import { ActionSchema, defaultTier, isReadOnlyKind } from './action.js';
import { type Tier, TierSchema } from './tier.js';

/** Step ids appear in templates (`{{steps.<id>.output}}`), so they are plain names. */
export const StepIdSchema = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/,
    'a step id starts with a letter or _ and has at most 64 letters, digits, _ or - (e.g. "build-docs")',
  );

export const RetrySchema = z.strictObject({
  /** Attempts in all, the first included. */
  maxAttempts: z.int().min(1).max(100),
  /** Wait before the second attempt; later waits grow by `factor`. */
  backoffMs: z.int().min(0).default(1000),
  factor: z.number().min(1).max(10).default(2),
});
export type Retry = z.output<typeof RetrySchema>;

export const StepSchema = z
  .strictObject({
    id: StepIdSchema,
    title: z.string().min(1).optional(),
    action: ActionSchema,
    dependsOn: z.array(StepIdSchema).default([]),
    tier: TierSchema.optional(),
    retry: RetrySchema.optional(),
    timeoutMs: z.int().positive().optional(),
    idempotent: z.boolean().optional(),
    /** Only in a replanned step: the failed step this one takes the place of. */
    replaces: StepIdSchema.optional(),
  })
  .transform((step) => ({
    ...step,
    title: step.title ?? step.id,
    tier: step.tier ?? defaultTier(step.action),
  }));

/** What a user writes. */
export type StepInput = z.input<typeof StepSchema>;
/**
 * A validated step: `title` and `tier` are always present. `writtenBy: 'model'` marks a step
 * the supervisor's model planned or replanned; it is set by the planner, never read from a
 * plan (a plan that names it is refused), so a model cannot pass its steps off as the caller's.
 */
export type Step = z.output<typeof StepSchema> & { readonly writtenBy?: 'model' };

/** Marks steps as written by the supervisor's model (the planner does, for planned and replanned steps). */
export function writtenByModel<T extends Step>(steps: readonly T[]): T[] {
  return steps.map((step) => ({ ...step, writtenBy: 'model' }));
}

export const PlanSchema = z.strictObject({
  $schema: z.string().optional(),
  goal: z.string().min(1).optional(),
  steps: z.array(StepSchema).min(1, 'a plan needs at least one step'),
});
export type PlanInput = z.input<typeof PlanSchema>;
export type Plan = z.output<typeof PlanSchema>;

/**
 * A step may re-run after a crash without asking a human when it is read-only by kind
 * (research, review, note, fanout), of the `read` tier, or marked `idempotent: true`.
 * `idempotent: false` always wins.
 */
export function isIdempotentStep(step: Pick<Step, 'action' | 'tier' | 'idempotent'>): boolean {
  if (step.idempotent !== undefined) return step.idempotent;
  return step.tier === 'read' || isReadOnlyKind(step.action.kind);
}

/**
 * `approveReplans`: `true`, every corrective replan waits in `awaitingApproval`; `'auto'`
 * (the default), one that adds a step above the `read` tier waits and a read-only one is
 * applied at once; `false`, none waits.
 */
export type ApproveReplans = boolean | 'auto';

/**
 * Whether a replan proposing `steps` waits for a human under `mode`.
 *
 * @example
 * ```ts
 * replanNeedsApproval('auto', [{ tier: 'read' }]); // false
 * replanNeedsApproval('auto', [{ tier: 'read' }, { tier: 'write' }]); // true
 * ```
 */
export function replanNeedsApproval(mode: ApproveReplans, steps: ReadonlyArray<Pick<Step, 'tier'>>): boolean {
  if (mode === 'auto') return steps.some((step) => step.tier !== 'read');
  return mode;
}

export function needsConfirmation(tier: Tier, confirmTiers: readonly Tier[]): boolean {
  return confirmTiers.includes(tier);
}
