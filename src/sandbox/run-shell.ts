import { type ChildProcess, spawn } from 'node:child_process';
import { type Clock, systemClock } from '../clock.js';
import { TaskvisorError } from '../errors.js';
import type { Tier } from '../model/tier.js';
import { resolveAllowedBinary } from './binary.js';
import { childEnv } from './child-env.js';
import { confineCwd } from './confine-cwd.js';
import { OutputCapture } from './output-capture.js';
import { type ResolvedSandbox, timeoutFor } from './policy.js';

/** What a `shell` step runs: argv, never a shell string. */
export interface ShellSpec {
  readonly command: string;
  readonly args?: readonly string[];
  /** Working directory, relative to the sandbox root; must stay inside it. */
  readonly cwd?: string;
  /** Variables added to the passed-through parent variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Overrides the sandbox's timeout for the tier. */
  readonly timeoutMs?: number;
}

export interface RunShellOptions {
  /** Aborting kills the child's whole process group and rejects with `ABORTED`. */
  readonly signal?: AbortSignal;
  /** Arms the timeout and the kill grace; default the system clock. */
  readonly clock?: Clock;
  /** Picks the default timeout (default `'execute'`). */
  readonly tier?: Tier;
  /** Called once the child runs, with its pid (which is also its process group id). */
  readonly onSpawn?: (pid: number) => void;
}

/** A run that exited with code 0. */
export interface ShellResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  durationMs: number;
  /** The canonical path of the binary that ran. */
  command: string;
  args: string[];
}

/** What a failed, timed-out or aborted run got: the `details` of its error. */
export interface ShellOutcome extends Omit<ShellResult, 'exitCode'> {
  /** Null when a signal ended it. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The command as the step named it. */
  requested: string;
}

/** How long a process group gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 2_000;

/** Lines of stderr quoted in a `SHELL_FAILED` message. */
const STDERR_LINES_IN_MESSAGE = 10;

type StopReason = { kind: 'timeout'; timeoutMs: number } | { kind: 'abort'; reason: unknown };

/**
 * Runs one sandboxed command: the binary must be allowed ({@link resolveAllowedBinary}), the
 * cwd stays inside the sandbox ({@link confineCwd}), the environment is only the passed-through
 * parent variables plus `spec.env`, stdin is closed, and argv is passed without a shell. The
 * child leads its own process group; on timeout (armed on `clock`) or when `signal` aborts the
 * whole group gets SIGTERM, then SIGKILL after {@link KILL_GRACE_MS}, and the promise rejects
 * with `STEP_TIMEOUT` or `ABORTED`. Exit code 0 resolves once every output pipe has closed;
 * anything else rejects with `SHELL_FAILED` (exit code or signal, last stderr lines, and the
 * full {@link ShellOutcome} in `details`). stdout and stderr keep `sandbox.maxOutputBytes` each.
 *
 * @example
 * ```ts
 * const sandbox = resolveSandbox({ allow: ['git'], cwd: '/repo' });
 * const { stdout } = await runShell({ command: 'git', args: ['log', '--oneline', '-5'] }, sandbox, {
 *   signal: AbortSignal.timeout(60_000),
 *   tier: 'read',
 * });
 * ```
 */
