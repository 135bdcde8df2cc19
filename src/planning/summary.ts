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
  return [
    `Plan: ${goal} (${plural(steps.length, 'step')})`,
    ...stepLines(steps, confirmTiers).map((line) => `  ${line}`),
  ].join('\n');
}

/** A replan waiting for approval: the plan as it is, then the steps it would add (marked `+`). */
export function summarizeReplan(
  goal: string,
  steps: readonly StepOutline[],
  proposal: readonly StepOutline[],
  confirmTiers: readonly Tier[],
): string {
  const lines = stepLines([...steps, ...proposal], confirmTiers);
  return [
    `Plan: ${goal}`,
    ...lines.slice(0, steps.length).map((line) => `  ${line}`),
    `Replan proposes ${plural(proposal.length, 'step')}:`,
    ...lines.slice(steps.length).map((line) => `+ ${line}`),
  ].join('\n');
}

/** One line per step, numbered in order: dependencies by number, replacements, confirmation markers. */
function stepLines(steps: readonly StepOutline[], confirmTiers: readonly Tier[]): string[] {
  const number = new Map(steps.map((step, index) => [step.id, index + 1]));
  return steps.map((step, index) => {
    const after = step.dependsOn.map((id) => number.get(id) ?? id).join(', ');
    const title = step.title === step.id ? '' : `: ${step.title}`;
    let line = `${index + 1}. ${step.id}${title} [${step.kind}]`;
    if (after) line += ` after ${after}`;
    if (step.replaces !== undefined) line += ` (replaces ${step.replaces})`;
    if (confirmTiers.includes(step.tier)) line += `  ⚠ ${step.tier}: asks for confirmation`;
    return line;
  });
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
