/** `taskvisor ls`, `show <run>` and `trace <run>`: the read model and the full trace. */
import { type RunPhase, RunPhaseSchema } from '../../model/states.js';
import type { RunView } from '../../model/views.js';
import { didYouMean } from '../../model/suggest.js';
import { summarizeReplan } from '../../planning/summary.js';
import type { Supervisor } from '../../supervisor.js';
import { type Io, printJson, printLine } from '../io.js';
import { describeStoredCommand, openDriverProbe, type RunStatus, runStatus } from '../driver.js';
import { CliError } from '../exit-codes.js';
import { type CommandHint, commandHint, waitingItems } from '../hints.js';
import { describeEvent } from '../line-display.js';
import { fanoutOutputLines, workerRows } from '../fanout-lines.js';
import { runToMermaid } from '../mermaid-dag.js';
import { type CommonFlags, closeQuietly, openSupervisor, requireDatabase } from '../open-supervisor.js';
import {
  formatDuration,
  formatTime,
  formatUsage,
  oneLine,
  pad,
  PHASE_COLOURS,
  STEP_COLOURS,
  styleFor,
} from '../style.js';
import { redactUrl } from '../../store/pg-errors.js';

async function withSupervisor<T>(
  flags: CommonFlags,
  work: (sv: Supervisor, db: string) => Promise<T>,
): Promise<T> {
  const db = requireDatabase(flags);
  const sv = await openSupervisor(flags);
  try {
    return await work(sv, db);
  } finally {
    await closeQuietly(sv);
  }
}

/** The run, or exit 2 naming the id and how to list the runs. */
export async function requireRun(
  sv: Supervisor,
  runId: string,
  db: string,
  hint: CommandHint,
): Promise<RunView> {
  const view = await sv.get(runId);
  if (!view)
    throw new CliError(
      `no run ${JSON.stringify(runId)} in ${redactUrl(db)}; list the runs with ${hint('ls')}.`,
    );
  return view;
}

export interface LsFlags extends CommonFlags {
  readonly phase?: readonly string[];
  readonly limit: number;
}

function parsePhases(values: readonly string[] | undefined): RunPhase[] | undefined {
  if (!values || values.length === 0) return undefined;
  return values.map((value) => {
    const parsed = RunPhaseSchema.safeParse(value);
    if (!parsed.success) {
      throw new CliError(
        `--phase ${JSON.stringify(value)} is not a run phase${didYouMean(value, RunPhaseSchema.options)}; phases are ${RunPhaseSchema.options.join(', ')}.`,
      );
    }
    return parsed.data;
  });
}

/** `live`, `orphaned`, `live, waits: approval`, `orphaned, waits: confirmation, 1 pending`. */
function statusLabel(status: RunStatus): string {
  if (status.driver === 'ended') return '';
  const parts: string[] = [status.driver];
  if (status.waitingFor.length > 0) parts.push(`waits: ${status.waitingFor.join('+')}`);
  if (status.pendingCommands.length > 0) parts.push(`${status.pendingCommands.length} pending`);
  return parts.join(', ');
}

export function lsCommand(flags: LsFlags, io: Io): Promise<number> {
  const phases = parsePhases(flags.phase);
  return withSupervisor(flags, async (sv, db) => {
    const views = await sv.list({ ...(phases ? { phase: phases } : {}), limit: flags.limit });
    const probe = openDriverProbe(db);
    const statuses = new Map<string, RunStatus>();
    try {
      for (const view of views) statuses.set(view.id, await runStatus(probe, view));
    } finally {
      await probe.close();
    }
    if (flags.json) {
      printJson(
        io,
        views.map((view) => ({ ...view, status: statuses.get(view.id) })),
      );
      return 0;
    }
    if (views.length === 0) {
      printLine(io, `no runs${phases ? ` in phase ${phases.join(', ')}` : ''} in ${redactUrl(db)}`);
      return 0;
    }
    const { paint } = styleFor(io.stdout);
    const idWidth = Math.max(...views.map((view) => view.id.length));
    const labels = new Map(views.map((view) => [view.id, statusLabel(statuses.get(view.id)!)]));
    const statusWidth = Math.max(6, ...[...labels.values()].map((label) => label.length));
    printLine(
      io,
      paint(
        'dim',
        `${pad('RUN', idWidth)}  ${pad('PHASE', 16)}  ${pad('STATUS', statusWidth)}  STEPS  ${pad('CREATED', 19)}  GOAL`,
      ),
    );
    for (const view of views) {
      const done = view.steps.filter((step) => step.state === 'succeeded').length;
      const status = statuses.get(view.id)!;
      const label = labels.get(view.id)!;
      const colour = status.driver === 'orphaned' ? 'red' : status.waitingFor.length > 0 ? 'yellow' : 'dim';
      printLine(
        io,
        `${pad(view.id, idWidth)}  ${paint(PHASE_COLOURS[view.phase], pad(view.phase, 16))}  ${paint(colour, pad(label, statusWidth))}  ${pad(`${done}/${view.steps.length}`, 5)}  ${formatTime(view.createdAt)}  ${oneLine(view.goal, 60)}`,
      );
    }
    if ([...statuses.values()].some((status) => status.driver === 'orphaned')) {
      printLine(io);
      printLine(
        io,
        paint(
          'dim',
          `orphaned: no live process drives the run; continue it with ${commandHint(flags.db)('resume <run>')}`,
        ),
      );
    }
    return 0;
  });
}

