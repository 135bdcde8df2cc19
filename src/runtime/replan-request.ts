/**
 * What the replanner is shown, read from the latest facts of a run driven here: the plan,
 * every succeeded step's output, and the failed steps with their errors.
 */
import type { ReplanRunInput } from '../../machines/protocol.js';
import { TaskvisorError } from '../errors.js';
import type { CompletedStep, FailedStep, ReplanRequest } from '../planning/planner.js';
import type { ActorFacts } from './snapshots.js';

export function replanRequestOf(
  input: ReplanRunInput,
  factsFor: (runId: string, actorId: string) => ActorFacts | undefined,
): ReplanRequest {
  const task = factsFor(input.runId, 'task');
  const plan = task?.kind === 'task' ? task.plan : undefined;
  if (!plan) throw new TaskvisorError('INVALID_STATE', `Run ${input.runId} has no plan to replan.`);
  const completed: CompletedStep[] = [];
  const failed: FailedStep[] = [];
  const failing = new Set(input.failed);
  for (const step of plan.steps) {
    const facts = factsFor(input.runId, step.id);
    if (facts?.kind !== 'step') continue;
    if (facts.state === 'succeeded') completed.push({ id: step.id, title: step.title, output: facts.output });
    else if (failing.has(step.id)) {
      failed.push({
        id: step.id,
        title: step.title,
        action: step.action,
        error: facts.error?.message ?? facts.reason ?? 'failed',
      });
    }
  }
  return { goal: input.goal, plan, completed, failed, attempt: input.attempt };
}
