/**
 * The supervisor's input limits (`createSupervisor({ limits })`): how long a goal, how big
 * a run's metadata, how many steps in a plan, how big one step and one custom action's
 * output, how deeply nested any JSON it takes. Each has a default and each is raised or
 * lowered by its option; going over one is a `LIMIT_EXCEEDED` error that names the limit
 * and the option.
 */
import { z } from 'zod';
import { type TaskvisorErrorCode, TaskvisorError } from '../errors.js';
import { checkJson, type JsonProblem } from './json-check.js';

export interface Limits {
  /** Characters of a run's goal (default 10,000). */
  readonly goalChars: number;
  /** Bytes of a run's `metadata` as JSON (default 65,536: 64 KiB). */
  readonly metadataBytes: number;
  /** Steps of a plan, a planned or replanned one included (default 10,000). */
  readonly planSteps: number;
  /** Bytes of one step of a plan as JSON, its action's input included (default 1 MiB). */
  readonly stepBytes: number;
  /** Bytes of the output of a custom action as JSON; over it the step fails (default 4 MiB). */
  readonly outputBytes: number;
  /** Objects and arrays nested in one another in metadata, a step, or an output (default 100, at most 500). */
  readonly jsonDepth: number;
}

export const DEFAULT_LIMITS: Limits = {
  goalChars: 10_000,
  metadataBytes: 64 * 1024,
  planSteps: 10_000,
  stepBytes: 1024 * 1024,
  outputBytes: 4 * 1024 * 1024,
  jsonDepth: 100,
};

/**
 * The deepest `jsonDepth` may be set: a value within it is safe for every validator that
 * walks JSON recursively (zod's, JSON.stringify's) however deep the caller's stack is.
 */
export const MAX_JSON_DEPTH = 500;

/** `createSupervisor({ limits })`: any of the limits, each a positive whole number. */
export const LimitsSchema = z.strictObject({
  goalChars: z.int().min(1).optional(),
  metadataBytes: z.int().min(2).optional(),
  planSteps: z.int().min(1).optional(),
  stepBytes: z.int().min(2).optional(),
  outputBytes: z.int().min(4).optional(),
  jsonDepth: z.int().min(1).max(MAX_JSON_DEPTH).optional(),
});
export type LimitOptions = z.input<typeof LimitsSchema>;

/** The limits in force: the defaults with the given options over them. */
export function resolveLimits(options: LimitOptions | undefined): Limits {
  return {
    ...DEFAULT_LIMITS,
    ...Object.fromEntries(Object.entries(options ?? {}).filter(([, v]) => v !== undefined)),
  };
}

const UNITS: Record<keyof Limits, string> = {
  goalChars: 'characters',
  metadataBytes: 'bytes of JSON',
  planSteps: 'steps',
  stepBytes: 'bytes of JSON',
  outputBytes: 'bytes of JSON',
  jsonDepth: 'levels of nesting',
};

function count(value: number): string {
  return value.toLocaleString('en-US');
}

/**
 * `LIMIT_EXCEEDED`: `subject` (e.g. `start: goal`) is `actual` (e.g. `12,000 characters`),
 * over `limits.<limit>`; the message says how to raise it.
 *
 * @example
 * ```ts
 * throw limitExceeded('goalChars', 'start: goal', 'is 12,000 characters', 10_000);
 * ```
 */
export function limitExceeded(
  limit: keyof Limits,
  subject: string,
  actual: string,
  max: number,
): TaskvisorError {
  return new TaskvisorError(
    'LIMIT_EXCEEDED',
    `${subject} ${actual}, over limits.${limit} (${count(max)} ${UNITS[limit]}); make it smaller, or raise the limit with createSupervisor({ limits: { ${limit}: <more> } }).`,
    { limit, max, retryable: false },
  );
}

/**
 * The error for a JSON problem found in the value named `root` (`options.metadata`,
 * `output`, `steps[3] ("x")`), in a message that starts with `prefix` (the method, the
 * step; none when empty): a value JSON cannot hold is `code` (INVALID_OPTION, INVALID_PLAN, ACTION_FAILED
 * ...) naming its path; too deep or too big is `LIMIT_EXCEEDED` naming `limits.jsonDepth`
 * or `sizeLimit`.
 */
export function jsonProblemError(
  problem: JsonProblem,
  options: {
    readonly prefix: string;
    readonly root: string;
    readonly code: TaskvisorErrorCode;
    readonly limits: Limits;
    readonly sizeLimit: 'metadataBytes' | 'stepBytes' | 'outputBytes';
    readonly details?: Record<string, unknown>;
  },
): TaskvisorError {
  const { limits, sizeLimit } = options;
  const prefix = options.prefix === '' ? '' : `${options.prefix}: `;
  switch (problem.kind) {
    case 'value':
      return new TaskvisorError(options.code, `${prefix}${problem.path} ${problem.message}.`, {
        ...options.details,
        path: problem.path,
        retryable: false,
      });
    case 'depth':
      return withDetails(
        limitExceeded(
          'jsonDepth',
          `${prefix}${problem.path}`,
          `is nested ${count(problem.depth)} levels deep`,
          limits.jsonDepth,
        ),
        { ...options.details, path: problem.path },
      );
    case 'size':
      return withDetails(
        limitExceeded(
          sizeLimit,
          `${prefix}${options.root}`,
          `is at least ${count(problem.bytes)} bytes of JSON`,
          limits[sizeLimit],
        ),
        options.details ?? {},
      );
  }
}

function withDetails(error: TaskvisorError, details: Record<string, unknown>): TaskvisorError {
  return new TaskvisorError(error.code, error.message, { ...error.details, ...details });
}

/**
 * Checks a custom action's output before it is stored: JSON (nothing coerced), at most
 * `limits.jsonDepth` deep and `limits.outputBytes` big. Throws a non-retryable
 * `ACTION_FAILED` naming the path of what JSON cannot hold, or `LIMIT_EXCEEDED` naming the
 * limit; `undefined` (no output) is fine.
 *
 * @example
 * ```ts
 * checkOutput({ rows }, limits);
 * ```
 */
export function checkOutput(output: unknown, limits: Limits): void {
  if (output === undefined) return;
  const checked = checkJson(output, { maxDepth: limits.jsonDepth, maxBytes: limits.outputBytes }, 'output');
  if (checked.ok) return;
  throw jsonProblemError(checked.problem, {
    prefix: '',
    root: 'output',
    code: 'ACTION_FAILED',
    limits,
    sizeLimit: 'outputBytes',
  });
}