export interface ShowFlags extends CommonFlags {
  readonly mermaid?: boolean;
}

export function showCommand(runId: string, flags: ShowFlags, io: Io): Promise<number> {
  const hint = commandHint(flags.db);
  return withSupervisor(flags, async (sv, db) => {
    const view = await requireRun(sv, runId, db, hint);
    if (flags.mermaid) {
      io.stdout.write(
        flags.json
          ? `${JSON.stringify({ runId: view.id, mermaid: runToMermaid(view) })}\n`
          : runToMermaid(view),
      );
      return 0;
    }
    if (flags.json) {
      printJson(io, view);
      return 0;
    }
    const { paint } = styleFor(io.stdout);
    printLine(io, `${paint('bold', `run ${view.id}`)}  ${paint(PHASE_COLOURS[view.phase], view.phase)}`);
    printLine(io, `  goal     ${view.goal}`);
    printLine(
      io,
      `  created  ${formatTime(view.createdAt)}   updated ${formatTime(view.updatedAt)}   (${formatDuration(view.updatedAt - view.createdAt)})`,
    );
    if (view.reason) printLine(io, `  reason   ${view.reason}`);
    if (view.result === undefined) {
      const probe = openDriverProbe(db);
      try {
        const driver = await probe.driver(view.id);
        printLine(
          io,
          driver.state === 'live'
            ? `  driver   live: pid ${driver.pid} on ${driver.host}`
            : `  driver   orphaned: no live process drives this run; continue it with ${hint(`resume ${view.id}`)}`,
        );
        for (const command of await probe.storedCommands(view.id)) {
          printLine(
            io,
            paint(
              'yellow',
              `  pending  ${describeStoredCommand(command)}, stored ${formatTime(command.storedAt)}: applies when a process drives the run`,
            ),
          );
        }
      } finally {
        await probe.close();
      }
    }
    if (view.replans > 0) printLine(io, `  replans  ${view.replans}`);
    const { inputTokens, outputTokens } = view.usage;
    if (inputTokens + outputTokens > 0) printLine(io, `  usage    ${formatUsage(view.usage)}`);
    if (view.result?.error) printLine(io, `  error    ${oneLine(view.result.error, 300)}`);
    printLine(io);
    const idWidth = Math.max(4, ...view.steps.map((step) => step.id.length));
    const kindWidth = Math.max(4, ...view.steps.map((step) => step.kind.length));
    printLine(
      io,
      paint(
        'dim',
        `  ${pad('STEP', idWidth)}  ${pad('KIND', kindWidth)}  ${pad('TIER', 11)}  ${pad('STATE', 20)}  TRY  ${pad('TIME', 7)}  AFTER`,
      ),
    );
    for (const step of view.steps) {
      const time =
        step.startedAt === undefined ? '' : formatDuration((step.endedAt ?? Date.now()) - step.startedAt);
      printLine(
        io,
        `  ${pad(step.id, idWidth)}  ${pad(step.kind, kindWidth)}  ${pad(step.tier, 11)}  ${paint(STEP_COLOURS[step.state], pad(step.state, 20))}  ${pad(String(step.attempt), 3)}  ${pad(time, 7)}  ${step.dependsOn.join(', ')}`,
      );
      if (step.kind === 'fanout') for (const row of workerRows(view, step.id)) printLine(io, `  ${row}`);
    }
    const described = view.steps.filter((step) => step.action !== undefined);
    if (described.length > 0) {
      printLine(io);
      printLine(io, paint('dim', '  what each step runs'));
      for (const step of described) printLine(io, `  ${pad(step.id, idWidth)}  ${step.action!.summary}`);
    }
    if (view.proposal) {
      printLine(io);
      printLine(io, paint('yellow', '  the replan waiting for approval would change the plan:'));
      for (const line of summarizeReplan(view.goal, view.steps, view.proposal, []).split('\n').slice(1))
        printLine(io, `  ${line}`);
    }
    const details = view.steps.filter((step) => step.output !== undefined || step.error || step.reason);
    if (details.length > 0) printLine(io);
    for (const step of details) {
      const fanout = step.kind === 'fanout' ? fanoutOutputLines(step.output) : undefined;
      if (fanout) {
        printLine(io, `  ${step.id} →`);
        for (const line of fanout) printLine(io, `      ${line}`);
      } else if (step.output !== undefined) printLine(io, `  ${step.id} → ${oneLine(step.output, 200)}`);
      if (step.error) printLine(io, `  ${step.id} ✖ ${oneLine(step.error, 200)}`);
      else if (step.reason) printLine(io, `  ${step.id}: ${step.reason}`);
    }
    const requests = (await sv.pending()).requests.filter((request) => request.runId === view.id);
    const waiting = waitingItems(view, requests, hint);
    if (waiting.length > 0) printLine(io);
    for (const item of waiting) {
      printLine(io, paint('yellow', `  waiting: ${item.text}`));
      // The plan's steps and actions are listed above; a confirmation shows what would run.
      if (item.kind !== 'plan') for (const line of item.details) printLine(io, `      ${line}`);
    }
    return 0;
  });
}

