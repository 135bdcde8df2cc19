import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { type Clock, systemClock } from '../clock.js';
import { TaskvisorError } from '../errors.js';
import type { Tier } from '../model/tier.js';
import { resolveAllowedBinary } from './binary.js';
import { childEnv } from './child-env.js';
import { confineCwd } from './confine-cwd.js';
import { decideIsolation, type StepAuthor } from './isolation.js';
import { START_CHECK_EXIT_CODE, START_CHECK_MARKER } from './jail-args.js';
import { JailStatus } from './jail-status.js';
import { jailLaunch, policyLaunch } from './launch.js';
import { OutputCapture } from './output-capture.js';
import { realPathOf } from './path-lookup.js';
import { type ResolvedSandbox, timeoutFor } from './policy.js';
import {
  abortedBeforeStart,
  couldNotStart,
  describeReason,
  jailFailed,
  shellFailed,
  signalOf,
} from './shell-errors.js';
import type { ShellOutcome, ShellResult } from './shell-outcome.js';

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
  /**
   * Called once the child runs, with its pid, which is also its process group id: the command's
   * own under the policy alone; in the jail, the jail's PID 1 (the command's group is its group).
   */
  readonly onSpawn?: (pid: number) => void;
  /**
   * Who wrote the step: with `sandbox.isolation: 'auto'`, a step the model wrote never runs
   * without the jail (`SANDBOX_UNAVAILABLE` instead). Default `'caller'`.
   */
  readonly writtenBy?: StepAuthor;
  /**
   * Called before the command starts when `sandbox.isolation: 'auto'` could not have the jail
   * and the command runs under the policy alone, with why (for the audit trail).
   */
  readonly onUnjailed?: (reason: string) => void;
  /**
   * Asked when `signal` aborts: `'interrupt'` sends SIGINT to the process group (and kills it
   * after the grace if it does not end), `'cancel'` kills the group at once; otherwise (or
   * absent) SIGTERM, then the kill after the grace.
   */
  readonly stopIntent?: () => 'interrupt' | 'cancel' | undefined;
}

