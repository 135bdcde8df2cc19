/**
 * The escape table: every way a plan might try to get out of the shell sandbox, run through a
 * real supervisor (plan validation, then the runtime's own checks, then real child processes
 * in the jail), with the stage that refuses or contains it and what it got. Rows at stage
 * `jail` or `allowed` need bubblewrap: they always run in CI (CI=true) and elsewhere when the
 * jail can be had; the rest run everywhere. Rows at stage `allowed` are what must keep working
 * inside the jail. The table is printed at the end of the file's run, for the release notes.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { TaskvisorErrorCode } from '../../src/errors.js';
import type { PlanInput } from '../../src/model/plan.js';
import type { RunResult } from '../../src/model/views.js';
import type { Supervisor, SupervisorOptions } from '../../src/supervisor.js';
import { JAIL, reportJailSkip } from '../sandbox/jail-support.js';
import { liveProcessesInGroup, liveProcessesRunning, pollUntil } from '../sandbox/process-group.js';
import { runTs } from '../support/processes.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { refusal, untilSpawned } from './helpers.js';

const harness = useSupervisorHarness();
const RM = fs.realpathSync('/usr/bin/rm');
const SECRET = 'TASKVISOR_ESCAPE_SECRET';
const CAP = 64 * 1024;
/** Binaries the plans may run (bare names on PATH; node by its path, as it may live anywhere). */
const ALLOW = [
  'echo',
  'env',
  'sh',
  'sleep',
  'head',
  'cat',
  'ls',
  'git',
  'find',
  'touch',
  'pwd',
  'bash',
  'ldd',
  'zcat',
];
reportJailSkip('the sandbox escape table');

interface Fixture {
  root: string;
  outside: string;
  canary: string;
  /** First on the sandbox PATH; empty when the supervisor opens. */
  bin: string;
  sv: Supervisor;
  clock: ManualClock;
  options: SupervisorOptions;
  /** A local HTTP server (127.0.0.1) answering "hello from the host". */
  port: number;
}

/**
 * Where an attempt is stopped: refused at plan validation, at the run (before anything starts)
 * or by createSupervisor; `contained` by the policy (env filtering, no shell, output cap);
 * `jail`: it ran, and the jail kept it in; `allowed`: what must keep working in the jail.
 */
type Stage = 'plan validation' | 'run' | 'createSupervisor' | 'contained' | 'jail' | 'allowed';

interface Row {
  attempt: string;
  stage: Stage;
  /** The refusal's code (none for a contained attempt). */
  code?: TaskvisorErrorCode;
  /** Plants what the attempt needs, then returns its plan (or, for createSupervisor, its options). */
  plan?: (f: Fixture) => PlanInput;
  options?: (f: Fixture) => SupervisorOptions;
  /** What the message must name. */
  names?: (f: Fixture) => string[];
  /** For contained attempts: checks the run's outputs. */
  check?: (outputs: Record<string, unknown>, f: Fixture) => void;
  /** For contained attempts: what the check shows. */
  contained?: string;
  /** Drives a run that needs the clock (timeouts) or a command (cancel). */
  drive?: (f: Fixture, runId: string) => Promise<void>;
  /** `jail` and `allowed` rows: how the run ends (default completed). */
  phase?: RunResult['phase'];
  /** `jail` and `allowed` rows: checks the run's result, given the first failed attempt's message. */
  verify?: (result: RunResult, error: string, f: Fixture) => void | Promise<void>;
  /** A row whose whole attempt is its own (another process, many steps): returns what it showed. */
  custom?: (f: Fixture) => Promise<string>;
}

const sh = (script: string, extra: Record<string, unknown> = {}) =>
  shell('sh', { args: ['-c', script], ...extra });
const shell = (command: string, extra: Record<string, unknown> = {}) => ({
  kind: 'shell',
  command,
  ...extra,
});
const one = (action: Record<string, unknown>, step: Record<string, unknown> = {}): PlanInput => ({
  steps: [{ id: 'attempt', action, ...step } as PlanInput['steps'][number]],
});

