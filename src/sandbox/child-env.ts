import { TaskvisorError } from '../errors.js';
import type { ResolvedSandbox } from './policy.js';

/**
 * The whole environment of a sandboxed child: the parent variables `sandbox.env` passes through,
 * then the step's own `env` on top. Nothing else leaks. Dynamic-loader variables (`LD_*`, e.g.
 * `LD_PRELOAD`) are refused with `SANDBOX_ESCAPE`: they would run arbitrary code inside any
 * allowed binary.
 *
 * @example
 * ```ts
 * childEnv(sandbox, { NODE_ENV: 'test' }); // { PATH: '/usr/bin:/bin', HOME: '/home/me', NODE_ENV: 'test' }
 * ```
 */
export function childEnv(
  sandbox: ResolvedSandbox,
  stepEnv: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const env: Record<string, string> = { ...sandbox.env };
  for (const [name, value] of Object.entries(stepEnv)) {
    if (name.length === 0 || name.includes('=') || name.includes('\0')) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `Step env name ${JSON.stringify(name)} is not a valid variable name; use a name like "NODE_ENV" (no "=" or NUL).`,
        { field: 'env', name },
      );
    }
    if (typeof value !== 'string' || value.includes('\0')) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `Step env ${name} must be a string without NUL bytes, got ${JSON.stringify(value)}.`,
        { field: `env.${name}`, value },
      );
    }
    if (name.startsWith('LD_')) {
      throw new TaskvisorError(
        'SANDBOX_ESCAPE',
        `Step env sets "${name}", a dynamic-loader variable that would run arbitrary code inside any allowed binary; remove it from the step's env.`,
        { name, value },
      );
    }
    env[name] = value;
  }
  return env;
}
