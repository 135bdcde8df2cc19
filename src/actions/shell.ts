/**
 * The `shell` step kind: runs one sandboxed command (`runShell`, in the jail unless
 * `sandbox.isolation` says otherwise) with the step's tier picking the default timeout, and
 * records the facts of every run (command, exit code, duration, isolation) as a `shell`
 * artifact, which the audit trail turns into a `shell.exited` row. A run that went ahead
 * without the jail (`isolation: 'auto'` where it cannot be had) also records a `sandbox`
 * artifact: a `sandbox.unjailed` audit row.
 */
import type { Clock } from '../clock.js';
import { isTaskvisorError, TaskvisorError } from '../errors.js';
import type { Json } from '../model/json.js';
import type { ActionContext, ActionFunction } from '../runtime/executor.js';
import type { ResolvedSandbox } from '../sandbox/policy.js';
import { runShell, type ShellSpec } from '../sandbox/run-shell.js';
import type { ShellOutcome } from '../sandbox/shell-outcome.js';

/** What a succeeded `shell` step outputs. */
export interface ShellOutput {
  /** The command as the step named it. */
  command: string;
  /** The canonical path of the binary that ran. */
  binary: string;
  args: string[];
  exitCode: number;
  durationMs: number;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** `'jail'`: it ran in the jail; `'none'`: under the policy sandbox alone. */
  isolation: 'jail' | 'none';
}

/** Refusals that no retry can change: the step fails at once. */
const FINAL_CODES = new Set(['SHELL_NOT_ALLOWED', 'SANDBOX_ESCAPE', 'SANDBOX_UNAVAILABLE', 'INVALID_OPTION']);

/**
 * Records that a command ran without the jail because it could not be had (a `sandbox`
 * artifact, audited as `sandbox.unjailed`).
 */
export function recordUnjailed(
  artifact: (kind: string, name: string, body: Json) => void,
  command: string,
  reason: string,
): void {
  artifact('sandbox', command, { isolation: 'none', requested: 'auto', command, reason });
}

/**
 * The `shell` action over a sandbox (absent: every shell step is refused).
 *
 * @example
 * ```ts
 * const shell = createShellAction({ sandbox: resolveSandbox({ allow: ['git'], cwd: '/repo' }), clock: systemClock });
 * ```
 */
export function createShellAction(services: {
  readonly sandbox?: ResolvedSandbox;
  readonly clock: Clock;
}): ActionFunction {
  return async (input, ctx) => {
    const sandbox = services.sandbox;
    const spec = shellSpecOf(input, ctx);
    if (!sandbox) {
      throw new TaskvisorError(
        'SHELL_NOT_ALLOWED',
        `Shell command "${spec.command}" cannot run: no sandbox is configured, so no binary is allowed. Pass createSupervisor({ sandbox: { allow: ["${spec.command}"], cwd } }).`,
        { command: spec.command, allow: [], retryable: false },
      );
    }
    try {
      const result = await runShell(spec, sandbox, {
        signal: ctx.signal,
        clock: services.clock,
        tier: ctx.tier,
        ...(ctx.writtenBy ? { writtenBy: ctx.writtenBy } : {}),
        onUnjailed: (reason) => recordUnjailed(ctx.artifact, spec.command, reason),
        onSpawn: (pid) =>
          ctx.log(`started ${spec.command} (pid ${pid})`, { pid, args: [...(spec.args ?? [])] }),
      });
      ctx.artifact('shell', spec.command, {
        command: spec.command,
        binary: result.command,
        args: result.args,
        ...(spec.cwd ? { cwd: spec.cwd } : {}),
        outcome: 'exited',
        exitCode: result.exitCode,
        signal: null,
        durationMs: result.durationMs,
        stdoutBytes: Buffer.byteLength(result.stdout),
        stderrBytes: Buffer.byteLength(result.stderr),
        isolation: result.isolation,
      });
      const output: ShellOutput = {
        command: spec.command,
        binary: result.command,
        args: result.args,
        exitCode: result.exitCode,
        durationMs: result.durationMs,
        stdout: result.stdout,
        stderr: result.stderr,
        stdoutTruncated: result.stdoutTruncated,
        stderrTruncated: result.stderrTruncated,
        isolation: result.isolation,
      };
      return { output };
    } catch (error) {
      if (!isTaskvisorError(error)) throw error;
      const ran = error.details as Partial<ShellOutcome>;
      if (typeof ran.durationMs === 'number' && typeof ran.command === 'string') {
        ctx.artifact('shell', spec.command, {
          command: spec.command,
          binary: ran.command,
          args: ran.args ?? [],
          ...(spec.cwd ? { cwd: spec.cwd } : {}),
          outcome:
            error.code === 'STEP_TIMEOUT' ? 'timeout' : error.code === 'ABORTED' ? 'aborted' : 'exited',
          exitCode: ran.exitCode ?? null,
          signal: ran.signal ?? null,
          durationMs: ran.durationMs,
          stderrTail: (ran.stderr ?? '').slice(-2000),
          ...(ran.isolation === undefined ? {} : { isolation: ran.isolation }),
        });
      }
      if (FINAL_CODES.has(error.code) && error.details.retryable === undefined) {
        throw new TaskvisorError(
          error.code,
          error.message,
          { ...error.details, retryable: false },
          { cause: error },
        );
      }
      throw error;
    }
  };
}

/** The step's input as a `ShellSpec`; the action's own `timeoutMs` wins over the step's. */
function shellSpecOf(input: Record<string, unknown>, ctx: ActionContext): ShellSpec {
  const { command, args, cwd, env, timeoutMs } = input;
  if (typeof command !== 'string' || command === '') {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `A shell step needs a command (a binary name or path), got ${JSON.stringify(command)}.`,
      { field: 'command', value: command as never, retryable: false },
    );
  }
  const timeout = typeof timeoutMs === 'number' ? timeoutMs : ctx.timeoutMs;
  return {
    command,
    ...(args === undefined ? {} : { args: args as string[] }),
    ...(typeof cwd === 'string' ? { cwd } : {}),
    ...(env === undefined ? {} : { env: env as Record<string, string> }),
    ...(timeout === undefined ? {} : { timeoutMs: timeout }),
  };
}
