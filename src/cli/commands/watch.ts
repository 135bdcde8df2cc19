/**
 * `taskvisor watch <run>`: follows a run another process drives (a `run --detach`, a
 * `resume`, an embedding app) until it ends; exits 0 if it completed, 1 otherwise. It
 * checks the run's driver every second and says at once when the process driving it is
 * gone (and what to run), or when one picks it up again.
 */
import { isTerminalPhase } from '../../model/states.js';
import type { Supervisor } from '../../supervisor.js';
import { chooseDisplay } from '../display.js';
import { type Io, printLine } from '../io.js';
import { CliError } from '../exit-codes.js';
import { type Driver, openDriverProbe } from '../driver.js';
import { followRuns } from '../follow.js';
import { type CommandHint, commandHint } from '../hints.js';
import { type CommonFlags, closeQuietly, openSupervisor, requireDatabase } from '../open-supervisor.js';
import { exitCodeForViews, followInterruptibly } from './drive.js';
import { redactUrl } from '../../store/pg-errors.js';

/** How often `watch` looks at the run's lease. */
const DRIVER_CHECK_MS = 1000;

function orphanedLine(runId: string, hint: CommandHint, was?: Driver): string {
  const gone =
    was?.state === 'live'
      ? `the process driving run ${runId} (pid ${was.pid} on ${was.host}) is gone`
      : `no process drives run ${runId} now`;
  return `taskvisor: ${gone}; continue it with ${hint(`resume ${runId}`)} (still watching)`;
}

/** Reports every change of the run's driver to `say` until stopped. */
function watchDriver(
  db: string,
  runId: string,
  hint: CommandHint,
  say: (line: string) => void,
): { stop(): void } {
  const probe = openDriverProbe(db);
  let last: Driver | undefined;
  let checking = false;
  let stopped = false;
  const check = async () => {
    if (checking || stopped) return;
    checking = true;
    try {
      const driver = await probe.driver(runId);
      if (stopped) return;
      if (driver.state === 'orphaned' && last?.state !== 'orphaned') say(orphanedLine(runId, hint, last));
      if (driver.state === 'live' && last?.state === 'orphaned') {
        say(`taskvisor: run ${runId} is driven again, by pid ${driver.pid} on ${driver.host}`);
      }
      last = driver;
    } catch {
      // The database is busy or gone for a moment: look again at the next tick.
    } finally {
      checking = false;
    }
  };
  void check();
  const timer = setInterval(() => void check(), DRIVER_CHECK_MS);
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
      void probe.close().catch(() => {});
    },
  };
}

export async function watchCommand(runId: string, flags: CommonFlags, io: Io): Promise<number> {
  const db = requireDatabase(flags);
  const hint = commandHint(flags.db);
  let sv: Supervisor | undefined;
  let driverWatch: { stop(): void } | undefined;
  try {
    sv = await openSupervisor(flags);
    const view = await sv.get(runId);
    if (!view)
      throw new CliError(
        `no run ${JSON.stringify(runId)} in ${redactUrl(db)}; list the runs with ${hint('ls')}.`,
      );
    const ended = isTerminalPhase(view.phase);
    if (flags.json) {
      if (!ended) driverWatch = watchDriver(db, runId, hint, (line) => io.stderr.write(`${line}\n`));
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
    if (!ended) driverWatch = watchDriver(db, runId, hint, (line) => display.display.note(line));
    return exitCodeForViews(await followInterruptibly(sv, [runId], display, () => {}));
  } finally {
    driverWatch?.stop();
    await closeQuietly(sv);
  }
}
