/**
 * Every error taskvisor throws on purpose is a `TaskvisorError` with a stable `code`.
 * Messages name the bad value and say how to fix it.
 */
export type TaskvisorErrorCode =
  // plans
  | 'INVALID_PLAN'
  | 'DUPLICATE_STEP_ID'
  | 'UNKNOWN_DEPENDENCY'
  | 'SELF_DEPENDENCY'
  | 'PLAN_CYCLE'
  | 'UNKNOWN_ACTION_KIND'
  | 'BAD_TEMPLATE_REFERENCE'
  | 'SHELL_NOT_ALLOWED'
  | 'UNKNOWN_AGENT'
  | 'UNKNOWN_CHANNEL'
  | 'BAD_REPLACEMENT'
  // runtime input
  | 'INVALID_OPTION'
  | 'INVALID_ARGUMENT'
  | 'LIMIT_EXCEEDED'
  | 'UNKNOWN_RUN'
  | 'UNKNOWN_STEP'
  | 'UNKNOWN_REQUEST'
  | 'UNKNOWN_WORKER'
  | 'INVALID_STATE'
  | 'SUPERVISOR_CLOSED'
  // storage
  | 'NOT_A_TASKVISOR_DB'
  | 'SCHEMA_TOO_NEW'
  | 'LEASE_LOST'
  | 'STORE_BUSY'
  | 'STORE_FULL'
  | 'STORE_UNAVAILABLE'
  | 'STORE_CORRUPT'
  // step execution
  | 'ACTION_FAILED'
  | 'STEP_TIMEOUT'
  | 'ABORTED'
  | 'ATTEMPT_INTERRUPTED'
  | 'WORKER_TIMEOUT'
  // sandbox (shell steps and CLI agents)
  | 'SANDBOX_ESCAPE'
  | 'SANDBOX_UNAVAILABLE'
  | 'SHELL_FAILED'
  // model calls
  | 'LLM_ERROR'
  | 'LLM_BAD_OUTPUT'
  | 'BUDGET_EXCEEDED'
  // notify channels
  | 'DELIVERY_FAILED';

export class TaskvisorError extends Error {
  override readonly name = 'TaskvisorError';
  readonly code: TaskvisorErrorCode;
  /** Structured facts about the failure (the bad path, the cycle, the state found, ...). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: TaskvisorErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}

/**
 * True when `error` is a `TaskvisorError` (optionally with the given code).
 *
 * @example
 * ```ts
 * try { parsePlan(json) } catch (e) { if (isTaskvisorError(e, 'PLAN_CYCLE')) console.error(e.message) }
 * ```
 */
export function isTaskvisorError(error: unknown, code?: TaskvisorErrorCode): error is TaskvisorError {
  return error instanceof TaskvisorError && (code === undefined || error.code === code);
}

/** Quotes a value for an error message: strings in double quotes, others as JSON. */
export function quote(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
