import { TaskvisorError } from '../errors.js';
import { type JailSupport, probeJail } from './jail-probe.js';
import type { ResolvedSandbox } from './policy.js';

/** Who wrote a step: the supervisor's model (a planned or replanned step), or the caller. */
export type StepAuthor = 'model' | 'caller';

/** How one run is isolated. */
export type IsolationDecision =
  | { readonly isolation: 'jail'; readonly support: Extract<JailSupport, { available: true }> }
  /** `unjailed`: why `'auto'` fell back to the policy alone (absent when `'none'` was chosen). */
  | { readonly isolation: 'none'; readonly unjailed?: string };

const warned = new WeakSet<ResolvedSandbox>();

/**
 * Decides, for one run, between the jail and the policy sandbox alone, probing the jail once
 * per process ({@link probeJail}):
 * - `'none'`: the policy alone;
 * - `'jail'`: the jail, or `SANDBOX_UNAVAILABLE` naming what is missing and how to get it;
 * - `'auto'`: the jail when it can be had; otherwise a step the model wrote fails with
 *   `SANDBOX_UNAVAILABLE`, and any other runs under the policy alone, with a process warning
 *   (`TASKVISOR_NO_JAIL`, once per sandbox) and `unjailed` set for the audit trail.
 *
 * @example
 * ```ts
 * const decision = await decideIsolation(sandbox, 'model');
 * decision.isolation; // 'jail', or a SANDBOX_UNAVAILABLE was thrown
 * ```
 */
export async function decideIsolation(
  sandbox: ResolvedSandbox,
  writtenBy: StepAuthor = 'caller',
  what = 'This shell step',
): Promise<IsolationDecision> {
  if (sandbox.isolation === 'none') return { isolation: 'none' };
  const support = await probeJail(sandbox);
  if (support.available) return { isolation: 'jail', support };
  if (sandbox.isolation === 'jail') {
    throw new TaskvisorError(
      'SANDBOX_UNAVAILABLE',
      `${what} must run in the jail (sandbox.isolation: 'jail'), and the jail is unavailable: ${support.reason}`,
      { missing: support.missing, isolation: 'jail', retryable: false },
    );
  }
  if (writtenBy === 'model') {
    throw new TaskvisorError(
      'SANDBOX_UNAVAILABLE',
      `${what} was written by the model, and steps the model wrote run only in the jail, which is unavailable: ${support.reason} To run model-written steps under the policy sandbox alone, set sandbox.isolation: 'none' explicitly.`,
      { missing: support.missing, isolation: 'auto', writtenBy, retryable: false },
    );
  }
  if (!warned.has(sandbox)) {
    warned.add(sandbox);
    process.emitWarning(
      `taskvisor: shell steps and CLI agents run without the jail, under the policy sandbox alone (allow list, confined cwd, filtered environment): they can read and write anywhere this process can, and reach the network. ${support.reason} Set sandbox.isolation to 'jail' to refuse such runs, or to 'none' to silence this warning.`,
      { code: 'TASKVISOR_NO_JAIL' },
    );
  }
  return { isolation: 'none', unjailed: support.reason };
}
