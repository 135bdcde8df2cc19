/**
 * The errors of a shell run: how a failed, refused, aborted or never-started command is told
 * (exit code or signal, the last stderr lines, bubblewrap's own words when the jail failed).
 */
import os from 'node:os';
import { TaskvisorError } from '../errors.js';
import { isInside } from './jail-args.js';
import type { OutputCapture } from './output-capture.js';
import type { ShellOutcome } from './shell-outcome.js';

/** Lines of stderr quoted in a `SHELL_FAILED` message. */
const STDERR_LINES_IN_MESSAGE = 10;

export function shellFailed(outcome: ShellOutcome, stderr: OutputCapture): TaskvisorError {
  const how =
    outcome.exitCode !== null
      ? `exited with code ${outcome.exitCode}`
      : `was killed by signal ${outcome.signal}`;
  const lines = stderr.lastLines(STDERR_LINES_IN_MESSAGE);
  const quoted =
    lines.length > 0
      ? `; last stderr lines:\n${lines.map((line) => `  ${line}`).join('\n')}`
      : '; it wrote nothing to stderr';
  return new TaskvisorError(
    'SHELL_FAILED',
    `Shell command "${outcome.requested}" (${outcome.command}) ${how}${quoted}`,
    { ...outcome },
  );
}

/** The signal a shell-style exit status (128 + n) stands for, if n is a signal. */
export function signalOf(status: number): NodeJS.Signals | undefined {
  if (status <= 128) return undefined;
  const entry = Object.entries(os.constants.signals).find(([, number]) => number === status - 128);
  return entry?.[0] as NodeJS.Signals | undefined;
}

/** The jail never ran the command: bubblewrap could not set it up, or could not exec the binary. */
export function jailFailed(outcome: ShellOutcome, stderr: OutputCapture, root: string): TaskvisorError {
  const said = stderr
    .lastLines(STDERR_LINES_IN_MESSAGE)
    .filter((line) => line.startsWith('bwrap:'))
    .join(' ');
  const detail = said || `bubblewrap exited with ${outcome.exitCode ?? outcome.signal} and said nothing`;
  // bubblewrap binds an open directory by its path after checking that the path is still that
  // directory: a directory of the sandbox moved or swapped meanwhile fails the check.
  const source = /Can't (?:get type of source |bind mount \/oldroot)(\/.*?)(?:: | on )/.exec(said)?.[1];
  if (/Race condition binding dirfd/.test(said) || (source !== undefined && isInside(source, root))) {
    return new TaskvisorError(
      'SANDBOX_ESCAPE',
      `Shell command "${outcome.requested}" did not run: a directory of the sandbox was moved or swapped while the jail was being set up (${detail}). Stop whatever swaps directories in the sandbox.`,
      { ...outcome, retryable: false },
    );
  }
  if (/execvp/.test(said)) {
    return new TaskvisorError(
      'ACTION_FAILED',
      `Shell command "${outcome.requested}" (${outcome.command}) could not be started in the jail (${detail}). If it needs files outside the system directories and sandbox.cwd (an interpreter, its libraries), add them to sandbox.readPaths.`,
      { ...outcome, retryable: false },
    );
  }
  return new TaskvisorError(
    'SANDBOX_UNAVAILABLE',
    `The jail could not be set up for shell command "${outcome.requested}" (${detail}); check sandbox.readPaths / writePaths, or set sandbox.isolation: 'none' to run without the jail.`,
    { ...outcome, retryable: false },
  );
}

export function abortedBeforeStart(command: string, reason: unknown): TaskvisorError {
  return new TaskvisorError(
    'ABORTED',
    `Shell command "${command}" was not started: the step was already aborted${describeReason(reason)}.`,
    { requested: command },
    { cause: reason },
  );
}

export function couldNotStart(command: string, binary: string, error: unknown): TaskvisorError {
  const message = error instanceof Error ? error.message : String(error);
  return new TaskvisorError(
    'ACTION_FAILED',
    `Shell command "${command}" (${binary}) could not be started: ${message}.`,
    { requested: command, command: binary },
    { cause: error },
  );
}

export function describeReason(reason: unknown): string {
  if (reason instanceof Error && reason.message) return ` (${reason.message})`;
  if (typeof reason === 'string' && reason) return ` (${reason})`;
  return '';
}
