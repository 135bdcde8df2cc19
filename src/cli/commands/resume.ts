/**
 * `taskvisor resume [run]`: adopts unfinished runs (all that no live process drives, or
 * one) and drives them to the end; commands stored while nothing ran apply first.
 */
import type { Supervisor } from '../../supervisor.js';
import { isTerminalPhase } from '../../model/states.js';
import { chooseDisplay } from '../display.js';
import { type Io, printJson, printLine } from '../io.js';
import { CliError } from '../exit-codes.js';
import { driverOf } from '../driver.js';
import { commandHint } from '../hints.js';
import { type InspectorRelay, startInspector } from '../inspector.js';
import { closeQuietly, type DriveFlags, openSupervisor, requireDatabase } from '../open-supervisor.js';
import { summaryLines } from '../summary.js';
import { exitCodeForViews, followInterruptibly, holdInspector } from './drive.js';

export interface ResumeFlags extends DriveFlags {
  readonly inspect?: boolean;
  readonly inspectPort: number;
  readonly open: boolean;
}

export async function resumeCommand(runId: string | undefined, flags: ResumeFlags, io: Io): Promise<number> {
  const db = requireDatabase(flags);
  const hint = commandHint(flags.db);
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
      drive: flags,
      resume: runId === undefined,
      console: (text) => display.display.note(text),
      ...(inspector ? { inspect: inspector.inspect } : {}),
    });
    let runIds: string[];
    if (runId !== undefined) {
      const view = await sv.get(runId);
      if (!view) {
        throw new CliError(`no run ${JSON.stringify(runId)} in ${db}; list the runs with ${hint('ls')}.`);
      }
      if (isTerminalPhase(view.phase)) {
        if (flags.json) printJson(io, view);
        else for (const line of summaryLines(view)) printLine(io, line);
        return exitCodeForViews([view]);
      }
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
        const open = await sv.list({
          phase: ['queued', 'planning', 'awaitingApproval', 'running', 'replanning', 'paused'],
        });
        if (flags.json) printJson(io, []);
        else {
          printLine(
            io,
            open.length === 0
              ? `nothing to resume: no unfinished run in ${db}`
              : `nothing to resume: the ${open.length} unfinished run(s) in ${db} are driven by other processes (${hint('ls')})`,
          );
        }
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