const rows: Row[] = [
  {
    attempt: 'a binary not in sandbox.allow, by name (rm)',
    stage: 'plan validation',
    code: 'SHELL_NOT_ALLOWED',
    plan: (f) => one(shell('rm', { args: ['-f', f.canary] })),
    names: () => ['"rm"', RM, 'sandbox.allow is [', 'add it to sandbox.allow'],
  },
  {
    attempt: 'an explicit path to a disallowed binary (/usr/bin/rm)',
    stage: 'plan validation',
    code: 'SHELL_NOT_ALLOWED',
    plan: (f) => one(shell('/usr/bin/rm', { args: ['-f', f.canary] })),
    names: () => ['"/usr/bin/rm"', RM, 'sandbox.allow is ['],
  },
  {
    attempt: 'a path that traverses to a disallowed binary (/usr/bin/../bin/rm)',
    stage: 'plan validation',
    code: 'SHELL_NOT_ALLOWED',
    plan: (f) => one(shell('/usr/bin/../bin/rm', { args: ['-f', f.canary] })),
    names: () => ['"/usr/bin/../bin/rm"', `resolves to "${RM}"`],
  },
  {
    attempt: 'a relative path climbing out of the sandbox to a disallowed binary',
    stage: 'plan validation',
    code: 'SHELL_NOT_ALLOWED',
    plan: (f) => one(shell(path.relative(f.root, '/usr/bin/rm'), { args: ['-f', f.canary] })),
    names: () => [RM],
  },
  {
    attempt: 'a symlink planted on PATH, named like an allowed binary (echo -> rm)',
    stage: 'plan validation',
    code: 'SHELL_NOT_ALLOWED',
    plan: (f) => {
      fs.symlinkSync('/usr/bin/rm', path.join(f.bin, 'echo'));
      return one(shell('echo', { args: [f.canary] }));
    },
    names: (f) => [RM, `via "${path.join(f.bin, 'echo')}"`, 'A binary named "echo" is allowed'],
  },
  {
    attempt: 'a symlink in the sandbox given by path (./echo -> rm)',
    stage: 'plan validation',
    code: 'SHELL_NOT_ALLOWED',
    plan: (f) => {
      fs.symlinkSync('/usr/bin/rm', path.join(f.root, 'echo'));
      return one(shell('./echo', { args: [f.canary] }));
    },
    names: (f) => ['"./echo"', RM, path.join(f.root, 'echo')],
  },
  {
    attempt: 'a binary swapped after plan validation (./tool -> echo, relinked to rm by an earlier step)',
    stage: 'run',
    code: 'SHELL_NOT_ALLOWED',
    plan: (f) => {
      fs.symlinkSync('/usr/bin/echo', path.join(f.root, 'tool'));
      return {
        steps: [
          { id: 'swap', action: shell('sh', { args: ['-c', 'ln -sf /usr/bin/rm tool'] }) },
          { id: 'attempt', dependsOn: ['swap'], action: shell('./tool', { args: [f.canary] }) },
        ],
      };
    },
    names: () => ['"./tool"', RM, 'not an allowed binary'],
  },
  {
    attempt: "a command taken from an earlier step's output ({{steps.pick.output}} = rm)",
    stage: 'run',
    code: 'SHELL_NOT_ALLOWED',
    plan: (f) => ({
      steps: [
        { id: 'pick', action: { kind: 'note', output: 'rm' } },
        { id: 'attempt', dependsOn: ['pick'], action: shell('{{steps.pick.output}}', { args: [f.canary] }) },
      ],
    }),
    names: () => ['"rm"', RM],
  },
  {
    attempt: 'a cwd that climbs out with .. (../outside)',
    stage: 'run',
    code: 'SANDBOX_ESCAPE',
    plan: () => one(shell('sh', { args: ['-c', ': > pwned'], cwd: '../outside' })),
    names: (f) => ['"../outside"', f.outside, f.root],
  },
  {
    attempt: 'a cwd that climbs out after a subdirectory (sub/../../outside)',
    stage: 'run',
    code: 'SANDBOX_ESCAPE',
    plan: (f) => {
      fs.mkdirSync(path.join(f.root, 'sub'));
      return one(shell('sh', { args: ['-c', ': > pwned'], cwd: 'sub/../../outside' }));
    },
    names: (f) => ['"sub/../../outside"', f.outside],
  },
  {
    attempt: 'an absolute cwd outside the sandbox',
    stage: 'run',
    code: 'SANDBOX_ESCAPE',
    plan: (f) => one(shell('sh', { args: ['-c', ': > pwned'], cwd: f.outside })),
    names: (f) => [f.outside, f.root],
  },
  {
    attempt: 'a symlinked cwd inside the sandbox pointing outside (link -> ../outside)',
    stage: 'run',
    code: 'SANDBOX_ESCAPE',
    plan: (f) => {
      fs.symlinkSync(f.outside, path.join(f.root, 'link'));
      return one(shell('sh', { args: ['-c', ': > pwned'], cwd: 'link' }));
    },
    names: (f) => ['"link"', f.outside, f.root],
  },
  {
    attempt: 'a dynamic-loader variable in the step env (LD_PRELOAD)',
    stage: 'plan validation',
    code: 'SANDBOX_ESCAPE',
    plan: (f) => one(shell('echo', { args: ['hi'], env: { LD_PRELOAD: path.join(f.outside, 'evil.so') } })),
    names: () => ['"LD_PRELOAD"'],
  },
  {
    attempt: `a parent secret in the environment (${SECRET}) read with env`,
    stage: 'contained',
    plan: () => one(shell('env', { env: { STEP_VAR: 'visible' } })),
    check: (outputs) => {
      const stdout = (outputs.attempt as { stdout: string }).stdout;
      expect(process.env[SECRET]).toBe('hunter2');
      expect(stdout).not.toContain(SECRET);
      expect(stdout).not.toContain('hunter2');
      expect(stdout).toContain('STEP_VAR=visible');
    },
    contained: 'the child sees only PATH, HOME and the step env; the secret is not in its output',
  },
  {
    attempt: `an output flood (3 MB on stdout, cap ${CAP} bytes)`,
    stage: 'contained',
    plan: () => one(shell('head', { args: ['-c', '3000000', '/dev/zero'] })),
    check: (outputs) => {
      const output = outputs.attempt as { stdout: string; stdoutTruncated: boolean };
      expect(output.stdoutTruncated).toBe(true);
      expect(output.stdout).toContain(`[... truncated ${3_000_000 - CAP} bytes]`);
      expect(output.stdout.length).toBeLessThan(CAP + 100);
    },
    contained: `stdout keeps ${CAP} bytes, then "[... truncated ${3_000_000 - CAP} bytes]"; stdoutTruncated: true`,
  },
  {
    attempt: 'shell metacharacters in args ($(touch pwned); `id` | > *)',
    stage: 'contained',
    plan: () => one(shell('echo', { args: ['$(touch pwned)', ';', '`id`', '|', '>', '*'] })),
    check: (outputs, f) => {
      expect((outputs.attempt as { stdout: string }).stdout).toBe('$(touch pwned) ; `id` | > *\n');
      expect(fs.existsSync(path.join(f.root, 'pwned'))).toBe(false);
    },
    contained: 'passed to echo literally (no shell); no file was created',
  },
  {
    attempt: 'a command that never ends (sh -c "sleep 1000 & sleep 1000", tier read)',
    stage: 'run',
    code: 'STEP_TIMEOUT',
    plan: () => one(shell('sh', { args: ['-c', 'sleep 1000 & sleep 1000'] }), { tier: 'read' }),
    drive: async (f, runId) => {
      const pgid = await untilSpawned(f.sv, runId, 'attempt');
      await pollUntil(
        () => liveProcessesInGroup(pgid).filter((p) => p.comm === 'sleep').length === 2,
        'sleeps',
      );
      f.clock.advance(30_000);
      await pollUntil(() => liveProcessesInGroup(pgid).length === 0, `group ${pgid} gone`);
    },
    names: () => ['timed out after 30000 ms (tier "read")', 'its process group was killed'],
  },
  {
    attempt: 'a CLI agent whose binary is not allowed (rm {spec})',
    stage: 'createSupervisor',
    code: 'INVALID_OPTION',
    options: (f) => ({
      ...f.options,
      agents: [{ name: 'wiper', kind: 'cli', command: 'rm', args: ['-rf', '{spec}'] }],
    }),
    names: () => ['agents[0] ("wiper")', '"rm"', RM, 'sandbox.allow is ['],
  },
  // Code execution through the step env: refused when the plan is validated, jail or not.
  {
    attempt: "BASH_ENV='$(touch pwned)' with ldd (a bash script)",
    stage: 'plan validation',
    code: 'SANDBOX_ESCAPE',
    plan: () => one(shell('ldd', { args: ['/usr/bin/true'], env: { BASH_ENV: '$(touch pwned)' } })),
    names: () => ['"BASH_ENV"', 'bash runs the file it names'],
  },
  {
    attempt: 'NODE_OPTIONS=--import=data:... with node (npm is a node program)',
    stage: 'plan validation',
    code: 'SANDBOX_ESCAPE',
    plan: () =>
      one(
        shell(process.execPath, {
          args: ['--version'],
          env: { NODE_OPTIONS: '--import=data:text/javascript,process.stdout.write("pwned")' },
        }),
      ),
    names: () => ['"NODE_OPTIONS"', '--require / --import'],
  },
  {
    attempt: 'a PATH into the work dir with zcat (which runs gzip from PATH)',
    stage: 'plan validation',
    code: 'SANDBOX_ESCAPE',
    plan: (f) => {
      fs.writeFileSync(path.join(f.root, 'gzip'), '#!/bin/sh\ntouch pwned\n', { mode: 0o755 });
      return one(shell('zcat', { args: ['x.gz'], env: { PATH: f.root } }));
    },
    names: (f) => ['"PATH"', `"${f.root}"`, 'holds no allowed binary'],
  },
  {
    attempt: 'GIT_CONFIG_COUNT/KEY/VALUE setting core.pager with git',
    stage: 'plan validation',
    code: 'SANDBOX_ESCAPE',
    plan: () =>
      one(
        shell('git', {
          args: ['log'],
          env: { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'core.pager', GIT_CONFIG_VALUE_0: 'touch pwned' },
        }),
      ),
    names: () => ['"GIT_CONFIG_COUNT"', 'sets any git option'],
  },
  {
    attempt: "a PATH taken from an earlier step's output ({{steps.pick.output}} = the work dir)",
    stage: 'run',
    code: 'SANDBOX_ESCAPE',
    plan: (f) => ({
      steps: [
        { id: 'pick', action: { kind: 'note', output: f.root } },
        {
          id: 'attempt',
          dependsOn: ['pick'],
          action: shell('zcat', { args: ['x.gz'], env: { PATH: '{{steps.pick.output}}' } }),
        },
      ],
    }),
    names: (f) => ['"PATH"', `"${f.root}"`],
  },
  // Reads anywhere: the jail's filesystem has the system and the work dir, nothing else.
  {
    attempt: 'reads anywhere: cat /etc/shadow',
    stage: 'jail',
    plan: () => one(shell('cat', { args: ['/etc/shadow'] })),
    phase: 'failed',
    verify: (_result, error) => {
      expect(error).toContain('/etc/shadow: No such file or directory');
      expect(error).not.toContain('root:');
    },
    contained: 'there is no /etc/shadow in the jail (cat: No such file or directory)',
  },
  {
    attempt: 'reads anywhere: cat ../../../../../../etc/hostname',
    stage: 'jail',
    plan: () => one(shell('cat', { args: ['../../../../../../etc/hostname'] })),
    phase: 'failed',
    verify: (_result, error) => expect(error).toContain('No such file or directory'),
    contained: '/etc/hostname is not in the jail (No such file or directory)',
  },
  {
    attempt: 'reads anywhere: a file outside the work dir by absolute path (the canary)',
    stage: 'jail',
    plan: (f) => one(shell('cat', { args: [f.canary] })),
    phase: 'failed',
    verify: (_result, error, f) => {
      expect(error).toContain(`${f.canary}: No such file or directory`);
      expect(error).not.toContain('still here');
    },
    contained: 'nothing outside sandbox.cwd is mounted (No such file or directory)',
  },
  {
    attempt: 'reads anywhere: ls -A /root',
    stage: 'jail',
    plan: () => one(sh('ls -A /root 2>&1; echo "exit $?"')),
    verify: (result) => {
      // /root is either absent or the private, empty HOME (when HOME=/root).
      const stdout = (result.outputs.attempt as { stdout: string }).stdout;
      expect(stdout === 'exit 0\n' || /No such file or directory\nexit 2\n$/.test(stdout), stdout).toBe(true);
    },
    contained: "/root is absent, or HOME's empty private tmpfs",
  },
  // The supervisor's secrets: a PID namespace of its own, a fresh /proc, a filtered environment.
  {
    attempt: "the supervisor's secrets: cat /proc/<supervisor pid>/environ",
    stage: 'jail',
    plan: () => one(shell('cat', { args: [`/proc/${process.pid}/environ`] })),
    phase: 'failed',
    verify: (_result, error) => {
      expect(error).toContain('No such file or directory');
      expect(error).not.toContain('hunter2');
    },
    contained: "the jail's /proc shows its own PID namespace only: no such process",
  },
  {
    attempt: "the supervisor's secrets: every /proc/*/environ and /proc/self/stat the jail can see",
    stage: 'jail',
    plan: () => one(sh('cat /proc/[0-9]*/environ; echo; ls /proc | grep -E "^[0-9]+$"; cat /proc/self/stat')),
    verify: (result) => {
      const stdout = (result.outputs.attempt as { stdout: string }).stdout;
      expect(stdout).not.toContain('hunter2');
      expect(stdout).not.toContain(SECRET);
      const pids = stdout
        .split('\n')
        .filter((line) => /^\d+$/.test(line))
        .map(Number);
      expect(pids).not.toContain(process.pid);
      expect(Math.max(...pids)).toBeLessThan(20);
    },
    contained: 'only the jail processes (pids 1, 2, ...) are visible, with the filtered environment',
  },
  // Code execution through arguments of allowed binaries: it runs, inside the jail.
  {
    attempt: "code execution through arguments: git -c alias.x='!cat /etc/shadow; touch <outside>' x",
    stage: 'jail',
    plan: (f) =>
      one(shell('git', { args: ['-c', `alias.x=!cat /etc/shadow; touch ${f.outside}/pwned`, 'x'] })),
    phase: 'failed',
    verify: (_result, error) => {
      expect(error).toContain('/etc/shadow: No such file or directory');
      expect(error).toContain('pwned');
    },
    contained: 'the alias ran in the jail: no /etc/shadow, and the outside directory does not exist there',
  },
  {
    attempt: 'code execution through arguments: find . -exec sh -c "cat /etc/shadow; touch <outside>" ;',
    stage: 'jail',
    plan: (f) =>
      one(
        shell('find', {
          args: [
            '.',
            '-maxdepth',
            '0',
            '-exec',
            'sh',
            '-c',
            `cat /etc/shadow; touch ${f.outside}/pwned`,
            ';',
          ],
        }),
      ),
    verify: (result) => {
      const stderr = (result.outputs.attempt as { stderr: string }).stderr;
      expect(stderr).toContain('/etc/shadow: No such file or directory');
      expect(stderr).toContain('pwned');
    },
    contained: 'the -exec ran in the jail: no /etc/shadow, no outside directory',
  },
  // Writes outside cwd.
  {
    attempt: 'writes outside cwd through an absolute path (sh -c "echo > <outside>/pwned")',
    stage: 'jail',
    plan: (f) => one(sh(`echo pwned > ${f.outside}/pwned`)),
    phase: 'failed',
    verify: (_result, error) => expect(error).toMatch(/nonexistent|No such file/),
    contained: 'the outside directory does not exist in the jail',
  },
  {
    attempt: 'writes into the system (touch /usr/local/taskvisor-pwned)',
    stage: 'jail',
    plan: () => one(shell('touch', { args: ['/usr/local/taskvisor-pwned'] })),
    phase: 'failed',
    verify: (_result, error) => {
      expect(error).toContain('Read-only file system');
      expect(fs.existsSync('/usr/local/taskvisor-pwned')).toBe(false);
    },
    contained: 'the system directories are read-only (Read-only file system)',
  },
  {
    attempt: 'writes to /tmp (the jail has its own)',
    stage: 'jail',
    plan: (f) =>
      one(sh(`echo secret > /tmp/${path.basename(f.root)}-x && cat /tmp/${path.basename(f.root)}-x`)),
    verify: (result, _error, f) => {
      expect((result.outputs.attempt as { stdout: string }).stdout).toBe('secret\n');
      expect(fs.existsSync(`/tmp/${path.basename(f.root)}-x`)).toBe(false);
    },
    contained: "written to the jail's private /tmp, gone with it",
  },
  // Daemons: the jail's PID namespace ends with the command.
  {
    attempt: 'a daemon: setsid sleep 4301 outlives the step',
    stage: 'jail',
    plan: () => one(sh('setsid sleep 4301 </dev/null >/dev/null 2>&1 & echo started')),
    verify: async () => {
      await pollUntil(() => liveProcessesRunning(['sleep', '4301']).length === 0, 'the daemon is gone');
    },
    contained: 'killed with the PID namespace when the command exited',
  },
  {
    attempt: 'a daemon holding the step stdout open (setsid sleep 4302 &, exit 0)',
    stage: 'jail',
    plan: () => one(sh('setsid sleep 4302 & echo started')),
    verify: async (result) => {
      // The manual clock never moved: the step did not wait for its timeout.
      expect((result.outputs.attempt as { stdout: string }).stdout).toBe('started\n');
      await pollUntil(() => liveProcessesRunning(['sleep', '4302']).length === 0, 'the daemon is gone');
    },
    contained: 'the step ends when the command does; the daemon dies with the jail',
  },
  {
    attempt: 'a daemon outliving cancel (setsid sleep 4303 & sleep 4304, then cancel)',
    stage: 'jail',
    plan: () => one(sh('setsid sleep 4303 </dev/null >/dev/null 2>&1 & sleep 4304')),
    drive: async (f, runId) => {
      await untilSpawned(f.sv, runId, 'attempt');
      await pollUntil(() => liveProcessesRunning(['sleep', '4303']).length === 1, 'the daemon runs');
      await f.sv.cancel(runId, { reason: 'enough' });
    },
    phase: 'cancelled',
    verify: async () => {
      await pollUntil(
        () =>
          liveProcessesRunning(['sleep', '4303']).length + liveProcessesRunning(['sleep', '4304']).length ===
          0,
        'the daemon and the command are gone',
      );
    },
    contained: 'cancel ends the command; the daemon dies with the PID namespace',
  },
  {
    attempt: 'a daemon outliving the supervisor (SIGKILL of the supervisor process)',
    stage: 'jail',
    custom: async (f) => {
      let jailPid: number | undefined;
      const child = runTs('test/sandbox/jail-worker.ts', [f.root, '4305'], (line) => {
        if (line.startsWith('jail ')) jailPid = Number(line.slice(5));
      });
      // The worker is a fresh node process (tsx): give it time to start on a busy machine.
      await pollUntil(() => liveProcessesRunning(['sleep', '4305']).length === 1, 'the daemon runs', 25_000);
      expect(jailPid).toBeGreaterThan(0);
      child.process.kill('SIGKILL');
      await child.exited;
      await pollUntil(
        () =>
          liveProcessesRunning(['sleep', '4305']).length + liveProcessesRunning(['sleep', '4306']).length ===
          0,
        'the daemon and the command are gone',
      );
      return 'the jail dies with its supervisor (--die-with-parent), the daemon with the PID namespace';
    },
  },
  // The cwd race: another process swaps the step's cwd for a symlink to /etc, over and over.
  {
    attempt: 'a cwd race: 100 steps in work/ while another process swaps it for a symlink to /etc',
    stage: 'jail',
    custom: async (f) => {
      const work = path.join(f.root, 'work');
      fs.mkdirSync(work);
      const swapper = runTs('test/sandbox/cwd-swapper.ts', [f.root]);
      harness.defer(() => swapper.process.kill('SIGKILL'));
      const sv = await harness.open({
        ...f.options,
        db: path.join(harness.tempDir(), 'race.db'),
        concurrency: { runs: 1, stepsPerRun: 4 },
      });
      const steps = Array.from({ length: 100 }, (_, index) => ({
        id: `s${index}`,
        action: shell('pwd', { args: ['-P'], cwd: 'work' }),
      }));
      const run = await sv.start({ goal: 'race', plan: { steps } });
      const result = await run.done;
      swapper.process.kill('SIGKILL');
      const trace = await sv.trace(run.id);
      const ran = Object.values(result.outputs).map((output) => (output as { stdout: string }).stdout);
      for (const stdout of ran) expect([`${work}\n`, `${work}.d\n`]).toContain(stdout);
      const refused = trace.attempts.filter((attempt) => attempt.error !== undefined);
      for (const attempt of refused)
        expect(['SANDBOX_ESCAPE', 'ACTION_FAILED']).toContain(attempt.error?.code);
      expect(ran.length + refused.length).toBe(100);
      return `${ran.length} ran in work/ (the directory that was checked), ${refused.length} refused (SANDBOX_ESCAPE or missing), 0 in /etc`;
    },
  },
  // The network.
  {
    attempt: 'the network: a local HTTP server, without sandbox.network',
    stage: 'jail',
    plan: (f) => one(shell('bash', { args: ['-c', `exec 3<>/dev/tcp/127.0.0.1/${f.port}; cat <&3`] })),
    phase: 'failed',
    verify: (_result, error) => expect(error).toContain('Connection refused'),
    contained: 'a network namespace of its own: the host loopback is not there (Connection refused)',
  },
  // What must keep working in the jail.
  {
    attempt: 'echo hello',
    stage: 'allowed',
    plan: () => one(shell('echo', { args: ['hello'] })),
    verify: (result) =>
      expect(result.outputs.attempt).toMatchObject({ stdout: 'hello\n', isolation: 'jail' }),
    contained: 'prints hello, in the jail',
  },
  {
    attempt: 'a file written in cwd, read by a dependent step',
    stage: 'allowed',
    plan: () => ({
      steps: [
        { id: 'write', action: sh('echo data > out.txt') },
        { id: 'attempt', dependsOn: ['write'], action: shell('cat', { args: ['out.txt'] }) },
      ],
    }),
    verify: (result, _error, f) => {
      expect((result.outputs.attempt as { stdout: string }).stdout).toBe('data\n');
      expect(fs.readFileSync(path.join(f.root, 'out.txt'), 'utf8')).toBe('data\n');
    },
    contained: 'the dependent step reads it; the file is in sandbox.cwd on the host',
  },
  {
    attempt: 'ls of the files in cwd',
    stage: 'allowed',
    plan: (f) => {
      fs.writeFileSync(path.join(f.root, 'a.txt'), 'a');
      fs.mkdirSync(path.join(f.root, 'docs'));
      return one(shell('ls', { args: ['-1'] }));
    },
    verify: (result) => expect((result.outputs.attempt as { stdout: string }).stdout).toBe('a.txt\ndocs\n'),
    contained: 'lists a.txt and docs',
  },
  {
    attempt: 'the network with sandbox.network: true: a local HTTP server',
    stage: 'allowed',
    options: (f) => ({
      ...f.options,
      db: path.join(harness.tempDir(), 'network.db'),
      sandbox: { ...f.options.sandbox!, network: true },
    }),
    plan: (f) =>
      one(
        shell('bash', {
          args: [
            '-c',
            `exec 3<>/dev/tcp/127.0.0.1/${f.port}; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3`,
          ],
        }),
      ),
    verify: (result) =>
      expect((result.outputs.attempt as { stdout: string }).stdout).toContain('hello from the host'),
    contained: 'the answer arrives',
  },
  {
    attempt: 'a CLI agent writing its result in cwd',
    stage: 'allowed',
    options: (f) => ({
      ...f.options,
      db: path.join(harness.tempDir(), 'agent.db'),
      agents: [
        {
          name: 'writer',
          kind: 'cli',
          command: 'sh',
          args: [
            '-c',
            'printf "%s\\n" "$1" > result.txt && cat /etc/shadow 2>&1; echo wrote',
            'sh',
            '{spec}',
          ],
        },
      ],
    }),
    plan: () => one({ kind: 'implement', agent: 'writer', spec: 'the result' }),
    verify: (result, _error, f) => {
      expect(fs.readFileSync(path.join(f.root, 'result.txt'), 'utf8')).toBe('the result\n');
      const output = (result.outputs.attempt as { output: string }).output;
      expect(output).toContain('/etc/shadow: No such file or directory');
      expect(output).toContain('wrote');
    },
    contained: 'result.txt is in sandbox.cwd; the agent, jailed too, finds no /etc/shadow',
  },
];

