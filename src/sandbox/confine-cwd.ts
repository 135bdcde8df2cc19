import fs from 'node:fs';
import path from 'node:path';
import { TaskvisorError } from '../errors.js';
import { realPathOf } from './path-lookup.js';
import type { ResolvedSandbox } from './policy.js';

/**
 * Resolves a step's working directory inside the sandbox. `requested` (default: the root) is
 * taken relative to `sandbox.cwd` and resolved like the kernel would (`..` and every symlink,
 * in order); the result must be inside the realpath of `sandbox.cwd`, else
 * `TaskvisorError('SANDBOX_ESCAPE')` names the requested path, what it resolved to and the
 * root. A missing directory, or a file, throws `ACTION_FAILED`; a missing root `INVALID_OPTION`.
 *
 * Returns the canonical path: run the child there, not at `requested`.
 *
 * @example
 * ```ts
 * const sandbox = resolveSandbox({ allow: ['git'], cwd: '/repo' });
 * confineCwd('packages/app', sandbox); // '/repo/packages/app'
 * confineCwd('../etc', sandbox); // throws SANDBOX_ESCAPE
 * ```
 */
export function confineCwd(requested: string | undefined, sandbox: ResolvedSandbox): string {
  const root = realPathOf(sandbox.cwd);
  if (root === undefined || !isDirectory(root)) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `The sandbox root "${sandbox.cwd}" ${root === undefined ? 'does not exist' : 'is not a directory'}; create it or point sandbox.cwd at an existing directory.`,
      { field: 'sandbox.cwd', value: sandbox.cwd },
    );
  }
  if (requested === undefined || requested === '') return root;
  if (typeof requested !== 'string' || requested.includes('\0')) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `A step cwd must be a path string without NUL bytes, got ${JSON.stringify(requested)}.`,
      { field: 'cwd', value: requested },
    );
  }

  // Joined, not path.resolve()d: `link/..` must mean the parent of the link's target, as for the kernel.
  const joined = path.isAbsolute(requested) ? requested : `${sandbox.cwd}${path.sep}${requested}`;
  const resolved = realPathOf(joined);
  const target = resolved ?? resolveMissing(joined);
  if (!isInside(target, root)) {
    throw new TaskvisorError(
      'SANDBOX_ESCAPE',
      `Step cwd "${requested}" resolves to "${target}", outside the sandbox root "${root}"; shell steps only run inside sandbox.cwd. Use a directory inside it, or widen sandbox.cwd.`,
      { requested, resolved: target, root },
    );
  }
  if (resolved === undefined || !isDirectory(resolved)) {
    throw new TaskvisorError(
      'ACTION_FAILED',
      `Step cwd "${requested}" resolves to "${target}", which ${resolved === undefined ? 'does not exist' : 'is not a directory'}; create the directory first (an earlier step can) or fix the step's cwd.`,
      { requested, resolved: target, root, reason: resolved === undefined ? 'missing' : 'not-a-directory' },
    );
  }
  return resolved;
}

/**
 * Where a path that does not exist (yet) would be: the realpath of its deepest existing
 * ancestor plus the rest, so a missing directory behind a symlink is judged by where it points.
 */
function resolveMissing(joined: string): string {
  const rest: string[] = [];
  let current = joined;
  for (;;) {
    const parent = path.dirname(current);
    rest.unshift(path.basename(current));
    if (parent === current) return path.resolve(joined);
    const real = realPathOf(parent);
    if (real !== undefined) return path.resolve(real, ...rest);
    current = parent;
  }
}

function isInside(target: string, root: string): boolean {
  const relative = path.relative(root, target);
  return (
    relative === '' ||
    (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative))
  );
}

function isDirectory(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}
