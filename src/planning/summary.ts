/**
 * A plan as a human reads it before approving: numbered steps, what each waits for, and a
 * marker on the steps that will ask for confirmation before they run.
 */
import type { StepOutline } from '../model/events.js';
import type { Tier } from '../model/tier.js';

/**
 * @example
 * ```text
 * Plan: Write release notes (3 steps)
 *   1. log: Collect commits [shell]
 *   2. draft: Draft notes [research] after 1
 *   3. post: Post them [notify] after 2  ⚠ external: asks for confirmation
 * ```
 */
export function summarizePlan(
  goal: string,
  steps: readonly StepOutline[],
  confirmTiers: readonly Tier[],
): string {
  const number = new Map(steps.map((step, index) => [step.id, index + 1]));
  const lines = [`Plan: ${goal} (${steps.length} step${steps.length === 1 ? '' : 's'})`];
  steps.forEach((step, index) => {
    const after = step.dependsOn.map((id) => number.get(id) ?? id).join(', ');
    const title = step.title === step.id ? '' : `: ${step.title}`;
    let line = `  ${index + 1}. ${step.id}${title} [${step.kind}]`;
    if (after) line += ` after ${after}`;
    if (step.replaces !== undefined) line += ` (replaces ${step.replaces})`;
    if (confirmTiers.includes(step.tier)) line += `  ⚠ ${step.tier}: asks for confirmation`;
    lines.push(line);
  });
  return lines.join('\n');
}

/** A replan waiting for approval: the steps it would add, after the plan as it is. */
export function summarizeReplan(
  goal: string,
  steps: readonly StepOutline[],
  proposal: readonly StepOutline[],
  confirmTiers: readonly Tier[],
): string {
  const added = summarizePlan(goal, [...steps, ...proposal], confirmTiers).split('\n');
  const header = added.shift()!;
  const current = added.slice(0, steps.length);
  const proposed = added.slice(steps.length).map((line) => line.replace(/^ {2}/, '+ '));
  return [
    header.replace(/ \(\d+ steps?\)$/, ''),
    ...current,
    `Replan proposes ${proposal.length} step${proposal.length === 1 ? '' : 's'}:`,
    ...proposed,
  ].join('\n');
}