export function traceCommand(runId: string, flags: CommonFlags, io: Io): Promise<number> {
  const hint = commandHint(flags.db);
  return withSupervisor(flags, async (sv, db) => {
    await requireRun(sv, runId, db, hint);
    const trace = await sv.trace(runId);
    if (flags.json) {
      printJson(io, trace);
      return 0;
    }
    const { paint } = styleFor(io.stdout);
    const start = trace.run.createdAt;
    printLine(
      io,
      `${paint('bold', `run ${trace.run.id}`)}  ${trace.run.phase}  ${trace.events.length} events`,
    );
    for (const event of trace.events) {
      const text =
        event.type === 'run.created'
          ? `run created: ${oneLine(event.goal, 80)} (${event.steps.length} steps)`
          : describeEvent(event);
      printLine(
        io,
        `  ${pad(`+${formatDuration(event.at - start)}`, 9)} ${paint('dim', pad(`#${event.seq}`, 7))} ${pad(event.type, 18)} ${text ?? ''}`.trimEnd(),
      );
    }
    if (trace.attempts.length > 0) {
      printLine(io);
      printLine(io, paint('dim', '  attempts'));
      for (const attempt of trace.attempts) {
        const time = attempt.endedAt === undefined ? '' : formatDuration(attempt.endedAt - attempt.startedAt);
        const result = attempt.error
          ? `error: ${oneLine(attempt.error.message, 120)}`
          : attempt.output !== undefined
            ? oneLine(attempt.output, 120)
            : '';
        printLine(
          io,
          `  ${attempt.stepId} #${attempt.attempt}  ${pad(attempt.status, 9)} ${pad(time, 7)} ${result}`.trimEnd(),
        );
      }
    }
    if (trace.requests.length > 0) {
      printLine(io);
      printLine(io, paint('dim', '  requests'));
      for (const request of trace.requests) {
        const answer =
          request.answer === undefined
            ? request.closedAt === undefined
              ? 'open'
              : 'closed'
            : `answered ${oneLine(request.answer, 80)}`;
        printLine(io, `  ${request.id}  ${request.stepId}: ${oneLine(request.question, 80)} → ${answer}`);
      }
    }
    if (trace.artifacts.length > 0) {
      printLine(io);
      printLine(io, paint('dim', '  artifacts'));
      for (const artifact of trace.artifacts) printLine(io, `  ${oneLine(artifact, 160)}`);
    }
    return 0;
  });
}
