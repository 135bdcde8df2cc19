import path from 'node:path';
import { TaskvisorError } from '../errors.js';
import { didYouMean } from '../model/suggest.js';
import { type Tier, TierSchema } from '../model/tier.js';
import { type Isolation, validateIsolationSettings } from './isolation-options.js';
import { findBwrap } from './jail-probe.js';
import { invalidOption as invalid } from './option-error.js';
import { findOnPath, realPathOf } from './path-lookup.js';

/**
 * Where and how `shell` steps (and CLI agents) may run: `createSupervisor({ sandbox })`.
 */
export interface SandboxOptions {
  /** Binaries that may run: names looked up on PATH (`'git'`), or absolute paths (`'/opt/node/bin/npm'`). */
  allow: readonly string[];
  /** The sandbox root: every step's cwd must resolve inside it. Relative paths resolve against `process.cwd()`. */
  cwd: string;
  /** One limit for every tier, or limits per tier (the rest keep their defaults). A step's own `timeoutMs` wins. */
  timeoutMs?: number | Partial<Record<Tier, number>>;
  /** Bytes kept of each of stdout and stderr (default 1 MiB each); the rest is dropped and marked. */
  maxOutputBytes?: number;
  /** Names of the parent's environment variables passed to children (default `['PATH', 'HOME']`); nothing else leaks. */
  env?: readonly string[];
  /**
   * `'auto'` (default): shell steps and CLI agents run in the jail (bubblewrap) when it can be
   * had, else under the policy alone with a warning — but steps the model wrote then fail;
   * `'jail'`: the jail or `SANDBOX_UNAVAILABLE`; `'none'`: the policy alone, chosen explicitly.
   */
  isolation?: Isolation;
  /** Whether jailed steps may use the network (default false: a network namespace of their own, loopback only). */
  network?: boolean;
  /** Extra paths a jailed step may read (bound read-only), beside the system's binaries and libraries. */
  readPaths?: readonly string[];
  /** Extra paths a jailed step may write (bound writable), beside `cwd`. */
  writePaths?: readonly string[];
}

/** One `sandbox.allow` entry, resolved when the sandbox was set up. */
export interface AllowedBinary {
  /** The entry as configured. */
  readonly entry: string;
  /** Where it was found (the PATH hit for a name, the entry itself for an absolute path); absent if missing. */
  readonly path?: string;
  /** Its canonical path: what a command must really be to count as this entry. */
  readonly realPath?: string;
}

/** A validated sandbox, with defaults filled in and the parent's environment captured. */
export interface ResolvedSandbox {
  readonly allow: readonly string[];
  /** `allow`, resolved once at set-up: a binary planted later under an allowed name is not trusted. */
  readonly allowed: readonly AllowedBinary[];
  /** Absolute sandbox root, as configured (symlinks not yet resolved). */
  readonly cwd: string;
  readonly timeoutsMs: Readonly<Record<Tier, number>>;
  readonly maxOutputBytes: number;
  /** The names passed through from the parent. */
  readonly envNames: readonly string[];
  /** Their values, captured from the parent when the sandbox was resolved (only the names that were set). */
  readonly env: Readonly<Record<string, string>>;
  /** The PATH bare command names are looked up on (the parent's PATH). */
  readonly searchPath: string;
  readonly isolation: Isolation;
  readonly network: boolean;
  /** Absolute paths bound read-only in the jail. */
  readonly readPaths: readonly string[];
  /** Absolute paths bound writable in the jail. */
  readonly writePaths: readonly string[];
  /** The bubblewrap binary found on the parent's PATH at set-up (canonical path), if any. */
  readonly bwrap?: string;
}

/** Default step timeouts by tier, in milliseconds. */
export const DEFAULT_TIMEOUTS_MS: Readonly<Record<Tier, number>> = Object.freeze({
  read: 30_000,
  write: 60_000,
  execute: 120_000,
  destructive: 300_000,
  external: 300_000,
});

/** Default cap on each of stdout and stderr: 1 MiB. */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

/** Parent variables passed to children by default. */
export const DEFAULT_ENV_PASSTHROUGH: readonly string[] = Object.freeze(['PATH', 'HOME']);

/** The longest timer Node can arm (about 24.8 days); longer ones would fire at once. */
export const MAX_TIMEOUT_MS = 2_147_483_647;

const OPTION_NAMES = [
  'allow',
  'cwd',
  'timeoutMs',
  'maxOutputBytes',
  'env',
  'isolation',
  'network',
  'readPaths',
  'writePaths',
] as const;
const TIERS: readonly Tier[] = TierSchema.options;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Validates sandbox options, fills in defaults, captures the passed-through variables of
 * `parentEnv` and resolves every `allow` entry to its canonical path (so the allow list means
 * the binaries it named at set-up time). Throws `TaskvisorError('INVALID_OPTION')` naming the
 * bad field, its value and the fix.
 *
 * @example
 * ```ts
 * const sandbox = resolveSandbox({ allow: ['git', 'npm'], cwd: '/repo', timeoutMs: { read: 10_000 } });
 * sandbox.timeoutsMs.read; // 10000
 * sandbox.timeoutsMs.execute; // 120000 (default)
 * ```
 */