export async function runShell(
  spec: ShellSpec,
  sandbox: ResolvedSandbox,
  options: RunShellOptions = {},
): Promise<ShellResult> {
  const { signal, clock = systemClock, tier = 'execute', onSpawn } = options;
  if (signal?.aborted) throw abortedBeforeStart(spec.command, signal.reason);

  const args = validateArgs(spec.args);
  const timeoutMs = timeoutFor(sandbox, tier, spec.timeoutMs);
  const env = childEnv(sandbox, spec.env);
  const cwd = confineCwd(spec.cwd, sandbox);
  const binary = resolveAllowedBinary(spec.command, sandbox, { cwd });

  return new Promise<ShellResult>((resolve, reject) => {
    const startedAt = clock.now();
    let child: ChildProcess;
    try {
      child = spawn(binary, args, {
        cwd,
        env,
        argv0: spec.command,
        shell: false,
        detached: true, // its own process group (and session), so the whole group can be killed
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
      });
    } catch (error) {
      reject(couldNotStart(spec.command, binary, error));
      return;
    }

    const stdout = new OutputCapture(sandbox.maxOutputBytes);
    const stderr = new OutputCapture(sandbox.maxOutputBytes);
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));

    let stopReason: StopReason | undefined;
    let settled = false;
    let killTimer: unknown;
    const deadline = clock.setTimeout(() => stop({ kind: 'timeout', timeoutMs }), timeoutMs);
    const onAbort = () => stop({ kind: 'abort', reason: signal?.reason });
    signal?.addEventListener('abort', onAbort, { once: true });

    const killGroup = (killSignal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, killSignal);
      } catch {
        // ESRCH: every process of the group is gone already.
      }
    };

    function stop(reason: StopReason): void {
      if (settled || stopReason) return;
      stopReason = reason;
      clock.clearTimeout(deadline);
      killGroup('SIGTERM');
      killTimer = clock.setTimeout(() => {
        killGroup('SIGKILL');
        // A process that left the group may still hold a pipe; stop waiting for it.
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, KILL_GRACE_MS);
    }

    function settle(): void {
      settled = true;
      clock.clearTimeout(deadline);
      if (killTimer !== undefined) clock.clearTimeout(killTimer);
      signal?.removeEventListener('abort', onAbort);
    }

    child.once('error', (error) => {
      // Only a failed spawn matters here; kill errors are handled where we kill.
      if (settled || child.pid !== undefined) return;
      settle();
      reject(couldNotStart(spec.command, binary, error));
    });

    if (child.pid !== undefined && onSpawn) {
      try {
        onSpawn(child.pid);
      } catch {
        // An observer's failure does not change the run.
      }
    }

    // 'close' comes after the exit and after every stdio pipe closed.
    child.once('close', (code: number | null, exitSignal: NodeJS.Signals | null) => {
      if (settled) return;
      settle();
      const outcome: ShellOutcome = {
        exitCode: code,
        signal: exitSignal,
        stdout: stdout.text(),
        stderr: stderr.text(),
        stdoutTruncated: stdout.truncated,
        stderrTruncated: stderr.truncated,
        durationMs: clock.now() - startedAt,
        command: binary,
        args,
        requested: spec.command,
      };
      if (stopReason?.kind === 'timeout') {
        reject(
          new TaskvisorError(
            'STEP_TIMEOUT',
            `Shell command "${spec.command}" (${binary}) timed out after ${stopReason.timeoutMs} ms (tier "${tier}"); its process group was killed. If it needs longer, raise the step's timeoutMs or sandbox.timeoutMs.${tier}.`,
            { ...outcome, timeoutMs: stopReason.timeoutMs, tier },
          ),
        );
      } else if (stopReason?.kind === 'abort') {
        reject(
          new TaskvisorError(
            'ABORTED',
            `Shell command "${spec.command}" (${binary}) was aborted${describeReason(stopReason.reason)}; its process group was killed.`,
            { ...outcome },
            { cause: stopReason.reason },
          ),
        );
      } else if (code === 0) {
        const { signal: _signal, requested: _requested, ...result } = outcome;
        resolve({ ...result, exitCode: 0 });
      } else {
        reject(shellFailed(outcome, stderr));
      }
    });
  });
}

function shellFailed(outcome: ShellOutcome, stderr: OutputCapture): TaskvisorError {
  const how =
    outcome.exitCode !== null
      ? `exited with code ${outcome.exitCode}`
      : `was killed by signal ${outcome.signal}`;
  const lines = stderr.lastLines(STDERR_LINES_IN_MESSAGE);
  const quoted =
    lines.length > 0
      ? `; last stderr lines:\n${lines.map((line) => `  ${line}`).join('\n')}`
      : '; it wrote nothing to stderr';
  return new TaskvisorError(
    'SHELL_FAILED',
    `Shell command "${outcome.requested}" (${outcome.command}) ${how}${quoted}`,
    { ...outcome },
  );
}

function validateArgs(args: readonly string[] | undefined): string[] {
  if (args === undefined) return [];
  if (!Array.isArray(args)) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `Expected shell args to be an array of strings, got ${JSON.stringify(args)}; pass argv like ["log", "-5"].`,
      { field: 'args', value: args },
    );
  }
  return args.map((arg: unknown, index) => {
    if (typeof arg !== 'string' || arg.includes('\0')) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `Expected shell args[${index}] to be a string without NUL bytes, got ${JSON.stringify(arg)}.`,
        { field: `args[${index}]`, value: arg },
      );
    }
    return arg;
  });
}

function abortedBeforeStart(command: string, reason: unknown): TaskvisorError {
  return new TaskvisorError(
    'ABORTED',
    `Shell command "${command}" was not started: the step was already aborted${describeReason(reason)}.`,
    { requested: command },
    { cause: reason },
  );
}

function couldNotStart(command: string, binary: string, error: unknown): TaskvisorError {
  const message = error instanceof Error ? error.message : String(error);
  return new TaskvisorError(
    'ACTION_FAILED',
    `Shell command "${command}" (${binary}) could not be started: ${message}.`,
    { requested: command, command: binary },
    { cause: error },
  );
}

function describeReason(reason: unknown): string {
  if (reason instanceof Error && reason.message) return ` (${reason.message})`;
  if (typeof reason === 'string' && reason) return ` (${reason})`;
  return '';
}
