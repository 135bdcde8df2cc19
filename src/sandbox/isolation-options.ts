import path from 'node:path';
import { invalidOption } from './option-error.js';

/**
 * How shell steps and CLI agents are isolated (`sandbox.isolation`):
 * - `'auto'` (default): in the jail when it can be had; otherwise under the policy alone, with a
 *   one-time warning and an audit row — except steps the model wrote, which then fail with
 *   `SANDBOX_UNAVAILABLE`;
 * - `'jail'`: always in the jail; a step fails with `SANDBOX_UNAVAILABLE` when it cannot be had;
 * - `'none'`: the policy alone (allow list, confined cwd, filtered environment), chosen explicitly.
 */
export type Isolation = 'auto' | 'jail' | 'none';

export const ISOLATIONS: readonly Isolation[] = Object.freeze(['auto', 'jail', 'none']);

/** The jail-related sandbox options, validated. */
export interface IsolationSettings {
  readonly isolation: Isolation;
  readonly network: boolean;
  /** Absolute, normalised; bound read-only in the jail. */
  readonly readPaths: readonly string[];
  /** Absolute, normalised; bound writable in the jail. */
  readonly writePaths: readonly string[];
}

/**
 * Validates `sandbox.isolation`, `sandbox.network`, `sandbox.readPaths` and
 * `sandbox.writePaths`. Relative paths resolve against `process.cwd()` like `sandbox.cwd`.
 * Throws `INVALID_OPTION` naming the field, the value and the fix.
 */
export function validateIsolationSettings(options: {
  readonly isolation?: unknown;
  readonly network?: unknown;
  readonly readPaths?: unknown;
  readonly writePaths?: unknown;
}): IsolationSettings {
  const isolation = options.isolation ?? 'auto';
  if (typeof isolation !== 'string' || !(ISOLATIONS as readonly string[]).includes(isolation)) {
    throw invalidOption(
      'sandbox.isolation',
      isolation,
      `one of ${ISOLATIONS.map((value) => `'${value}'`).join(', ')}`,
      "'auto' (the default) jails when it can; 'none' turns the jail off explicitly.",
    );
  }
  const network = options.network ?? false;
  if (typeof network !== 'boolean') {
    throw invalidOption(
      'sandbox.network',
      network,
      'a boolean',
      'true lets jailed steps use the network; the default false cuts it off.',
    );
  }
  return {
    isolation: isolation as Isolation,
    network,
    readPaths: validatePaths('sandbox.readPaths', options.readPaths),
    writePaths: validatePaths('sandbox.writePaths', options.writePaths),
  };
}

function validatePaths(field: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw invalidOption(field, value, "an array of paths, like ['/opt/toolchain']");
  }
  const paths = value.map((entry: unknown, index) => {
    if (typeof entry !== 'string' || entry.length === 0 || entry.includes('\0')) {
      throw invalidOption(`${field}[${index}]`, entry, 'a path like "/opt/toolchain"');
    }
    const absolute = path.resolve(entry);
    if (absolute === path.parse(absolute).root) {
      throw invalidOption(
        `${field}[${index}]`,
        entry,
        'a directory or file below the filesystem root',
        `"${absolute}" is the whole filesystem; name the directories steps need, or set sandbox.isolation: 'none' if you mean no jail.`,
      );
    }
    return absolute;
  });
  return [...new Set(paths)];
}