/** How long a process group gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 2_000;

type StopReason = { kind: 'timeout'; timeoutMs: number } | { kind: 'abort'; reason: unknown };

/**
 * Runs one sandboxed command: the binary must be allowed ({@link resolveAllowedBinary}), the
 * cwd stays inside the sandbox ({@link confineCwd}) and is opened once, so the directory that
 * was checked is the one the command starts in; the environment is only the passed-through
 * parent variables plus `spec.env` (code-loading variables refused), stdin is closed, and argv
 * is passed without a shell.
 *
 * With the jail (`sandbox.isolation` `'auto'` or `'jail'`, see `decideIsolation`) the command
 * runs under bubblewrap: its own user, mount, PID, IPC, UTS and (unless `sandbox.network`)
 * network namespaces, the system read-only, the sandbox root and `writePaths` writable,
 * `readPaths` read-only, a private `/tmp`, `/dev` and `/proc`, nothing else. When the command
 * ends, everything it started ends with it (the jail's PID namespace goes away), and the jail
 * dies with this process.
 *
 * On timeout (armed on `clock`) or when `signal` aborts, the command's process group gets
 * SIGTERM, then after {@link KILL_GRACE_MS} SIGKILL (in the jail: the jail's PID 1, which ends
 * every process in it), and the promise rejects with `STEP_TIMEOUT` or `ABORTED`. Exit code 0
 * resolves once every output pipe has closed; anything else rejects with `SHELL_FAILED` (exit
 * code or signal, last stderr lines, and the full {@link ShellOutcome} in `details`). stdout
 * and stderr keep `sandbox.maxOutputBytes` each.
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
  const {
    signal,
    clock = systemClock,
    tier = 'execute',
    onSpawn,
    writtenBy = 'caller',
    stopIntent,
  } = options;
  if (signal?.aborted) throw abortedBeforeStart(spec.command, signal.reason);

  const args = validateArgs(spec.args);
  const timeoutMs = timeoutFor(sandbox, tier, spec.timeoutMs);
  const env = childEnv(sandbox, spec.env);
  const cwd = confineCwd(spec.cwd, sandbox);
  const binary = resolveAllowedBinary(spec.command, sandbox, { cwd });
  const decision = await decideIsolation(sandbox, writtenBy, `Shell command "${spec.command}"`);
  if (signal?.aborted) throw abortedBeforeStart(spec.command, signal.reason);
  const input = {
    sandbox,
    root: realPathOf(sandbox.cwd) ?? cwd,
    cwd,
    binary,
    command: spec.command,
    args,
    env,
  };
  const launch = decision.isolation === 'jail' ? jailLaunch(input, decision.support) : policyLaunch(input);
  const isolation = decision.isolation;
  const unjailed = decision.isolation === 'none' ? decision.unjailed : undefined;
  if (unjailed !== undefined) {
    try {
      options.onUnjailed?.(unjailed);
    } catch {
      // An observer's failure does not change the run.
    }
  }

  return new Promise<ShellResult>((resolve, reject) => {
    const startedAt = clock.now();
    let child: ChildProcess;
    try {
      child = spawn(launch.file, [...launch.args], {
        cwd: launch.cwd,
        env,
        ...(launch.argv0 === undefined ? {} : { argv0: launch.argv0 }),
        shell: false,
        detached: true, // its own process group (and session), so the whole group can be killed
        stdio: launch.stdio,
        windowsHide: true,
      });
    } catch (error) {
      launch.release();
      reject(couldNotStart(spec.command, binary, error));
      return;
    }
    const jail = launch.jailed ? new JailStatus(child.stdio[3] as Readable) : undefined;

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

    const send = (pid: number | undefined, killSignal: NodeJS.Signals) => {
      if (pid === undefined) return;
      try {
        process.kill(pid, killSignal);
      } catch {
        // ESRCH: it is gone already.
      }
    };
    /** SIGKILL to the group; in the jail, to its PID 1 too, which ends every process in the jail. */
    const kill = () => {
      if (jail?.pid !== undefined) send(jail.pid, 'SIGKILL');
      send(child.pid === undefined ? undefined : -child.pid, 'SIGKILL');
      // A process that left the group may still hold a pipe; stop waiting for it.
      child.stdout?.destroy();
      child.stderr?.destroy();
      (child.stdio[3] as Readable | null | undefined)?.destroy();
    };

    /** `asked` (SIGTERM, or SIGINT for an interrupt) to the command's process group (in the jail: the group of the jail's PID 1, which ignores it). */
    const terminate = (asked: NodeJS.Signals = 'SIGTERM') => {
      if (!jail) return send(child.pid === undefined ? undefined : -child.pid, asked);
      // A jail still being set up has no command to ask: end it at once.
      if (!jail.commandStarted()) return kill();
      send(-jail.pid!, asked);
    };
    function stop(reason: StopReason): void {
      if (settled || stopReason) return;
      stopReason = reason;
      clock.clearTimeout(deadline);
      const intent = reason.kind === 'abort' ? stopIntent?.() : undefined;
      if (intent === 'cancel') return kill();
      terminate(intent === 'interrupt' ? 'SIGINT' : 'SIGTERM');
      killTimer = clock.setTimeout(kill, KILL_GRACE_MS);
    }

    function settle(): void {
      settled = true;
      // Held until now, so no checked directory is freed (and its inode reused) while the child runs.
      launch.release();
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

    const spawned = (pid: number) => {
      try {
        onSpawn?.(pid);
      } catch {
        // An observer's failure does not change the run.
      }
    };
    if (jail) jail.onPid(spawned);
    else if (child.pid !== undefined) spawned(child.pid);

    // 'close' comes after the exit and after every stdio pipe closed.
    child.once('close', (code: number | null, exitSignal: NodeJS.Signals | null) => {
      if (settled) return;
      settle();
      // In the jail, bubblewrap reports the command's exit code (128 + n for signal n); none means it never ran.
      const ran = !jail || jail.exitCode !== undefined;
      const jailSignal = jail?.exitCode === undefined ? undefined : signalOf(jail.exitCode);
      const outcome: ShellOutcome = {
        exitCode: jail ? (jailSignal ? null : (jail.exitCode ?? null)) : code,
        signal: jail ? (jailSignal ?? (jail.exitCode === undefined ? exitSignal : null)) : exitSignal,
        stdout: stdout.text(),
        stderr: stderr.text(),
        stdoutTruncated: stdout.truncated,
        stderrTruncated: stderr.truncated,
        durationMs: clock.now() - startedAt,
        command: binary,
        args,
        isolation,
        ...(unjailed === undefined ? {} : { unjailed }),
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
      } else if (!ran) {
        reject(jailFailed(outcome, stderr, input.root));
      } else if (
        jail &&
        outcome.exitCode === START_CHECK_EXIT_CODE &&
        outcome.stderr.includes(START_CHECK_MARKER)
      ) {
        reject(
          new TaskvisorError(
            'SANDBOX_ESCAPE',
            `Shell command "${spec.command}" did not run: its cwd "${cwd}" or a directory the jail binds was swapped (for another directory or a symlink) after it was checked, so the jail refused to start it. Stop whatever swaps directories in the sandbox.`,
            { ...outcome, cwd, retryable: false },
          ),
        );
      } else if (outcome.exitCode === 0) {
        const { signal: _signal, requested: _requested, ...result } = outcome;
        resolve({ ...result, exitCode: 0 });
      } else {
        reject(shellFailed(outcome, stderr));
      }
    });
  });
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
