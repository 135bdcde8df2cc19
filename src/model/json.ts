import { z } from 'zod';
import { TaskvisorError } from '../errors.js';

/** Any JSON value: step outputs and note outputs are JSON. */
export const JsonSchema = z.json();
export type Json = z.infer<typeof JsonSchema>;

/**
 * `value` as plain JSON (`undefined` becomes `null`), or a non-retryable `ACTION_FAILED`
 * naming `who` (e.g. `step build`, `Agent "coder"`) when JSON cannot hold it.
 */
export function toJsonOutput(value: unknown, who: string, details: Record<string, unknown> = {}): Json {
  if (value === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(value)) as Json;
  } catch (error) {
    throw new TaskvisorError(
      'ACTION_FAILED',
      `${who} returned an output that is not JSON (${error instanceof Error ? error.message : String(error)}); return plain data.`,
      { ...details, retryable: false },
    );
  }
}
