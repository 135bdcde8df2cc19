import path from 'node:path';
import { isTaskvisorError } from '../errors.js';
import { resolveAllowedBinary } from './binary.js';
import { type EnvRefusal, envRefusal } from './env-gadgets.js';
import { realPathOf } from './path-lookup.js';
import type { ResolvedSandbox } from './policy.js';

/**
 * Why a plan's shell step may not run `command`, or undefined when it may: the sandbox's own
 * refusal message (naming the command, what it resolves to and the allow list), so a plan is
 * refused for exactly what `runShell` would refuse. An explicit relative command is resolved
 * from the step's `cwd` when that already exists, else from the sandbox root. A command that
 * is a template (`{{steps.x.output}}`) cannot be judged before it runs; `runShell` judges it.
 *
 * @example
 * ```ts
 * const check = shellPlanCheck(resolveSandbox({ allow: ['git'], cwd: '/repo' }));
 * check('rm'); // 'Shell command "rm" resolves to "/usr/bin/rm", which is not an allowed binary; sandbox.allow is ["git" (/usr/bin/git)]. ...'
 * check('git'); // undefined
 * ```
 */
export function shellPlanCheck(
  sandbox: ResolvedSandbox,
): (command: string, cwd?: string) => string | undefined {
  return (command, cwd) => {
    if (command.includes('{{')) return undefined;
    try {
      resolveAllowedBinary(command, sandbox, { cwd: stepDirectory(sandbox, cwd) });
      return undefined;
    } catch (error) {
      if (isTaskvisorError(error, 'SHELL_NOT_ALLOWED')) return error.message;
      throw error;
    }
  };
}

function stepDirectory(sandbox: ResolvedSandbox, cwd: string | undefined): string {
  if (cwd === undefined || cwd === '' || cwd.includes('{{')) return sandbox.cwd;
  const joined = path.isAbsolute(cwd) ? cwd : path.join(sandbox.cwd, cwd);
  return realPathOf(joined) ?? sandbox.cwd;
}

/**
 * The plan-time check of a shell step's `env` (`PlanContext.shellEnvCheck`): the first variable
 * that makes a program load code, or a `PATH` outside the allowed binaries' directories, with
 * why; undefined when the env may be used. A PATH holding a template is judged when it runs.
 *
 * @example
 * ```ts
 * const check = shellEnvPlanCheck(resolveSandbox({ allow: ['git'], cwd: '/repo' }));
 * check({ GIT_CONFIG_COUNT: '1' })?.name; // 'GIT_CONFIG_COUNT'
 * ```
 */
export function shellEnvPlanCheck(
  sandbox: ResolvedSandbox,
): (env: Readonly<Record<string, string>>) => EnvRefusal | undefined {
  return (env) => envRefusal(env, sandbox, { templates: 'defer' });
}
