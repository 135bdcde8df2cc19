/**
 * A plan as a human reads it before approving: numbered steps, what each one runs (the
 * action in full, see `describeAction`), what it waits for, and a marker on the steps that
 * will ask for confirmation before they run. A replan shows its proposal as a diff against
 * the plan: the steps it adds, the failed steps they replace, the steps it rewires.
 */
import type { StepOutline } from '../model/events.js';
import { replanDiff } from '../model/replan-diff.js';
import type { Tier } from '../model/tier.js';

/**
 * @example
 * ```text
 * Plan: Write release notes (3 steps)
 *   1. log: Collect commits [shell]
 *        $ git log --oneline -20
 *   2. draft: Draft notes [research] after 1
 *        research: Draft release notes from: {{steps.log.output}}
 *   3. post: Post them [notify] after 2  ⚠ external: asks for confirmation
 *        notify console: {{steps.draft.output}}
 * ```
 */
export function summarizePlan(
  goal: string,
  steps: readonly StepOutline[],
  confirmTiers: readonly Tier[],
): string {
  return [`Plan: ${goal} (${plural(steps.length, 'step')})`, ...stepLines(steps, confirmTiers, '  ')].join(
    '\n',
  );
}

/**
 * A replan waiting for approval: the plan as it is, then the diff: the steps it would add
 * (marked `+`, each with its action), the failed steps they replace, the steps it rewires.
 */
export function summarizeReplan(
  goal: string,
  steps: readonly StepOutline[],
  proposal: readonly StepOutline[],
  confirmTiers: readonly Tier[],
): string {
  const all = [...steps, ...proposal];
  const lines = stepLines(all, confirmTiers, '');
  const firstProposed = lines.findIndex((line) => line.startsWith(`${steps.length + 1}. `));
  const diff = replanDiff(steps, proposal);
  return [
    `Plan: ${goal}`,
    ...lines.slice(0, firstProposed).map((line) => `  ${line}`),
    `Replan proposes ${plural(proposal.length, 'step')}:`,
    ...lines.slice(firstProposed).map((line) => (/^\d+\. /.test(line) ? `+ ${line}` : `  ${line}`)),
    ...diff.replaced.map(({ failed, by }) => `~ ${by} replaces failed step ${failed}`),
    ...diff.rewired.map(({ stepId, from, to }) => `~ ${stepId} will wait on ${to} instead of ${from}`),
  ].join('\n');
}

/**
 * One entry per step, numbered in order: dependencies by number, replacements,
 * confirmation markers, then the action on the next line.
 */
function stepLines(steps: readonly StepOutline[], confirmTiers: readonly Tier[], indent: string): string[] {
  const number = new Map(steps.map((step, index) => [step.id, index + 1]));
  return steps.flatMap((step, index) => {
    const after = step.dependsOn.map((id) => number.get(id) ?? id).join(', ');
    const title = step.title === step.id ? '' : `: ${step.title}`;
    let line = `${indent}${index + 1}. ${step.id}${title} [${step.kind}]`;
    if (after) line += ` after ${after}`;
    if (step.replaces !== undefined) line += ` (replaces ${step.replaces})`;
    if (confirmTiers.includes(step.tier)) line += `  ⚠ ${step.tier}: asks for confirmation`;
    return step.action ? [line, `${indent}     ${step.action.summary}`] : [line];
  });
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
