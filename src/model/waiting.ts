/**
 * What a run waits for from a human, read from its view: a plan (or replan) to approve, a
 * budget to extend, a step to confirm, a question to answer, an interrupted step to resume.
 * Pure; the CLI's `ls`, `show`, `watch` and the console mark runs with it.
 */
import type { RunView } from './views.js';

export type HumanWait = 'approval' | 'budget' | 'confirmation' | 'answer' | 'interrupted';

/**
 * @example
 * ```ts
 * waitingFor(view); // ['confirmation'] while a destructive step waits to be confirmed
 * ```
 */
export function waitingFor(view: Pick<RunView, 'phase' | 'steps'>): HumanWait[] {
  const waits = new Set<HumanWait>();
  if (view.phase === 'awaitingApproval') waits.add('approval');
  if (view.phase === 'paused') waits.add('budget');
  for (const step of view.steps) {
    if (step.state === 'awaitingConfirmation') waits.add('confirmation');
    else if (step.state === 'awaitingInput') waits.add('answer');
    else if (step.state === 'interrupted') waits.add('interrupted');
  }
  return [...waits];
}
