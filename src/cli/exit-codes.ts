/**
 * Exit codes of the `taskvisor` command: 0 success, 1 the run failed or was cancelled (or
 * taskvisor itself broke), 2 bad input (a bad plan, an unknown id, a wrong flag). Every
 * message names the bad value and the fix.
 */
import { isTaskvisorError, type TaskvisorError, type TaskvisorErrorCode } from '../errors.js';

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

function list(values: unknown): string {
  return Array.isArray(values) && values.length > 0
    ? values.map((value) => `"${String(value)}"`).join(', ')
    : 'none';
}

/**
 * A library error in the command line's words: the flag to pass (`--allow`, `--config`,
 * `--model`) instead of the `createSupervisor` option. Built from the error's code and
 * details, never from its message.
 */
export function cliMessage(error: TaskvisorError): string {
  const details = error.details;
  const step = typeof details.stepId === 'string' ? `Step "${details.stepId}"` : 'A step';
  switch (error.code) {
    case 'SHELL_NOT_ALLOWED': {
      if (typeof details.command !== 'string') break;
      const binary = details.command.split('/').pop();
      return `${step} runs "${details.command}", which shell steps may not run (allowed: ${list(details.allow)}); pass --allow ${binary} (or list it in sandbox.allow of a --config file).`;
    }
    case 'UNKNOWN_ACTION_KIND':
      if (typeof details.kind !== 'string') break;
      return `${step} uses the step kind "${details.kind}", which nothing registers (known kinds: ${list(details.known)}); pass --config <file> whose "actions" register it (see examples/actions.mjs), or fix the kind.`;
    case 'UNKNOWN_AGENT':
      if (typeof details.agent !== 'string') break;
      return `${step} delegates to agent "${details.agent}", which is not configured (agents: ${list(details.known)}); add it to "agents" in a --config file.`;
    case 'UNKNOWN_CHANNEL':
      if (typeof details.channel !== 'string') break;
      return `${step} notifies channel "${details.channel}", which is not configured (channels: ${list(details.known)}); add it to "channels" in a --config file.`;
    default:
      break;
  }
  return error.message;
}

/** The line printed for an error: `taskvisor: <message>` (with the code of a TaskvisorError). */
export function errorLine(error: unknown): string {
  if (error instanceof CliError) return `taskvisor: ${error.message}`;
  if (isTaskvisorError(error)) return `taskvisor: ${cliMessage(error)} [${error.code}]`;
  if (error instanceof Error) return `taskvisor: ${error.stack ?? error.message}`;
  return `taskvisor: ${String(error)}`;
}

/** `--json`: the error as `{ error: { code, message } }` (a CLI error's code says bad input or failure). */
export function errorJson(error: unknown): { error: { code: string; message: string } } {
  if (isTaskvisorError(error)) return { error: { code: error.code, message: cliMessage(error) } };
  if (error instanceof CliError) {
    return {
      error: { code: error.exitCode === EXIT_BAD_INPUT ? 'BAD_INPUT' : 'FAILED', message: error.message },
    };
  }
  return { error: { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) } };
}
