import path from 'node:path';
import { isTaskvisorError, TaskvisorError } from '../errors.js';
import { findOnPath, isExecutableFile, realPathOf, searchDirectories } from './path-lookup.js';
import type { ResolvedSandbox } from './policy.js';

/** Options of {@link resolveAllowedBinary}. */
export interface ResolveBinaryOptions {
  /** The directory an explicit relative command (`./build.sh`) is resolved from; default `sandbox.cwd`. */
  readonly cwd?: string;
}

/**
 * Resolves a shell step's `command` to the canonical path of the binary it would run, and
 * refuses it unless that is an allowed binary. A bare name is looked up on the sandbox PATH like
 * `which`; an explicit path (absolute, or relative to the sandbox cwd) is taken as given. Either
 * way the file's realpath must equal the realpath of a `sandbox.allow` entry, so a symlink named
 * like an allowed binary but pointing elsewhere is refused and `/usr/bin/../bin/rm` is judged as
 * `/usr/bin/rm`. Refusals (not allowed, not found, not executable) throw
 * `TaskvisorError('SHELL_NOT_ALLOWED')` naming the command, what it resolved to and the allow list.
 *
 * Run the returned path, not `command`: it is the file that was checked. A multi-call binary
 * (busybox) is one file, so allowing one of its names allows them all.
 *
 * @example
 * ```ts
 * const sandbox = resolveSandbox({ allow: ['git'], cwd: '/repo' });
 * resolveAllowedBinary('git', sandbox); // '/usr/bin/git'
 * resolveAllowedBinary('rm', sandbox); // throws SHELL_NOT_ALLOWED: ... add it to sandbox.allow
 * ```
 */
export function resolveAllowedBinary(
  command: string,
  sandbox: ResolvedSandbox,
  options: ResolveBinaryOptions = {},
): string {
  const allowList = describeAllowList(sandbox);
  if (typeof command !== 'string' || command.length === 0 || command.includes('\0')) {
    throw new TaskvisorError(
      'SHELL_NOT_ALLOWED',
      `Shell command ${JSON.stringify(command)} is not a binary name or path; sandbox.allow is ${allowList}. Name an allowed binary, like "${sandbox.allow[0] ?? 'git'}".`,
      { command, allow: [...sandbox.allow], reason: 'invalid' },
    );
  }

  const explicit = command.includes('/');
  const found = explicit
    ? path.resolve(options.cwd ?? sandbox.cwd, command)
    : findOnPath(command, sandbox.searchPath);
  const name = path.basename(command);
  const listedByName = sandbox.allow.some((entry) => entry === command || path.basename(entry) === name);

  if (found === undefined) {
    const directories = searchDirectories(sandbox.searchPath);
    const fix = listedByName
      ? `"${command}" is in sandbox.allow but is not installed on the sandbox PATH; install it or allow it by absolute path.`
      : 'Install it and add it to sandbox.allow, or use an allowed binary.';
    throw new TaskvisorError(
      'SHELL_NOT_ALLOWED',
      `Shell command "${command}" was not found on the sandbox PATH (${directories.join(path.delimiter) || 'empty'}); sandbox.allow is ${allowList}. ${fix}`,
      { command, allow: [...sandbox.allow], searchPath: sandbox.searchPath, reason: 'not-found' },
    );
  }

  const realPath = isExecutableFile(found) ? realPathOf(found) : undefined;
  if (realPath === undefined) {
    throw new TaskvisorError(
      'SHELL_NOT_ALLOWED',
      `Shell command "${command}" resolves to "${found}", which is not an executable file; sandbox.allow is ${allowList}. Name an allowed binary instead.`,
      { command, resolved: found, allow: [...sandbox.allow], reason: 'not-executable' },
    );
  }

  if (sandbox.allowed.some((binary) => binary.realPath === realPath)) return realPath;

  const via = found === realPath ? '' : ` (via "${found}")`;
  const fix = listedByName
    ? `A binary named "${name}" is allowed, but this one is really "${realPath}": a symlink or another binary shadows it. Remove it, or add "${realPath}" to sandbox.allow if you mean to run it.`
    : `To run it, add it to sandbox.allow ("${explicit ? realPath : name}").`;
  throw new TaskvisorError(
    'SHELL_NOT_ALLOWED',
    `Shell command "${command}" resolves to "${realPath}"${via}, which is not an allowed binary; sandbox.allow is ${allowList}. ${fix}`,
    { command, resolved: found, realPath, allow: [...sandbox.allow], reason: 'not-allowed' },
  );
}

/**
 * Whether `command` would pass {@link resolveAllowedBinary}: synchronous, for plan validation.
 *
 * @example
 * ```ts
 * isShellCommandAllowed('git', sandbox); // true
 * isShellCommandAllowed('/usr/bin/../bin/rm', sandbox); // false unless rm is allowed
 * ```
 */
export function isShellCommandAllowed(command: string, sandbox: ResolvedSandbox): boolean {
  try {
    resolveAllowedBinary(command, sandbox);
    return true;
  } catch (error) {
    if (isTaskvisorError(error, 'SHELL_NOT_ALLOWED')) return false;
    throw error;
  }
}

function describeAllowList(sandbox: ResolvedSandbox): string {
  if (sandbox.allowed.length === 0) return 'empty';
  const entries = sandbox.allowed.map((binary) =>
    binary.realPath === undefined
      ? `"${binary.entry}" (not found)`
      : binary.realPath === binary.entry
        ? `"${binary.entry}"`
        : `"${binary.entry}" (${binary.realPath})`,
  );
  return `[${entries.join(', ')}]`;
}
