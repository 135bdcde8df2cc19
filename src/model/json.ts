import { z } from 'zod';
import { checkJson, type JsonCheckLimits } from './json-check.js';
import { jsonProblemError, MAX_JSON_DEPTH, resolveLimits } from './limits.js';

/** Any JSON value: step outputs and note outputs are JSON. */
export const JsonSchema = z.json();
export type Json = z.infer<typeof JsonSchema>;

/**
 * `value` as plain JSON (`undefined` becomes `null`), or a non-retryable `ACTION_FAILED`
 * naming `who` (e.g. `step build`, `Agent "coder"`) and the path of what JSON cannot hold:
 * NaN, Infinity, a BigInt, a function, a Map, a Set, a class instance, undefined in an
 * array, a cycle — nothing is coerced silently. Deeper than `limits.maxDepth` (default the
 * most `limits.jsonDepth` allows) or bigger than `limits.maxBytes` is `LIMIT_EXCEEDED`.
 */
export function toJsonOutput(
  value: unknown,
  who: string,
  details: Record<string, unknown> = {},
  limits: JsonCheckLimits = { maxDepth: MAX_JSON_DEPTH },
): Json {
  if (value === undefined) return null;
  const checked = checkJson(value, limits, 'output');
  if (!checked.ok) {
    throw jsonProblemError(checked.problem, {
      prefix: who,
      root: 'output',
      code: 'ACTION_FAILED',
      limits: resolveLimits({
        jsonDepth: limits.maxDepth,
        ...(limits.maxBytes === undefined ? {} : { outputBytes: limits.maxBytes }),
      }),
      sizeLimit: 'outputBytes',
      details,
    });
  }
  return JSON.parse(JSON.stringify(value)) as Json;
}
