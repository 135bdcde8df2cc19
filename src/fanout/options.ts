/**
 * Checks of fan-out options, with messages that name the bad value. Pure.
 */
import { quote, TaskvisorError } from '../errors.js';

/** `value` when it is a positive integer, `fallback` when it is absent; otherwise an error naming it. */
export function positiveInteger(
  name: string,
  value: number | undefined,
  fallback: number | undefined,
): number | undefined {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `Expected \`${name}\` to be a positive integer, got ${quote(value)} (${typeof value})`,
      { option: name, value },
    );
  }
  return value;
}
