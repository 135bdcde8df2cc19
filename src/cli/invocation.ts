/**
 * How the user started this command line, so that every printed hint works when pasted:
 * `npx taskvisor …` under npx (the README's flow), `taskvisor …` when that name on PATH is
 * this very program, otherwise `node <path of the bin> …`.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { shellWord } from '../model/action-description.js';

export interface InvocationFacts {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The script node runs (`process.argv[1]`). */
  readonly script: string | undefined;
  readonly cwd: string;
}

function realpath(file: string): string | undefined {
  try {
    return realpathSync(file);
  } catch {
    return undefined;
  }
}

/** The `taskvisor` on PATH, resolved, if there is one. */
function onPath(env: InvocationFacts['env']): string | undefined {
  for (const directory of (env.PATH ?? '').split(path.delimiter)) {
    if (!directory) continue;
    const found = realpath(path.join(directory, 'taskvisor'));
    if (found) return found;
  }
  return undefined;
}

/**
 * The words that start a command the way the user started this one.
 *
 * @example
 * ```ts
 * invocationPrefix({ env: { npm_command: 'exec' }, script: '/app/node_modules/.bin/taskvisor', cwd: '/app' });
 * // 'npx taskvisor'
 * ```
 */
export function invocationPrefix(facts: InvocationFacts): string {
  // npm sets npm_command=exec for `npx` and `npm exec`.
  if (facts.env.npm_command === 'exec') return 'npx taskvisor';
  const script = facts.script === undefined ? undefined : realpath(facts.script);
  if (script === undefined) return 'taskvisor';
  if (onPath(facts.env) === script) return 'taskvisor';
  const relative = path.relative(facts.cwd, facts.script!);
  const shown = relative.startsWith('..') || path.isAbsolute(relative) ? facts.script! : relative;
  return `node ${shellWord(shown)}`;
}

let cached: string | undefined;

/** This process's prefix (computed once). */
export function thisInvocation(): string {
  cached ??= invocationPrefix({ env: process.env, script: process.argv[1], cwd: process.cwd() });
  return cached;
}
