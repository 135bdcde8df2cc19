/**
 * The escalation chain of `implement` steps: `createSupervisor({ escalation: { fallbacks,
 * retryOnTimeout } })`. When the step's agent fails in a way another agent might not
 * (a launch error, a non-zero exit, a failure status, a model error, and a timeout when
 * `retryOnTimeout`), the fallbacks are tried in order; when none succeeds, a human decides.
 * Deciding is pure: `agentChain` and `judgeAgentFailure` take data and return data.
 */
import { z } from 'zod';
import { isTaskvisorError, TaskvisorError } from '../errors.js';
import { unknownAgent } from './agents.js';

export const EscalationOptionSchema = z.strictObject({
  /** Agents tried in order after the step's own agent fails. */
  fallbacks: z.array(z.string().min(1)).default([]),
  /** Whether an agent that timed out is followed by the next one (default false: it may still have done work). */
  retryOnTimeout: z.boolean().default(false),
});
export type EscalationOption = z.input<typeof EscalationOptionSchema>;
export type EscalationPolicy = z.output<typeof EscalationOptionSchema>;

export const NO_ESCALATION: EscalationPolicy = Object.freeze({ fallbacks: [], retryOnTimeout: false });

/**
 * Checks that every fallback is a registered agent (and none is listed twice).
 *
 * @example
 * ```ts
 * resolveEscalation({ fallbacks: ['b', 'c'], retryOnTimeout: true }, ['a', 'b', 'c']);
 * ```
 */
export function resolveEscalation(
  option: EscalationOption | undefined,
  agents: Iterable<string>,
): EscalationPolicy {
  const parsed = EscalationOptionSchema.safeParse(option ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TaskvisorError(
      'INVALID_OPTION',
      `Option escalation.${issue.path.map(String).join('.')}: ${issue.message}; pass { fallbacks: ['agent-name', ...], retryOnTimeout?: boolean }.`,
      { field: `escalation.${issue.path.map(String).join('.')}` },
    );
  }
  const policy = parsed.data;
  const known = [...agents];
  const seen = new Set<string>();
  policy.fallbacks.forEach((fallback, index) => {
    if (!known.includes(fallback)) throw unknownAgent(fallback, known, `escalation.fallbacks[${index}]`);
    if (seen.has(fallback)) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `escalation.fallbacks[${index}]: agent "${fallback}" is listed twice; list each fallback once.`,
        { field: `escalation.fallbacks[${index}]`, value: fallback },
      );
    }
    seen.add(fallback);
  });
  return policy;
}

/** The agents an `implement` step tries, in order: its own, then the fallbacks (each once). */
export function agentChain(primary: string, policy: EscalationPolicy): string[] {
  return [primary, ...policy.fallbacks.filter((fallback) => fallback !== primary)];
}

/**
 * Failures of one agent that another may not have: a launch error or bad configuration, a
 * non-zero exit, a failure status, a model error (even one not worth retrying with the same
 * model, like an HTTP 400), an unusable answer.
 */
const ESCALATING_CODES: ReadonlySet<string> = new Set([
  'ACTION_FAILED',
  'SHELL_FAILED',
  'SHELL_NOT_ALLOWED',
  'SANDBOX_ESCAPE',
  'INVALID_OPTION',
  'LLM_ERROR',
  'LLM_BAD_OUTPUT',
]);

/**
 * What a failed agent means for the chain:
 * - `escalate`: try the next agent (see `ESCALATING_CODES`; any other error unless it is
 *   marked `retryable: false`; a timeout when `retryOnTimeout`);
 * - `ask`: stop trying agents and ask a human (a timeout without `retryOnTimeout`, an error
 *   an agent marked `retryable: false`);
 * - `propagate`: the step itself is stopping (cancelled, timed out, out of budget): rethrow.
 */
export function judgeAgentFailure(
  error: unknown,
  policy: EscalationPolicy,
  stepAborted: boolean,
): 'escalate' | 'ask' | 'propagate' {
  if (stepAborted) return 'propagate';
  if (!isTaskvisorError(error)) {
    const flagged = (error as { retryable?: unknown } | null)?.retryable;
    return flagged === false ? 'ask' : 'escalate';
  }
  if (error.code === 'ABORTED' || error.code === 'BUDGET_EXCEEDED') return 'propagate';
  if (error.code === 'STEP_TIMEOUT') return policy.retryOnTimeout ? 'escalate' : 'ask';
  if (ESCALATING_CODES.has(error.code)) return 'escalate';
  return error.details.retryable === false ? 'ask' : 'escalate';
}