export function resolveSandbox(
  options: SandboxOptions,
  parentEnv: Readonly<Record<string, string | undefined>> = process.env,
): ResolvedSandbox {
  const input: unknown = options;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid(
      'sandbox',
      input,
      "an object like { allow: ['git'], cwd: '/path/to/repo' }",
      'Pass sandbox options to createSupervisor({ sandbox }).',
    );
  }
  for (const key of Object.keys(input)) {
    if (!(OPTION_NAMES as readonly string[]).includes(key)) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `Unknown sandbox option "${key}"${didYouMean(key, OPTION_NAMES)}; known options: ${OPTION_NAMES.join(', ')}.`,
        { field: `sandbox.${key}`, known: [...OPTION_NAMES] },
      );
    }
  }

  const allow = validateAllow(options.allow);
  const cwd = validateCwd(options.cwd);
  const timeoutsMs = validateTimeouts(options.timeoutMs);
  const maxOutputBytes = validateMaxOutputBytes(options.maxOutputBytes);
  const envNames = validateEnvNames(options.env);
  const settings = validateIsolationSettings(options);

  const env: Record<string, string> = {};
  for (const name of envNames) {
    const value = parentEnv[name];
    if (value !== undefined) env[name] = value;
  }
  const searchPath = parentEnv.PATH ?? '';
  const allowed = allow.map((entry): AllowedBinary => {
    const found = path.isAbsolute(entry) ? entry : findOnPath(entry, searchPath);
    const realPath = found === undefined ? undefined : realPathOf(found);
    return realPath === undefined ? { entry } : { entry, path: found, realPath };
  });
  const bwrap = findBwrap(searchPath);

  return Object.freeze({
    allow: Object.freeze(allow),
    allowed: Object.freeze(allowed),
    cwd,
    timeoutsMs: Object.freeze(timeoutsMs),
    maxOutputBytes,
    envNames: Object.freeze(envNames),
    env: Object.freeze(env),
    searchPath,
    isolation: settings.isolation,
    network: settings.network,
    readPaths: Object.freeze(settings.readPaths),
    writePaths: Object.freeze(settings.writePaths),
    ...(bwrap === undefined ? {} : { bwrap }),
  });
}

/**
 * The timeout of one shell run: the step's own `timeoutMs` if it has one, else the sandbox's
 * limit for the step's tier. Throws `INVALID_OPTION` for a step timeout that is not a positive
 * number of milliseconds a timer can hold.
 *
 * @example
 * ```ts
 * timeoutFor(sandbox, 'read'); // 30000 by default
 * timeoutFor(sandbox, 'read', 5_000); // 5000
 * ```
 */
export function timeoutFor(sandbox: ResolvedSandbox, tier: Tier, stepTimeoutMs?: number): number {
  if (stepTimeoutMs !== undefined) return validTimeout('step timeoutMs', stepTimeoutMs);
  return sandbox.timeoutsMs[tier];
}

function validateAllow(value: unknown): string[] {
  if (!Array.isArray(value)) {
    throw invalid(
      'sandbox.allow',
      value,
      "an array of binary names or absolute paths, like ['git', 'npm']",
      'Use [] to allow no binary.',
    );
  }
  return value.map((entry: unknown, index) => {
    const field = `sandbox.allow[${index}]`;
    if (typeof entry !== 'string' || entry.length === 0 || entry.includes('\0')) {
      throw invalid(field, entry, 'a binary name like "git" or an absolute path like "/usr/bin/git"');
    }
    if (entry.includes('/') && !path.isAbsolute(entry)) {
      throw invalid(
        field,
        entry,
        'a bare name looked up on PATH or an absolute path',
        `Use "${path.basename(entry)}" or "${path.resolve(entry)}" instead of a relative path.`,
      );
    }
    return entry;
  });
}

function validateCwd(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0')) {
    throw invalid(
      'sandbox.cwd',
      value,
      'the directory shell steps run in, like "/path/to/repo"',
      'Every step cwd must stay inside it.',
    );
  }
  return path.resolve(value);
}

function validateTimeouts(value: unknown): Record<Tier, number> {
  const timeouts: Record<Tier, number> = { ...DEFAULT_TIMEOUTS_MS };
  if (value === undefined) return timeouts;
  if (typeof value === 'number') {
    const ms = validTimeout('sandbox.timeoutMs', value);
    for (const tier of TIERS) timeouts[tier] = ms;
    return timeouts;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(
      'sandbox.timeoutMs',
      value,
      'milliseconds for every tier, or per tier like { read: 30000, execute: 120000 }',
    );
  }
  for (const [key, ms] of Object.entries(value)) {
    if (!(TIERS as readonly string[]).includes(key)) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `Unknown tier "${key}" in sandbox.timeoutMs${didYouMean(key, TIERS)}; tiers: ${TIERS.join(', ')}.`,
        { field: `sandbox.timeoutMs.${key}`, value: ms, known: [...TIERS] },
      );
    }
    if (ms !== undefined) timeouts[key as Tier] = validTimeout(`sandbox.timeoutMs.${key}`, ms);
  }
  return timeouts;
}

function validTimeout(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMEOUT_MS) {
    throw invalid(field, value, `a positive number of milliseconds up to ${MAX_TIMEOUT_MS}`);
  }
  return value;
}

function validateMaxOutputBytes(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_OUTPUT_BYTES;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(
      'sandbox.maxOutputBytes',
      value,
      `a non-negative integer number of bytes (default ${DEFAULT_MAX_OUTPUT_BYTES})`,
    );
  }
  return value;
}

function validateEnvNames(value: unknown): string[] {
  if (value === undefined) return [...DEFAULT_ENV_PASSTHROUGH];
  if (!Array.isArray(value)) {
    throw invalid(
      'sandbox.env',
      value,
      "an array of variable names passed through from the parent, like ['PATH', 'HOME']",
    );
  }
  const names = value.map((name: unknown, index) => {
    if (typeof name !== 'string' || !ENV_NAME.test(name)) {
      throw invalid(
        `sandbox.env[${index}]`,
        name,
        'an environment variable name like "PATH" (letters, digits and _, not starting with a digit)',
      );
    }
    return name;
  });
  return [...new Set(names)];
}
