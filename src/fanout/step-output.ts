/**
 * What a `fanout` step hands back to its run: a JSON output, or the error that fails the
 * step. Pure.
 */
import { TaskvisorError, type TaskvisorErrorCode } from '../errors.js';
import type { Json } from '../model/json.js';
import type { FanoutResult } from './run-fanout.js';

/**
 * The step output of a finished fan-out: every worker in target order (label, model, state,
 * text or error, usage, cost and attempt count), the reduction (verdict, Markdown, model,
 * calls, usage) and the totals. Archived attempts stay in the stored `FanoutState` (for
 * `trace()`); they are left out here to keep `{{steps.<id>.output}}` small.
 *
 * @example
 * ```ts
 * const result = await runFanout(spec, deps);
 * const failure = fanoutFailure(result);
 * if (failure) throw failure;
 * return { output: fanoutOutput(result) };
 * ```
 */
export function fanoutOutput(result: FanoutResult): Json {
  const output = {
    results: result.results.map((worker) => ({
      label: worker.label,
      model: worker.model,
      state: worker.state,
      ...(worker.text === undefined ? {} : { text: worker.text }),
      ...(worker.error === undefined ? {} : { error: worker.error.message }),
      usage: worker.usage,
      costUsd: worker.costUsd,
      attempts: worker.attempts.length,
    })),
    ...(result.reduction
      ? {
          reduction: {
            mode: result.reduction.mode,
            model: result.reduction.model,
            verdict: result.reduction.verdict,
            markdown: result.reduction.markdown,
            calls: result.reduction.calls,
            usage: result.reduction.usage,
          },
        }
      : {}),
    ...(result.reductionError ? { reductionError: result.reductionError.message } : {}),
    totals: result.totals,
  };
  return JSON.parse(JSON.stringify(output)) as Json;
}

/**
 * Why a finished fan-out fails its step, or `undefined` when it succeeded: no worker
 * completed, or the reducer gave no valid verdict.
 */
export function fanoutFailure(result: FanoutResult): TaskvisorError | undefined {
  const completed = result.results.filter((worker) => worker.state === 'completed').length;
  if (completed === 0) {
    const states = result.results.map((worker) => `${worker.label} ${worker.state}`).join(', ');
    return new TaskvisorError(
      'ACTION_FAILED',
      `No fan-out worker completed (${states}); retry the step to give failed workers a new attempt`,
      { retryable: true, totals: result.totals },
    );
  }
  if (result.reductionError) {
    // The code of a reducer failure is one of taskvisor's own (LLM_BAD_OUTPUT, LLM_ERROR, ...).
    const code = result.reductionError.code as TaskvisorErrorCode;
    return new TaskvisorError(code, result.reductionError.message, {
      retryable: true,
      totals: result.totals,
    });
  }
  return undefined;
}
