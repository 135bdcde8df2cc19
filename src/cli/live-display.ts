/**
 * The display for a terminal: every followed run as a list of its steps (state, attempt,
 * duration) redrawn in place by `log-update`, with what the run waits for underneath.
 */
import { createLogUpdate } from 'log-update';
import type { TaskvisorEvent } from '../model/events.js';
import type { RunView, StepView } from '../model/views.js';
import { workerRows } from './fanout-lines.js';
import type { Display, FollowedRun } from './follow.js';
import { type CommandHint, waitingItems } from './hints.js';
import {
  formatDuration,
  oneLine,
  pad,
  PHASE_COLOURS,
  STEP_COLOURS,
  STEP_SYMBOLS,
  type Style,
} from './style.js';
import { summaryLines } from './summary.js';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const FRAME_MS = 120;

export class LiveDisplay implements Display {
  private readonly runs = new Map<string, FollowedRun>();
  private readonly log: ReturnType<typeof createLogUpdate>;
  private readonly ticker: ReturnType<typeof setInterval>;
  private tick = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly style: Style,
    private readonly hint: CommandHint,
    private readonly now: () => number = Date.now,
  ) {
    this.log = createLogUpdate(stream);
    this.ticker = setInterval(() => {
      this.tick += 1;
      this.render();
    }, FRAME_MS);
    this.ticker.unref();
  }

  onEvent(run: FollowedRun, event: TaskvisorEvent): void {
    this.runs.set(run.runId, run);
    if (event.type === 'step.log') {
      this.log.persist(this.style.paint('dim', `  ${event.stepId}: ${oneLine(event.message, 200)}`));
    }
  }

  note(text: string): void {
    this.log.persist(text);
  }

  finish(views: readonly RunView[]): void {
    clearInterval(this.ticker);
    this.render(views);
    this.log.done();
    for (const view of views) {
      const [head, ...rest] = summaryLines(view);
      this.stream.write(`${this.style.paint(PHASE_COLOURS[view.phase], head!)}\n`);
      for (const line of rest) this.stream.write(`${line}\n`);
    }
  }

  /** Stops redrawing (an error ends the command); the last frame stays. */
  stop(): void {
    clearInterval(this.ticker);
    this.log.done();
  }

  private render(finalViews?: readonly RunView[]): void {
    const lines: string[] = [];
    for (const run of this.runs.values()) {
      if (run.projection.runId === undefined) continue;
      const view = finalViews?.find((candidate) => candidate.id === run.runId) ?? run.projection.view();
      lines.push(...this.frame(run, view, finalViews !== undefined));
    }
    if (lines.length > 0) this.log(lines.join('\n'));
  }

  private frame(run: FollowedRun, view: RunView, final: boolean): string[] {
    const { paint } = this.style;
    const ended = view.result !== undefined;
    const elapsed = (ended ? view.updatedAt : this.now()) - view.createdAt;
    const lines = [
      `${paint('bold', `run ${view.id}`)}  ${paint(PHASE_COLOURS[view.phase], view.phase)}  ${paint('dim', formatDuration(elapsed))}  ${oneLine(view.goal, 60)}`,
    ];
    const idWidth = Math.min(24, Math.max(4, ...view.steps.map((step) => step.id.length)));
    const kindWidth = Math.min(12, Math.max(4, ...view.steps.map((step) => step.kind.length)));
    for (const step of view.steps) {
      lines.push(this.stepLine(step, idWidth, kindWidth));
      if (step.kind === 'fanout') lines.push(...workerRows(view, step.id).map((row) => paint('dim', row)));
    }
    if (!final) {
      for (const item of waitingItems(view, run.requests.values(), this.hint)) {
        lines.push(paint('yellow', `  ⏸ ${item.text}`));
        for (const line of item.details) lines.push(`      ${line}`);
      }
    }
    return lines;
  }

  private stepLine(step: StepView, idWidth: number, kindWidth: number): string {
    const { paint } = this.style;
    const symbol = step.state === 'running' ? SPINNER[this.tick % SPINNER.length]! : STEP_SYMBOLS[step.state];
    const duration =
      step.startedAt === undefined ? '' : formatDuration((step.endedAt ?? this.now()) - step.startedAt);
    const attempt = step.attempt > 0 ? `#${step.attempt}` : '';
    const note = step.error ?? step.reason ?? step.action?.summary;
    return [
      ' ',
      paint(STEP_COLOURS[step.state], symbol),
      pad(step.id, idWidth),
      paint('dim', pad(step.kind, kindWidth)),
      paint(STEP_COLOURS[step.state], pad(step.state, 20)),
      pad(attempt, 4),
      pad(duration, 7),
      note ? paint('dim', oneLine(note, 60)) : '',
    ]
      .join(' ')
      .trimEnd();
  }
}