/** Rows that need the jail: they run it (or check what it keeps working). */
const inJail = (row: Row) => row.stage === 'jail' || row.stage === 'allowed';

let fixture: Fixture;
const results: Array<{ attempt: string; stage: Stage; outcome: string }> = [];
let server: http.Server;
let port = 0;

beforeAll(async () => {
  server = http.createServer((_request, response) => response.end('hello from the host\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(async () => {
  const base = harness.tempDir();
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  const bin = path.join(base, 'bin');
  for (const dir of [root, outside, bin]) fs.mkdirSync(dir);
  const canary = path.join(outside, 'canary');
  fs.writeFileSync(canary, 'still here');
  process.env[SECRET] = 'hunter2';
  const clock = new ManualClock(1_000_000);
  const options: SupervisorOptions = {
    db: path.join(base, 'runs.db'),
    clock,
    ids: sequentialIds(),
    sandbox: {
      allow: [...ALLOW, process.execPath],
      cwd: root,
      maxOutputBytes: CAP,
      // The jail where the jail tests run (CI always); elsewhere the policy rows run without it.
      isolation: JAIL ? 'jail' : 'none',
    },
  };
  // The sandbox PATH is captured when the supervisor opens: put the (empty) bin first.
  const parentPath = process.env.PATH;
  process.env.PATH = `${bin}${path.delimiter}${parentPath ?? ''}`;
  let sv: Supervisor;
  try {
    sv = await harness.open(options);
  } finally {
    process.env.PATH = parentPath;
  }
  harness.defer(() => {
    delete process.env[SECRET];
  });
  fixture = { root, outside, canary, bin, sv, clock, options, port };
});

afterAll(() => {
  const width = Math.max(...results.map((row) => row.attempt.length));
  const lines = results.map(
    (row) => `| ${row.attempt.padEnd(width)} | ${row.stage.padEnd(16)} | ${row.outcome} |`,
  );
  console.log(
    [
      '',
      'Sandbox escape table',
      `| ${'attempt'.padEnd(width)} | ${'stopped at'.padEnd(16)} | result |`,
      ...lines,
      '',
    ].join('\n'),
  );
});

async function attempt(row: Row): Promise<void> {
  const f = fixture;
  let outcome: string;
  if (row.custom) {
    outcome = `contained: ${await row.custom(f)}`;
  } else if (row.stage === 'createSupervisor') {
    const error = await refusal(() => harness.open(row.options!(f)), row.code!);
    for (const value of row.names!(f)) expect(error.message).toContain(value);
    outcome = `${error.code}: ${error.message}`;
  } else if (row.stage === 'plan validation') {
    const plan = row.plan!(f);
    const error = await refusal(() => f.sv.start({ goal: row.attempt, plan }), row.code!);
    for (const value of row.names!(f)) expect(error.message).toContain(value);
    expect(await f.sv.list()).toEqual([]);
    outcome = `${error.code}: ${error.message}`;
  } else if (inJail(row)) {
    const sv = row.options ? await harness.open(row.options(f)) : f.sv;
    const run = await sv.start({ goal: row.attempt, plan: row.plan!(f) });
    if (row.drive) await row.drive({ ...f, sv }, run.id);
    const result = await run.done;
    const failure = (await sv.trace(run.id)).attempts.find((a) => a.error !== undefined)?.error;
    expect(result.phase, failure?.message).toBe(row.phase ?? 'completed');
    await row.verify!(result, failure?.message ?? '', f);
    outcome = `${row.stage === 'jail' ? 'contained' : 'works'}: ${row.contained}`;
  } else {
    const run = await f.sv.start({ goal: row.attempt, plan: row.plan!(f) });
    if (row.drive) await row.drive(f, run.id);
    const result = await run.done;
    if (row.stage === 'contained') {
      expect(result.phase).toBe('completed');
      row.check!(result.outputs, f);
      outcome = `contained: ${row.contained ?? 'see the check'}`;
    } else {
      expect(result.phase).toBe('failed');
      const attempts = (await f.sv.trace(run.id)).attempts.filter((a) => a.stepId === 'attempt');
      expect(attempts.map((a) => a.error?.code)).toEqual([row.code]);
      const message = attempts[0]!.error!.message;
      for (const value of row.names!(f)) expect(message).toContain(value);
      outcome = `${row.code}: ${message}`;
    }
  }
  // Nothing ran that could touch the world outside the sandbox.
  expect(fs.readFileSync(f.canary, 'utf8')).toBe('still here');
  expect(fs.readdirSync(f.outside)).toEqual(['canary']);
  expect(fs.readdirSync(f.root)).not.toContain('pwned');
  results.push({ attempt: row.attempt, stage: row.stage, outcome: outcome.replace(/\n\s*/g, ' ') });
}

// Tuples with %s keep the full sentence as the test name.
describe('the sandbox escape table', () => {
  it.each(rows.filter((row) => !inJail(row)).map((row) => [row.attempt, row] as const))('%s', (_name, row) =>
    attempt(row),
  );
});

describe.runIf(JAIL)('the sandbox escape table, in the jail', () => {
  it.each(rows.filter(inJail).map((row) => [row.attempt, row] as const))('%s', (_name, row) => attempt(row));
});
