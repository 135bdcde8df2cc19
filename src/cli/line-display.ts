/**
 * The display for a log file or a pipe: one plain line per change, and a line for each
 * new thing the run waits for (with the command that answers it).
 */
import type { TaskvisorEvent } from '../model/events.js';
import type { RunView } from '../model/views.js';
import type { Display, FollowedRun } from './follow.js';
import { type CommandHint, waitingItems } from './hints.js';
import { verdictLines } from './fanout-lines.js';
import { oneLine, shownOutput } from './style.js';
import { summaryLines } from './summary.js';

export class LineDisplay implements Display {
  private readonly announced = new Map<string, Set<string>>();

  constructor(
    private readonly write: (line: string) => void,
    private readonly hint: CommandHint,
    /** Prefix lines with the run id (when following several runs). */
    private readonly prefixRuns: boolean,
  ) {}

  onEvent(run: FollowedRun, event: TaskvisorEvent): void {
    const line = describeEvent(event);
    const prefix = this.prefixRuns ? `[${run.runId}] ` : '';
    if (line !== undefined) this.write(prefix + line);
    const announced = this.announced.get(run.runId) ?? new Set<string>();
    this.announced.set(run.runId, announced);
    const view = run.projection.view();
    const items = waitingItems(view, run.requests.values(), this.hint);
    const waiting = new Set(items.map((item) => item.text));
    for (const item of items) {
      if (announced.has(item.text)) continue;
      this.write(`${prefix}waiting: ${item.text}`);
      for (const line of item.details) this.write(`${prefix}    ${line}`);
    }
    // Forget what is no longer waited for, so a second wait on the same gate is announced again.
    for (const text of announced) if (!waiting.has(text)) announced.delete(text);
    for (const text of waiting) announced.add(text);
  }

  note(text: string): void {
    this.write(text);
  }

  finish(views: readonly RunView[]): void {
    for (const view of views) for (const line of summaryLines(view)) this.write(line);
  }
}

/** One line for an event, or undefined for those not worth a line. */
export function describeEvent(event: TaskvisorEvent): string | undefined {
  switch (event.type) {
    case 'run.transition':
      return `run ${event.runId}: ${event.from} -> ${event.to}${event.reason ? ` (${event.reason})` : ''}`;
    case 'step.transition': {
      const details = [
        `attempt ${event.attempt}`,
        ...(event.reason ? [event.reason] : []),
        ...(event.error ? [`error: ${oneLine(event.error.message, 200)}`] : []),
      ];
      return `step ${event.stepId}: ${event.from} -> ${event.to} (${details.join('; ')})`;
    }
    case 'step.output':
      return `step ${event.stepId} output: ${oneLine(shownOutput(event.output))}`;
    case 'step.log':
      return `step ${event.stepId}: ${oneLine(event.message, 200)}`;
    case 'approval.resolved':
      return `${event.kind === 'plan' ? 'plan' : `step ${event.stepId}`}: ${event.decision}${event.by ? ` by ${event.by}` : ''}${event.reason ? ` (${event.reason})` : ''}`;
    case 'request.answered':
      return `step ${event.stepId}: request ${event.requestId} answered${event.by ? ` by ${event.by}` : ''}`;
    case 'control.applied':
      return `step ${event.stepId}: control ${event.action}${event.by ? ` by ${event.by}` : ''}`;
    case 'plan.created':
      return `plan: ${event.steps.map((step) => step.id).join(', ')}`;
    case 'replan.applied':
      return `replanned (${event.attempt}): added ${event.added.join(', ') || 'nothing'}`;
    case 'worker.transition':
      return `step ${event.stepId} worker ${event.label} (${event.model}): ${event.from ?? 'new'} -> ${event.to}${event.error ? ` (error: ${oneLine(event.error, 200)})` : ''}`;
    case 'fanout.reduced': {
      const verdict = (event.reduction as { verdict?: Record<string, unknown> } | null)?.verdict;
      const lines = verdict ? verdictLines(event.mode, verdict, 200) : [];
      return `step ${event.stepId} verdict (${event.mode} by ${event.model})${lines.length > 0 ? `: ${lines.join('; ')}` : ''}`;
    }
    case 'budget.exceeded':
      return `budget exceeded (${event.limit}): ${event.detail}`;
    default:
      return undefined;
  }
}
