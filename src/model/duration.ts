/** Durations as people write them: `30d`, `12h`, `90m`, `45s`, `500ms`, or milliseconds. */
import { TaskvisorError } from '../errors.js';

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * A duration in milliseconds: a number of ms (0 or more), or a number with a unit
 * (`ms`, `s`, `m`, `h`, `d`, `w`). `what` names the value in the error.
 *
 * @example
 * ```ts
 * parseDuration('30d', 'olderThan'); // 2592000000
 * parseDuration(1500, 'olderThan'); // 1500
 * ```
 */
export function parseDuration(value: unknown, what: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/i.exec(value) : null;
  if (!match) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `${what} must be a duration like "30d", "12h", "90m", "45s" or a number of milliseconds, got ${JSON.stringify(value)}.`,
      { value: typeof value === 'string' || typeof value === 'number' ? value : String(value) },
    );
  }
  return Math.round(Number(match[1]) * UNIT_MS[match[2]!.toLowerCase()]!);
}
