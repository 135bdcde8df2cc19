/**
 * `taskvisor watch <run>`: follows a run another process drives (a `run --detach`, a
 * `resume`, an embedding app) until it ends; exits 0 if it completed, 1 otherwise.
 */
import { isTerminalPhase } from '../../model/states.js';
import type { Supervisor } from '../../supervisor.js';
import { chooseDisplay } from '../display.js';
import { type Io, printLine } from '../io.js';
import { CliError } from '../exit-codes.js';
import { driverOf } from '../driver.js';
import { followRuns } from '../follow.js';
import { commandHint } from '../hints.js';
import { type CommonFlags, closeQuietly, openSupervisor, requireDatabase } from '../open-supervisor.js';
import { exitCodeForViews, followInterruptibly } from './drive.js';

export async function watchCommand(runId: string, flags: CommonFlags, io: Io): Promise<number> {
  const db = requireDatabase(flags);
  const hint = commandHint(flags.db);
  let sv: Supervisor | undefined;
  try {
    sv = await openSupervisor(flags);
    const view = await sv.get(runId);
    if (!view)
      throw new CliError(`no run ${JSON.stringify(runId)} in ${db}; list the runs with ${hint('ls')}.`);
    if (!isTerminalPhase(view.phase) && (await driverOf(db, runId)).state === 'none') {
      io.stderr.write(
        `taskvisor: no process drives run ${runId} now; continue it with ${hint(`resume ${runId}`)} (watching for changes).\n`,
      );
    }
    if (flags.json) {
      // Newline-delimited events, as they are committed.
      const views = await followRuns(sv, [runId], {
        onEvent: (_run, event) => io.stdout.write(`${JSON.stringify(event)}\n`),
        finish: () => {},
        note: (text) => io.stderr.write(`${text}\n`),
      });
      return exitCodeForViews(views);
    }
    printLine(io, `run ${runId}`);
    const display = await chooseDisplay(io, { json: false, hint, severalRuns: false });
    return exitCodeForViews(await followInterruptibly(sv, [runId], display, () => {}));
  } finally {
    await closeQuietly(sv);
  }
}
