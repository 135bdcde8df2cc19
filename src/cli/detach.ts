/**
 * `run --detach`: the command re-runs itself as a background process (same flags, plus
 * the run id chosen here) whose output goes to `<db dir>/<run id>.log`. The background
 * process reports over IPC once the run is durable (or why it could not start it), then
 * lives on alone; this one prints the run id and exits.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { CliError, EXIT_RUN_FAILED } from './exit-codes.js';

/** What the background process reports to the one that started it. */
export type DetachReport =
  | { readonly type: 'started'; readonly runId: string; readonly inspectUrl?: string }
  | { readonly type: 'failed'; readonly message: string; readonly exitCode: number };

/** The flag that tells a `run` it is the background process, with the run id to use. */
export const DETACHED_FLAG = '--detached-run-id';

export function newRunId(): string {
  return `run_${randomBytes(8).toString('base64url')}`;
}

export function logFileFor(db: string, runId: string): string {
  return path.join(path.dirname(path.resolve(db)), `${runId}.log`);
}

/** The arguments of this command line for the background process: no `--detach`, and lines (not JSON) for the log. */
function argumentsWithoutDetach(argv: readonly string[]): string[] {
  return argv.filter((argument) => argument !== '--detach' && argument !== '--json');
}

/**
 * Starts the background process and waits for its report. Resolves with the run id and
 * the log file; rejects with the background process's own error (exit code kept).
 */
export async function detachRun(
  argv: readonly string[],
  db: string,
): Promise<{ runId: string; log: string; inspectUrl?: string; pid: number }> {
  if (db === ':memory:') {
    throw new CliError(
      '--detach needs a database file (a background process cannot share :memory:); pass --db <path>.',
    );
  }
  const runId = newRunId();
  const log = logFileFor(db, runId);
  mkdirSync(path.dirname(log), { recursive: true });
  const fd = openSync(log, 'a');
  const child = spawn(
    process.execPath,
    [...process.execArgv, process.argv[1]!, ...argumentsWithoutDetach(argv), DETACHED_FLAG, runId],
    {
      detached: true,
      stdio: ['ignore', fd, fd, 'ipc'],
      env: { ...process.env, FORCE_COLOR: '0' },
    },
  );
  closeSync(fd);
  const report = await new Promise<DetachReport>((resolve, reject) => {
    child.once('message', (message) => resolve(message as DetachReport));
    child.once('error', (error) =>
      reject(new CliError(`could not start the background process: ${error.message}.`, EXIT_RUN_FAILED)),
    );
    child.once('exit', (code, signal) =>
      reject(
        new CliError(
          `the background process exited (${signal ?? `code ${code}`}) before it started the run; see ${log}.`,
          EXIT_RUN_FAILED,
        ),
      ),
    );
  });
  child.removeAllListeners('exit');
  child.disconnect?.();
  child.unref();
  if (report.type === 'failed') throw new CliError(report.message, report.exitCode);
  return {
    runId: report.runId,
    log,
    pid: child.pid ?? 0,
    ...(report.inspectUrl ? { inspectUrl: report.inspectUrl } : {}),
  };
}

/** In the background process: tells the starter how it went, then drops the channel. */
export function reportToStarter(report: DetachReport): void {
  if (!process.send) return;
  process.send(report, () => process.disconnect?.());
}
