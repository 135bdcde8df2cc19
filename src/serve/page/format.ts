/** Times, durations and events in plain words, for the console. Pure. */
import type { TaskvisorEvent } from './api.js';

export function clock(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour12: false });
}

export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.floor((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function shortJson(value: unknown, max = 400): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value, null, 2) ?? String(value));
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const PHASE_WORDS: Record<string, string> = {
  queued: 'waits for a free run slot',
  planning: 'is being planned by the model',
  awaitingApproval: 'waits for approval',
  running: 'is running',
  replanning: 'is being replanned after a failure',
  paused: 'is paused on its budget',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'was cancelled',
};

const STATE_WORDS: Record<string, string> = {
  pending: 'is pending',
  awaitingConfirmation: 'waits for confirmation',
  running: 'started',
  awaitingInput: 'asks a question',
  retrying: 'will be retried',
  interrupted: 'was interrupted',
  succeeded: 'succeeded',
  failed: 'failed',
  skipped: 'was skipped',
  cancelled: 'was cancelled',
};

const by = (who?: string) => (who ? ` by ${who}` : '');

/** One event as a sentence, or undefined for those not worth one (usage details, logs are kept). */
export function sentence(event: TaskvisorEvent): string | undefined {
  switch (event.type) {
    case 'run.created':
      return `Run created: ${event.goal} (${event.steps.length} steps)`;
    case 'run.transition':
      return `The run ${PHASE_WORDS[event.to] ?? event.to}${event.reason ? ` (${event.reason})` : ''}`;
    case 'step.transition': {
      const attempt = event.to === 'running' && event.attempt > 1 ? ` (attempt ${event.attempt})` : '';
      const why = event.error?.message ?? event.reason;
      return `Step ${event.stepId} ${STATE_WORDS[event.to] ?? event.to}${attempt}${why ? `: ${why}` : ''}`;
    }
    case 'step.output':
      return `Step ${event.stepId} gave: ${shortJson(event.output, 160)}`;
    case 'step.log':
      return `Step ${event.stepId}: ${event.message}`;
    case 'approval.requested':
      return event.kind === 'plan'
        ? `Approval asked for the ${event.proposal ? 'replan' : 'plan'}`
        : event.kind === 'budget'
          ? `A budget decision is asked: ${event.reason}`
          : `Confirmation asked for step ${event.stepId}: ${event.reason}`;
    case 'approval.resolved':
      return `${event.kind === 'step' ? `Step ${event.stepId}` : event.kind === 'budget' ? 'Budget' : 'Plan'}: ${event.decision}${by(event.by)}${event.reason ? ` (${event.reason})` : ''}`;
    case 'request.opened':
      return `Step ${event.stepId} asks: ${event.question}`;
    case 'request.answered':
      return `Answered${by(event.by)}: ${event.answer.text ?? event.answer.optionId ?? JSON.stringify(event.answer.answers)}`;
    case 'control.applied':
      return `${event.action} of ${event.label ?? event.stepId}${by(event.by)}`;
    case 'plan.created':
      return `The model wrote a plan of ${event.steps.length} steps`;
    case 'replan.applied':
      return `Replan ${event.attempt} applied: added ${event.added.join(', ') || 'nothing'}`;
    case 'usage.recorded':
      return `Model call to ${event.model}: ${event.inputTokens} in + ${event.outputTokens} out tokens${event.priced === false ? ', no price' : ''}`;
    case 'budget.exceeded':
      return `Budget exceeded (${event.limit}): ${event.detail}`;
    case 'worker.transition':
      return `Worker ${event.label} (${event.model}) of ${event.stepId}: ${event.to}${event.error ? `: ${event.error}` : ''}`;
    case 'fanout.reduced':
      return `Verdict (${event.mode}) by ${event.model}`;
    default:
      return undefined;
  }
}

/** How long each step run took: `step.transition` to running, then to a settled state. */
export function stepDurations(events: readonly TaskvisorEvent[]): Map<number, number> {
  const started = new Map<string, number>();
  const lasted = new Map<number, number>();
  for (const event of events) {
    if (event.type !== 'step.transition') continue;
    if (event.to === 'running') started.set(event.stepId, event.at);
    else if (event.from === 'running' && started.has(event.stepId)) {
      lasted.set(event.seq, event.at - started.get(event.stepId)!);
      started.delete(event.stepId);
    }
  }
  return lasted;
}
