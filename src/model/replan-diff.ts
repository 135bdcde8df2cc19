/**
 * A replan waiting for approval, as a diff against the plan it would change: the steps it
 * adds, the failed steps it replaces (and by which new step), and the existing steps it
 * rewires (a dependency on a replaced step moves to its replacement). Pure; the same rule
 * `spliceSteps` applies.
 */
import { z } from 'zod';
import { type StepOutline, StepOutlineSchema } from './events.js';

export const ReplanDiffSchema = z.object({
  /** Every proposed step, in the order proposed. */
  added: z.array(StepOutlineSchema),
  /** Each failed step a proposed step takes the place of. */
  replaced: z.array(z.object({ failed: z.string(), by: z.string() })),
  /** Existing steps whose dependency would move from a replaced step to its replacement. */
  rewired: z.array(z.object({ stepId: z.string(), from: z.string(), to: z.string() })),
});
export type ReplanDiff = z.infer<typeof ReplanDiffSchema>;

/**
 * @example
 * ```ts
 * replanDiff(view.steps, view.proposal!);
 * // { added: [fix], replaced: [{ failed: 'build', by: 'fix' }], rewired: [{ stepId: 'deploy', from: 'build', to: 'fix' }] }
 * ```
 */
export function replanDiff(
  plan: ReadonlyArray<Pick<StepOutline, 'id' | 'dependsOn'>>,
  proposal: readonly StepOutline[],
): ReplanDiff {
  const replacementOf = new Map<string, string>();
  for (const step of proposal) if (step.replaces !== undefined) replacementOf.set(step.replaces, step.id);
  const rewired: ReplanDiff['rewired'] = [];
  for (const step of plan) {
    for (const dependency of step.dependsOn) {
      const by = replacementOf.get(dependency);
      if (by !== undefined) rewired.push({ stepId: step.id, from: dependency, to: by });
    }
  }
  return {
    added: proposal.map((step) => ({ ...step, dependsOn: [...step.dependsOn] })),
    replaced: [...replacementOf].map(([failed, by]) => ({ failed, by })),
    rewired,
  };
}
