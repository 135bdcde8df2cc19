import { TaskvisorError } from '../errors.js';
import { envRefusal } from './env-gadgets.js';
import type { ResolvedSandbox } from './policy.js';

/**
 * The whole environment of a sandboxed child: the parent variables `sandbox.env` passes through,
 * then the step's own `env` on top. Nothing else leaks. Variables that make a program load code
 * (`LD_PRELOAD`, `BASH_ENV`, `NODE_OPTIONS`, `GIT_CONFIG_*`, ...: `ENV_GADGETS`) and a `PATH`
 * outside the allowed binaries' directories are refused with `SANDBOX_ESCAPE` naming the variable.
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
    env[name] = value;
  }
  const refused = envRefusal(stepEnv, sandbox);
  if (refused !== undefined) {
    throw new TaskvisorError('SANDBOX_ESCAPE', refused.message, {
      name: refused.name,
      value: stepEnv[refused.name] ?? null,
    });
  }
  return env;
}
