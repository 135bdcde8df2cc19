/**
 * Exit codes of the `taskvisor` command: 0 success, 1 the run failed or was cancelled (or
 * taskvisor itself broke), 2 bad input (a bad plan, an unknown id, a wrong flag). Every
 * message names the bad value and the fix.
 */
import { isTaskvisorError, type TaskvisorErrorCode } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_RUN_FAILED = 1;
export const EXIT_BAD_INPUT = 2;

/** A failure the command line reports as it is, with its exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT_BAD_INPUT,
  ) {
    super(message);
  }
}

/** TaskvisorError codes that mean the input was wrong (exit 2); any other code exits 1. */
const BAD_INPUT_CODES: ReadonlySet<TaskvisorErrorCode> = new Set<TaskvisorErrorCode>([
  'INVALID_PLAN',
  'DUPLICATE_STEP_ID',
  'UNKNOWN_DEPENDENCY',
  'SELF_DEPENDENCY',
  'PLAN_CYCLE',
  'UNKNOWN_ACTION_KIND',
  'BAD_TEMPLATE_REFERENCE',
  'SHELL_NOT_ALLOWED',
  'UNKNOWN_AGENT',
  'UNKNOWN_CHANNEL',
  'BAD_REPLACEMENT',
  'INVALID_OPTION',
  'UNKNOWN_RUN',
  'UNKNOWN_STEP',
  'UNKNOWN_REQUEST',
  'INVALID_STATE',
  'NOT_A_TASKVISOR_DB',
  'SCHEMA_TOO_NEW',
  'STORE_CORRUPT',
]);

export function exitCodeOf(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  if (isTaskvisorError(error)) return BAD_INPUT_CODES.has(error.code) ? EXIT_BAD_INPUT : EXIT_RUN_FAILED;
  return EXIT_RUN_FAILED;
}

/** The line printed for an error: `taskvisor: <message>` (with the code of a TaskvisorError). */
export function errorLine(error: unknown): string {
  if (error instanceof CliError) return `taskvisor: ${error.message}`;
  if (isTaskvisorError(error)) return `taskvisor: ${error.message} [${error.code}]`;
  if (error instanceof Error) return `taskvisor: ${error.stack ?? error.message}`;
  return `taskvisor: ${String(error)}`;
}
