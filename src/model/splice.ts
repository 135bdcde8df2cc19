import { TaskvisorError } from '../errors.js';
import { transitiveDependents } from './graph.js';
import { type PlanContext, validateSteps } from './parse-plan.js';
import type { Plan, Step } from './plan.js';
import { renameTemplateStep } from './templates.js';

export interface SpliceOptions {
  /** Checks the spliced plan against the supervisor's kinds, binaries, agents, channels. */
  readonly context?: PlanContext;
  /** Steps that may be replaced (the failed ones). Without it any existing step may be. */
  readonly replaceable?: Iterable<string>;
}

export interface SpliceResult {
  readonly plan: Plan;
  /** Ids of the added steps, in the order given. */
  readonly added: readonly string[];
  /** Each replaced step and the step that replaces it. */
  readonly replaced: ReadonlyArray<{ readonly failed: string; readonly by: string }>;
  /** Existing steps whose dependency moved from a replaced step to its replacement. */
  readonly rewired: ReadonlyArray<{ readonly stepId: string; readonly from: string; readonly to: string }>;
}

/**
 * The step a `replaces` really takes the place of: a failed step that was replaced already
 * (and whose replacement failed too) resolves along its replacement chain (`b` → `b2` → `b3`)
 * to the chain's last step, the one that failed now. Pure.
 *
 * @example
 * ```ts
 * // b2 replaced b and failed: a second replan that says `replaces: "b"` replaces b2.
 * currentReplacement(plan, 'b'); // 'b2'
 * ```
 */
export function currentReplacement(plan: Plan, stepId: string): string {
  const replacementOf = new Map<string, string>();
  for (const step of plan.steps) if (step.replaces !== undefined) replacementOf.set(step.replaces, step.id);
  let current = stepId;
  const seen = new Set<string>([current]);
  for (let next = replacementOf.get(current); next !== undefined; next = replacementOf.get(current)) {
    if (seen.has(next)) break;
    seen.add(next);
    current = next;
  }
  return current;
}

/** `added` with each `replaces` resolved to the current step of its replacement chain. */
export function resolveReplacements(plan: Plan, added: readonly Step[]): Step[] {
  return added.map((step) => {
    if (step.replaces === undefined) return step;
    const current = currentReplacement(plan, step.replaces);
    return current === step.replaces ? step : { ...step, replaces: current };
  });
}

/**
 * Adds replanned steps to a plan, all or nothing: returns a new, fully validated plan or
 * throws a `TaskvisorError` and leaves `plan` as it was. A step with `replaces: "x"` takes
 * the place of the failed step `x`: steps that depended on `x` (and read its output) now
 * depend on (and read) the replacement. When `x` was replaced already, `replaces` may name
 * it or any step of its replacement chain: it resolves to the chain's current step
 * (`currentReplacement`), and the added step records that one.
 *
 * @example
 * ```ts
 * const { plan: next, rewired } = spliceSteps(plan, [{ ...fixStep, replaces: 'build' }], { replaceable: ['build'] });
 * ```
 */
export function spliceSteps(
  plan: Plan,
  proposed: readonly Step[],
  options: SpliceOptions = {},
): SpliceResult {
  if (proposed.length === 0) {
    throw new TaskvisorError('BAD_REPLACEMENT', 'A replan must add at least one step; got none.', {});
  }
  const existing = new Set(plan.steps.map((step) => step.id));
  const replaceable = options.replaceable ? new Set(options.replaceable) : undefined;
  const added = resolveReplacements(plan, proposed);
  const replacementOf = new Map<string, string>();
  for (const [index, step] of added.entries()) {
    const named = proposed[index]!.replaces;
    const via = named !== step.replaces ? ` (named as "${named}", whose replacement chain ends there)` : '';
    if (existing.has(step.id)) {
      throw new TaskvisorError(
        'DUPLICATE_STEP_ID',
        `Replanned step id "${step.id}" is already used by a step of this run; give the new step a new id.`,
        { stepId: step.id },
      );
    }
    if (step.replaces === undefined) continue;
    if (!existing.has(step.replaces)) {
      throw new TaskvisorError(
        'BAD_REPLACEMENT',
        `Step "${step.id}" replaces "${step.replaces}", which is not a step of this run; name the failed step it takes the place of.`,
        { stepId: step.id, replaces: step.replaces },
      );
    }
    if (replaceable && !replaceable.has(step.replaces)) {
      throw new TaskvisorError(
        'BAD_REPLACEMENT',
        `Step "${step.id}" replaces "${step.replaces}"${via}, which has not failed; only ${replaceable.size > 0 ? [...replaceable].map((id) => `"${id}"`).join(', ') : 'failed steps'} can be replaced.`,
        { stepId: step.id, replaces: step.replaces, replaceable: [...replaceable] },
      );
    }
    const earlier = replacementOf.get(step.replaces);
    if (earlier !== undefined) {
      throw new TaskvisorError(
        'BAD_REPLACEMENT',
        `Steps "${earlier}" and "${step.id}" both replace "${step.replaces}"; a failed step has at most one replacement (let the others depend on it).`,
        { stepId: step.id, replaces: step.replaces, other: earlier },
      );
    }
    replacementOf.set(step.replaces, step.id);
  }
  if (replaceable) {
    for (const step of added) {
      const failedDependency = step.dependsOn.find((dependency) => replaceable.has(dependency));
      if (failedDependency !== undefined) {
        const by = replacementOf.get(failedDependency);
        throw new TaskvisorError(
          'BAD_REPLACEMENT',
          `Step "${step.id}" depends on "${failedDependency}", which failed, so it could never run; ${by ? `depend on its replacement "${by}" instead` : 'replace that step or drop the dependency'}.`,
          { stepId: step.id, dependency: failedDependency },
        );
      }
    }
  }

  // Direct dependents of a replaced step now depend on its replacement; every step that
  // reads its output (through any path) now reads the replacement's.
  const readers = new Map<string, Array<[string, string]>>();
  for (const [failed, by] of replacementOf) {
    for (const id of transitiveDependents(plan.steps, failed)) {
      readers.set(id, [...(readers.get(id) ?? []), [failed, by]]);
    }
  }
  const rewired: Array<{ stepId: string; from: string; to: string }> = [];
  const steps: Step[] = plan.steps.map((step) => {
    const renames = readers.get(step.id);
    if (!renames) return step;
    let next = step;
    for (const [failed, by] of renames) {
      next = { ...next, action: renameTemplateStep(next.action, failed, by) };
      if (next.dependsOn.includes(failed)) {
        next = { ...next, dependsOn: next.dependsOn.map((id) => (id === failed ? by : id)) };
        rewired.push({ stepId: step.id, from: failed, to: by });
      }
    }
    return next;
  });
  steps.push(...added);
  validateSteps(steps, options.context);
  return {
    plan: { ...plan, steps },
    added: added.map((step) => step.id),
    replaced: [...replacementOf].map(([failed, by]) => ({ failed, by })),
    rewired,
  };
}
