/**
 * `taskvisor resume [run]`: adopts unfinished runs (all that no live process drives, or
 * one) and drives them to the end; commands stored while nothing ran apply first. A run
 * started from the command line resumes with the `--config`, `--allow` and `--model` it
 * was started with; when what it still needs is missing, resume refuses (exit 2) before
 * touching it.
 */
import type { Supervisor } from '../../supervisor.js';
import { isTerminalPhase } from '../../model/states.js';
import type { RunView } from '../../model/views.js';
import { chooseDisplay } from '../display.js';
import { type Io, printJson, printLine } from '../io.js';
import { CliError } from '../exit-codes.js';
import { driverOf, openDriverProbe } from '../driver.js';
import { type CommandHint, commandHint } from '../hints.js';
import { type InspectorRelay, startInspector } from '../inspector.js';
import { closeQuietly, type DriveFlags, openSupervisor, requireDatabase } from '../open-supervisor.js';
import { resumeSetup } from '../run-config.js';
import { summaryLines } from '../summary.js';
import { exitCodeForViews, followInterruptibly, holdInspector } from './drive.js';
import { redactUrl } from '../../store/pg-errors.js';

export interface ResumeFlags extends DriveFlags {
  readonly inspect?: boolean;
  readonly inspectPort: number;
  readonly open: boolean;
}

const UNFINISHED = ['queued', 'planning', 'awaitingApproval', 'running', 'replanning', 'paused'] as const;

type Candidates =
  | { readonly kind: 'ended'; readonly view: RunView }
  | { readonly kind: 'none'; readonly unfinished: number }
  | { readonly kind: 'runs'; readonly views: RunView[] };

/** The runs to resume, read without touching any of them. */
async function candidates(
  flags: ResumeFlags,
  db: string,
  runId: string | undefined,
  hint: CommandHint,
): Promise<Candidates> {
  let reader: Supervisor | undefined;
  try {
    reader = await openSupervisor(flags);
    if (runId !== undefined) {
      const view = await reader.get(runId);
      if (!view) {
        throw new CliError(
          `no run ${JSON.stringify(runId)} in ${redactUrl(db)}; list the runs with ${hint('ls')}.`,
        );
      }
      return isTerminalPhase(view.phase) ? { kind: 'ended', view } : { kind: 'runs', views: [view] };
    }
    const open = await reader.list({ phase: [...UNFINISHED] });
    const probe = openDriverProbe(db);
    const orphaned: RunView[] = [];
    try {
      for (const view of open) if ((await probe.driver(view.id)).state === 'orphaned') orphaned.push(view);
    } finally {
      await probe.close();
    }
    return orphaned.length === 0
      ? { kind: 'none', unfinished: open.length }
      : { kind: 'runs', views: orphaned.reverse() };
  } finally {
    await closeQuietly(reader);
  }
}

export async function resumeCommand(runId: string | undefined, flags: ResumeFlags, io: Io): Promise<number> {
  const db = requireDatabase(flags);
  const hint = commandHint(flags.db);
  const found = await candidates(flags, db, runId, hint);
  if (found.kind === 'ended') {
    if (flags.json) printJson(io, found.view);
    else for (const line of summaryLines(found.view)) printLine(io, line);
    return exitCodeForViews([found.view]);
  }
  if (found.kind === 'none') {
    if (flags.json) printJson(io, []);
    else {
      printLine(
        io,
        found.unfinished === 0
          ? `nothing to resume: no unfinished run in ${redactUrl(db)}`
          : `nothing to resume: the ${found.unfinished} unfinished run(s) in ${redactUrl(db)} are driven by other processes (${hint('ls')})`,
      );
    }
    return 0;
  }
  // Refuses (exit 2) here, before any run is touched, when what the runs need is missing.
  const setup = await resumeSetup(found.views, flags, hint, Boolean(process.env.TASKVISOR_MODEL?.trim()));
  for (const warning of setup.warnings) io.stderr.write(`${warning}\n`);

  const display = await chooseDisplay(io, { json: flags.json, hint, severalRuns: runId === undefined });
  let inspector: InspectorRelay | undefined;
  let sv: Supervisor | undefined;
  try {
    if (flags.inspect) {
      inspector = await startInspector({
        port: flags.inspectPort,
        open: flags.open && Boolean(io.stdout.isTTY),
      });
    }
    sv = await openSupervisor(flags, {
      drive: setup.flags,
      console: (text) => display.display.note(text),
      ...(inspector ? { inspect: inspector.inspect } : {}),
    });
    let runIds: string[];
    if (runId !== undefined) {
      const adopted = await sv.resume(runId);
      if (adopted.length === 0) {
        const driver = await driverOf(db, runId);
        if (!flags.json) {
          printLine(
            io,
            `run ${runId} is driven by another process${driver.state === 'live' ? ` (pid ${driver.pid} on ${driver.host})` : ''}; following it`,
          );
        }
      }
      runIds = [runId];
    } else {
      runIds = await sv.resume();
      if (runIds.length === 0) {
        if (flags.json) printJson(io, []);
        else printLine(io, `nothing to resume: another process took the runs over meanwhile (${hint('ls')})`);
        return 0;
      }
    }
    if (inspector && !flags.json) {
      printLine(io, `Stately inspector: open ${inspector.url} (the page embeds https://stately.ai/inspect)`);
    }
    if (!flags.json) for (const id of runIds) printLine(io, `run ${id}`);
    const views = await followInterruptibly(sv, runIds, display, () => {
      inspector?.stop();
      io.stderr.write(`\ntaskvisor: stopped; the runs stay unfinished and resume with ${hint('resume')}.\n`);
    });
    if (flags.json) printJson(io, runId === undefined ? views : views[0]);
    await holdInspector(inspector, io, flags);
    return exitCodeForViews(views);
  } finally {
    display.stop();
    await closeQuietly(sv);
    inspector?.stop();
  }
}
