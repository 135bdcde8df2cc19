/**
 * `taskvisor worker`: a long-lived process that drives runs (`drive: 'all'`): it claims
 * every run that needs a driver, up to `--concurrency` at a time, until SIGTERM or SIGINT.
 * Then it stops claiming, lets the attempts in flight finish for up to `--grace` (default
 * 30 s), aborts what is still running (it resumes elsewhere, under the durability rules),
 * releases its leases and exits 0. A second signal skips the grace.
 */
import { parseDuration } from '../../model/duration.js';
import type { Supervisor } from '../../supervisor.js';
import { redactUrl } from '../../store/pg-errors.js';
import { CliError } from '../exit-codes.js';
import { type Io, printLine } from '../io.js';
import { closeQuietly, dbPathOf, type DriveFlags, openSupervisor } from '../open-supervisor.js';

export interface WorkerFlags extends DriveFlags {
  readonly concurrency?: number;
  readonly grace?: string;
}

export const DEFAULT_GRACE = '30s';

export async function workerCommand(flags: WorkerFlags, io: Io): Promise<number> {
  let graceMs: number;
  try {
    graceMs = parseDuration(flags.grace ?? DEFAULT_GRACE, '--grace');
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  const db = redactUrl(dbPathOf(flags));
  let sv: Supervisor | undefined;
  let stopping: Promise<void> | undefined;
  let signals = 0;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const say = (text: string) => {
    if (flags.json) io.stdout.write(`${JSON.stringify({ type: 'worker.log', message: text })}\n`);
    else printLine(io, text);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (!sv) return;
    if (signals > 1) {
      say(`${signal} again: stopping now (attempts still running are aborted and resume elsewhere)`);
      void closeQuietly(sv).then(stopped);
      return;
    }
    say(
      `${signal}: stopping — no new runs or attempts; waiting up to ${graceMs / 1000} s for the attempts in flight`,
    );
    stopping = sv.close({ graceMs }).then(stopped, (error: unknown) => {
      io.stderr.write(`taskvisor worker: ${(error as Error).message}\n`);
      stopped();
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // The supervisor's timers do not hold a process open; a worker stays until it is stopped.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    sv = await openSupervisor(flags, {
      drive: flags,
      driveMode: 'all',
      ...(flags.concurrency === undefined ? {} : { runs: flags.concurrency }),
      console: (text) => say(text),
    });
    if (signals > 0) onSignal('SIGTERM');
    const subscription = sv.events$.subscribe((event) => {
      if (flags.json) io.stdout.write(`${JSON.stringify(event)}\n`);
      else if (event.type === 'run.transition')
        printLine(io, `run ${event.runId}: ${event.from} → ${event.to}`);
    });
    say(
      `worker ${process.pid} driving runs of ${db}${flags.concurrency ? ` (up to ${flags.concurrency} at a time)` : ''}; stop it with SIGTERM or Ctrl-C`,
    );
    await done;
    await stopping;
    subscription.unsubscribe();
    say('stopped: leases released, unfinished runs left to the other workers');
    return 0;
  } finally {
    clearInterval(keepAlive);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await closeQuietly(sv);
  }
}
