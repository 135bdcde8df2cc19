/**
 * Escape attempts against `runShell` itself: what the policy refuses before anything runs
 * (under either isolation), what it contains, and — where the jail runs (always in CI) — what
 * the jail contains: the cwd race, descriptors, the environment of the jail's PID 1, the
 * paths the jail binds and how, and daemons on cancel.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTaskvisorError, type TaskvisorErrorCode } from '../../src/errors.js';
import { ManualClock } from '../../src/clock.js';
import { resolveSandbox, type ResolvedSandbox, type SandboxOptions } from '../../src/sandbox/policy.js';
import { runShell, type ShellSpec } from '../../src/sandbox/run-shell.js';
import type { ShellResult } from '../../src/sandbox/shell-outcome.js';
import { spawn } from 'node:child_process';
import { REPO, runTs } from '../support/processes.js';
import { ISOLATIONS, JAIL, reportJailSkip } from './jail-support.js';
import { liveProcessesRunning, pollUntil } from './process-group.js';
import { useTempDirs } from './temp-dirs.js';

reportJailSkip('runShell escape attempts');

const RM = fs.realpathSync('/usr/bin/rm');
const SECRET = 'TASKVISOR_TEST_SECRET';

interface Fixture {
  /** The sandbox root. */
  root: string;
  /** A sibling of the root, outside the sandbox; holds a canary file no attempt may touch. */
  outside: string;
  canary: string;
  /** A directory first on the sandbox PATH, empty when the sandbox is set up. */
  bin: string;
  sandbox: ResolvedSandbox;
}

const tempDir = useTempDirs();
let fixture: Fixture;

beforeEach(() => {
  const base = tempDir('taskvisor-escape-');
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  const bin = path.join(base, 'bin');
  for (const dir of [root, outside, bin]) fs.mkdirSync(dir);
  const canary = path.join(outside, 'canary');
  fs.writeFileSync(canary, 'still here');
  process.env[SECRET] = 'hunter2';
  const sandbox = resolveSandbox(
    { allow: ['echo', 'env', 'sh', 'sleep'], cwd: root },
    { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` },
  );
  fixture = { root, outside, canary, bin, sandbox };
});

afterEach(() => {
  delete process.env[SECRET];
});

function run(spec: ShellSpec, f: Fixture = fixture): Promise<ShellResult> {
  return runShell(spec, f.sandbox, { clock: new ManualClock() });
}

interface Refusal {
  attempt: string;
  code: TaskvisorErrorCode;
  /** Plants whatever the attempt needs (after the sandbox was set up) and runs it. */
  run: (f: Fixture) => Promise<unknown>;
  /** Values the message must name. */
  names: (f: Fixture) => string[];
}

const refusals: Refusal[] = [
  {
    attempt: 'a binary not in sandbox.allow, by name',
    code: 'SHELL_NOT_ALLOWED',
    run: (f) => run({ command: 'rm', args: ['-f', f.canary] }),
    names: () => ['"rm"', RM, 'sandbox.allow', '"echo"', 'add it to sandbox.allow'],
  },
  {
    attempt: 'an explicit absolute path to a disallowed binary',
    code: 'SHELL_NOT_ALLOWED',
    run: (f) => run({ command: '/usr/bin/rm', args: ['-f', f.canary] }),
    names: () => ['"/usr/bin/rm"', RM, 'add it to sandbox.allow'],
  },
  {
    attempt: 'an explicit path that traverses to a disallowed binary',
    code: 'SHELL_NOT_ALLOWED',
    run: (f) => run({ command: '/usr/bin/../bin/rm', args: ['-f', f.canary] }),
    names: () => ['"/usr/bin/../bin/rm"', `resolves to "${RM}"`],
  },
  {
    attempt: 'a path relative to the sandbox cwd that climbs out to a disallowed binary',
    code: 'SHELL_NOT_ALLOWED',
    run: (f) => run({ command: path.relative(f.root, '/usr/bin/rm'), args: ['-f', f.canary] }),
    names: (f) => [`"${path.relative(f.root, '/usr/bin/rm')}"`, RM],
  },
  {
    attempt: 'a symlink on the sandbox PATH named like an allowed binary but pointing at a disallowed one',
    code: 'SHELL_NOT_ALLOWED',
    run: (f) => {
      fs.symlinkSync('/usr/bin/rm', path.join(f.bin, 'echo'));
      return run({ command: 'echo', args: [f.canary] });
    },
    names: (f) => ['"echo"', RM, path.join(f.bin, 'echo'), 'A binary named "echo" is allowed'],
  },
  {
    attempt: 'a symlink given by path, named like an allowed binary but pointing at a disallowed one',
    code: 'SHELL_NOT_ALLOWED',
    run: (f) => {
      fs.symlinkSync('/usr/bin/rm', path.join(f.root, 'echo'));
      return run({ command: './echo', args: [f.canary] });
    },
    names: (f) => ['"./echo"', RM, path.join(f.root, 'echo')],
  },
  {
    attempt: 'a cwd that climbs out of the root with ..',
    code: 'SANDBOX_ESCAPE',
    run: () => run({ command: 'sh', args: ['-c', ': > pwned'], cwd: '../outside' }),
    names: (f) => ['"../outside"', f.outside, f.root],
  },
  {
    attempt: 'a cwd that climbs out after entering a subdirectory (sub/../../outside)',
    code: 'SANDBOX_ESCAPE',
    run: (f) => {
      fs.mkdirSync(path.join(f.root, 'sub'));
      return run({ command: 'sh', args: ['-c', ': > pwned'], cwd: 'sub/../../outside' });
    },
    names: (f) => ['"sub/../../outside"', f.outside, f.root],
  },
  {
    attempt: 'an absolute cwd outside the root',
    code: 'SANDBOX_ESCAPE',
    run: (f) => run({ command: 'sh', args: ['-c', ': > pwned'], cwd: f.outside }),
    names: (f) => [`"${f.outside}"`, f.root],
  },
  {
    attempt: 'a symlinked cwd inside the root pointing outside',
    code: 'SANDBOX_ESCAPE',
    run: (f) => {
      fs.symlinkSync(f.outside, path.join(f.root, 'link'));
      return run({ command: 'sh', args: ['-c', ': > pwned'], cwd: 'link' });
    },
    names: (f) => ['"link"', f.outside, f.root],
  },
  {
    attempt: 'a missing directory behind a symlink pointing outside',
    code: 'SANDBOX_ESCAPE',
    run: (f) => {
      fs.symlinkSync(f.outside, path.join(f.root, 'link'));
      return run({ command: 'sh', args: ['-c', ': > pwned'], cwd: 'link/new' });
    },
    names: (f) => ['"link/new"', path.join(f.outside, 'new'), f.root],
  },
  {
    attempt: 'a .. after a symlinked directory (resolved like the kernel does, not lexically)',
    code: 'SANDBOX_ESCAPE',
    run: (f) => {
      fs.mkdirSync(path.join(f.outside, 'deep'));
      fs.symlinkSync(path.join(f.outside, 'deep'), path.join(f.root, 'link'));
      return run({ command: 'sh', args: ['-c', ': > pwned'], cwd: 'link/..' });
    },
    names: (f) => ['"link/.."', f.outside, f.root],
  },
  {
    attempt: 'a dynamic-loader variable (LD_PRELOAD) in the step env',
    code: 'SANDBOX_ESCAPE',
    run: (f) => run({ command: 'echo', args: ['hi'], env: { LD_PRELOAD: path.join(f.outside, 'evil.so') } }),
    names: () => ['"LD_PRELOAD"'],
  },
  ...(
    [
      ['LD_LIBRARY_PATH', '/tmp/evil'],
      ['BASH_ENV', '$(touch pwned)'],
      ['ENV', '/tmp/evil.sh'],
      ['BASH_FUNC_echo%%', '() { touch pwned; }'],
      ['SHELLOPTS', 'xtrace'],
      ['NODE_OPTIONS', '--require /tmp/evil.js'],
      ['NODE_PATH', '/tmp/evil'],
      ['GIT_CONFIG_COUNT', '1'],
      ['GIT_CONFIG_KEY_0', 'core.pager'],
      ['GIT_DIR', '/tmp/planted/.git'],
      ['GIT_SSH_COMMAND', 'touch pwned'],
      ['NPM_CONFIG_SCRIPT_SHELL', '/tmp/evil.sh'],
      ['PYTHONSTARTUP', '/tmp/evil.py'],
      ['PERL5OPT', '-Mevil'],
      ['LESSOPEN', '|touch pwned'],
      ['JAVA_TOOL_OPTIONS', '-javaagent:/tmp/evil.jar'],
    ] as const
  ).map(([name, value]): Refusal => ({
    attempt: `an environment gadget in the step env (${name})`,
    code: 'SANDBOX_ESCAPE',
    run: () => run({ command: 'echo', args: ['hi'], env: { [name]: value } }),
    names: () => [`"${name}"`, "Remove it from the step's env"],
  })),
  {
    attempt: 'a PATH into the sandbox root (a planted gzip for zcat)',
    code: 'SANDBOX_ESCAPE',
    run: (f) => run({ command: 'echo', env: { PATH: `${f.root}:/usr/bin` } }),
    names: (f) => ['"PATH"', `"${f.root}"`, 'holds no allowed binary'],
  },
  {
    attempt: 'a PATH with an empty entry (the current directory)',
    code: 'SANDBOX_ESCAPE',
    run: () => run({ command: 'echo', env: { PATH: ':/usr/bin' } }),
    names: () => ['"PATH"', 'an empty entry'],
  },
];

interface Containment {
  attempt: string;
  spec: (f: Fixture) => ShellSpec;
  check: (result: ShellResult, f: Fixture) => void;
}

const containments: Containment[] = [
  {
    attempt: 'a parent environment variable (TASKVISOR_TEST_SECRET) is not visible, the step env is',
    spec: () => ({ command: 'env', env: { STEP_VAR: 'visible' } }),
    check: (result) => {
      expect(process.env[SECRET]).toBe('hunter2'); // the parent does have it
      expect(result.stdout).not.toContain(SECRET);
      expect(result.stdout).not.toContain('hunter2');
      expect(result.stdout).toContain('STEP_VAR=visible\n');
      const names = result.stdout
        .trim()
        .split('\n')
        .map((line) => line.slice(0, line.indexOf('=')));
      // Exactly the passed-through names (HOME only if the parent has one) and the step's own
      // (in the jail bubblewrap adds PWD, the cwd it started the command in).
      const expected = [
        'PATH',
        'STEP_VAR',
        ...(process.env.HOME === undefined ? [] : ['HOME']),
        ...(result.isolation === 'jail' ? ['PWD'] : []),
      ];
      expect(names.sort()).toEqual(expected.sort());
    },
  },
  {
    attempt: "a PATH of the allowed binaries' directories is fine",
    spec: () => ({ command: 'sh', args: ['-c', 'echo "$PATH"'], env: { PATH: '/usr/bin' } }),
    check: (result) => expect(result.stdout).toBe('/usr/bin\n'),
  },
  {
    attempt: 'shell metacharacters in args are passed literally, nothing is interpreted',
    spec: () => ({
      command: 'echo',
      args: ['$(id)', ';', '&&', '`id`', '|', 'cat', '>', 'pwned', '$HOME', '*'],
    }),
    check: (result, f) => {
      expect(result.stdout).toBe('$(id) ; && `id` | cat > pwned $HOME *\n');
      expect(fs.readdirSync(f.root)).toEqual([]);
    },
  },
];

describe('sandbox escape attempts', () => {
  // Tuples with %s keep the full sentence as the test name ($field interpolation would quote and cut it).
  it.each(refusals.map((row) => [`${row.attempt}, with ${row.code}`, row] as const))(
    'refuses %s',
    async (_name, { code, run: attempt, names }) => {
      const error: unknown = await attempt(fixture).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isTaskvisorError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
      for (const value of names(fixture)) expect((error as Error).message).toContain(value);
      // Nothing ran: the canary survives and nothing was written outside.
      expect(fs.readFileSync(fixture.canary, 'utf8')).toBe('still here');
      expect(fs.readdirSync(fixture.outside).filter((name) => name !== 'deep')).toEqual(['canary']);
    },
  );

  it.each(containments.map((row) => [row.attempt, row] as const))(
    'contains it: %s',
    async (_name, { spec, check }) => {
      const result = await run(spec(fixture));
      expect(result.exitCode).toBe(0);
      check(result, fixture);
    },
  );
});

describe.each(ISOLATIONS)('the cwd race (isolation %s)', (isolation) => {
  // Another process swaps the step's cwd for a symlink to /etc and back as fast as it can: every
  // step runs in the directory that was checked (renamed aside mid-run at worst) or is refused.
  it('never runs a step anywhere but the directory that was checked', async () => {
    const f = fixture;
    const work = path.join(f.root, 'work');
    fs.mkdirSync(work);
    const sandbox = resolveSandbox({ allow: ['pwd'], cwd: f.root, isolation });
    const swapper = runTs('test/sandbox/cwd-swapper.ts', [f.root]);
    const where: Record<string, number> = {};
    try {
      const steps = isolation === 'jail' ? 150 : 500;
      for (let index = 0; index < steps; index++) {
        const outcome = await runShell({ command: 'pwd', args: ['-P'], cwd: 'work' }, sandbox, {
          clock: new ManualClock(),
        }).then(
          (result) => result.stdout,
          (error: unknown) => {
            expect(isTaskvisorError(error), String(error)).toBe(true);
            const code = (error as { code: string }).code;
            expect(['SANDBOX_ESCAPE', 'ACTION_FAILED'], (error as Error).message).toContain(code);
            return code;
          },
        );
        where[outcome] = (where[outcome] ?? 0) + 1;
      }
    } finally {
      swapper.process.kill('SIGKILL');
      await swapper.exited;
    }
    for (const outcome of Object.keys(where)) {
      expect([`${work}\n`, `${work}.d\n`, 'SANDBOX_ESCAPE', 'ACTION_FAILED']).toContain(outcome);
    }
    console.log(`cwd race (isolation ${isolation}): ${JSON.stringify(where)}`);
  }, 60_000);
});

describe.runIf(JAIL)('in the jail', () => {
  function jailed(options: Partial<SandboxOptions> = {}, allow = ['sh']): ResolvedSandbox {
    return resolveSandbox({ allow, cwd: fixture.root, isolation: 'jail', ...options });
  }
  const sh = (script: string, spec: Partial<ShellSpec> = {}): ShellSpec => ({
    command: 'sh',
    args: ['-c', script],
    ...spec,
  });

  it('leaves no descriptor of the supervisor open in the jail: only stdin, stdout, stderr and /dev/null', async () => {
    const result = await runShell(sh('ls -l /proc/$$/fd'), jailed(), { clock: new ManualClock() });
    // "lr-x------ 1 0 0 64 Jan  1 00:00 0 -> /dev/null": the descriptor and what it is.
    const open = result.stdout
      .trim()
      .split('\n')
      .flatMap((line) => {
        const match = / (\d+) -> (.*)$/.exec(line);
        return match ? [[match[1]!, match[2]!] as const] : [];
      });
    expect(open.slice(0, 3).map(([fd]) => fd)).toEqual(['0', '1', '2']);
    for (const [fd, target] of open) expect(target, `fd ${fd}`).toMatch(/^(\/dev\/null|socket:\[\d+\])$/);
  });

  it('replaces a descriptor the supervisor inherited (a directory outside the sandbox) with /dev/null', async () => {
    const f = fixture;
    const outsideFd = fs.openSync(f.outside, 'r');
    try {
      // The worker gets the outside directory on fd 9, without close-on-exec, like an inherited one.
      const stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'pipe', 'pipe'];
      while (stdio.length < 9) stdio.push('ignore');
      stdio.push(outsideFd);
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'test/sandbox/fd-worker.ts', f.root, 'none', 'jail'],
        {
          cwd: REPO,
          stdio,
          env: { ...process.env, NODE_NO_WARNINGS: '1' },
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toBe('none sealed\njail sealed\n');
    } finally {
      fs.closeSync(outsideFd);
    }
  });

  it('runs without any capability and without new privileges, root or not', async () => {
    const result = await runShell(
      sh('grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs)" /proc/self/status'),
      jailed(),
      {
        clock: new ManualClock(),
      },
    );
    expect(result.stdout).toMatch(/CapPrm:\s+0{16}\n/);
    expect(result.stdout).toMatch(/CapEff:\s+0{16}\n/);
    expect(result.stdout).toMatch(/CapBnd:\s+0{16}\n/);
    expect(result.stdout).toMatch(/NoNewPrivs:\s+1\n/);
  });

  it("starts bubblewrap with the filtered environment only: the jail's PID 1 holds no secret", async () => {
    const result = await runShell(sh('tr "\\0" "\\n" < /proc/1/environ'), jailed(), {
      clock: new ManualClock(),
    });
    expect(process.env[SECRET]).toBe('hunter2');
    expect(result.stdout).not.toContain('hunter2');
    expect(result.stdout).not.toContain(SECRET);
  });

  it('binds readPaths read-only and writePaths writable, and nothing else outside the root', async () => {
    const f = fixture;
    const readable = path.join(f.outside, 'docs');
    const writable = path.join(f.outside, 'out');
    fs.mkdirSync(readable);
    fs.mkdirSync(writable);
    fs.writeFileSync(path.join(readable, 'guide.txt'), 'read me');
    const sandbox = jailed({ readPaths: [readable], writePaths: [writable] });
    const result = await runShell(
      sh(
        `cat ${readable}/guide.txt; echo; touch ${readable}/new 2>&1; echo written > ${writable}/result; cat ${f.canary} 2>&1; true`,
      ),
      sandbox,
      { clock: new ManualClock() },
    );
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toBe('read me');
    expect(lines[1]).toContain('Read-only file system');
    expect(lines[2]).toContain('No such file or directory');
    expect(fs.readFileSync(path.join(writable, 'result'), 'utf8')).toBe('written\n');
    expect(fs.existsSync(path.join(readable, 'new'))).toBe(false);
    fs.rmSync(readable, { recursive: true });
    fs.rmSync(writable, { recursive: true });
  });

  it('refuses a readPath that does not exist when the step runs, naming it', async () => {
    const missing = path.join(fixture.outside, 'not-there');
    const error: unknown = await runShell(sh('true'), jailed({ readPaths: [missing] }), {
      clock: new ManualClock(),
    }).catch((caught: unknown) => caught);
    expect(isTaskvisorError(error, 'INVALID_OPTION')).toBe(true);
    expect((error as Error).message).toContain(`sandbox.readPaths[0] "${missing}" does not exist`);
  });

  it('gives HOME an empty private directory, and keeps a symlinked sandbox.cwd reachable by its name', async () => {
    const f = fixture;
    const home = path.join(f.outside, 'home');
    fs.mkdirSync(home);
    fs.writeFileSync(path.join(home, '.secret'), 'token');
    const link = path.join(f.outside, 'work-link');
    fs.symlinkSync(f.root, link);
    const sandbox = resolveSandbox({ allow: ['sh'], cwd: link, isolation: 'jail', env: ['PATH'] });
    const result = await runShell(
      sh(`ls -A "$HOME"; echo "[$HOME]"; pwd; cd ${link} && pwd -P; touch $HOME/x && echo home-writable`, {
        env: { HOME: home },
      }),
      sandbox,
      { clock: new ManualClock() },
    );
    expect(result.stdout).toBe(`[${home}]\n${f.root}\n${f.root}\nhome-writable\n`);
    expect(fs.readdirSync(home)).toEqual(['.secret']);
    fs.rmSync(home, { recursive: true });
    fs.unlinkSync(link);
  });

  it('refuses a sandbox.cwd of / in the jail: it would confine nothing', async () => {
    const sandbox = resolveSandbox({ allow: ['sh'], cwd: '/', isolation: 'jail' });
    const error: unknown = await runShell(sh('true'), sandbox, { clock: new ManualClock() }).catch(
      (caught: unknown) => caught,
    );
    expect(isTaskvisorError(error, 'INVALID_OPTION')).toBe(true);
    expect((error as Error).message).toContain('the whole filesystem');
  });

  it('ends a daemon on cancel: the command is asked to stop, the daemon dies with the PID namespace', async () => {
    const controller = new AbortController();
    const outcome = runShell(sh('setsid sleep 4401 </dev/null >/dev/null 2>&1 & sleep 4402'), jailed(), {
      clock: new ManualClock(),
      signal: controller.signal,
    }).catch((caught: unknown) => caught);
    await pollUntil(() => liveProcessesRunning(['sleep', '4401']).length === 1, 'the daemon runs');
    await pollUntil(() => liveProcessesRunning(['sleep', '4402']).length === 1, 'the command runs');
    controller.abort(new Error('enough'));
    expect(isTaskvisorError(await outcome, 'ABORTED')).toBe(true);
    await pollUntil(
      () =>
        liveProcessesRunning(['sleep', '4401']).length + liveProcessesRunning(['sleep', '4402']).length === 0,
      'both are gone',
    );
  });

  it('runs an allowed binary from outside the system directories (bound as one file)', async () => {
    const f = fixture;
    const tools = path.join(f.outside, 'tools');
    fs.mkdirSync(tools);
    const tool = path.join(tools, 'hello');
    fs.writeFileSync(tool, '#!/bin/sh\necho "hello from $0"\nls "$(dirname "$0")"\n', { mode: 0o755 });
    fs.writeFileSync(path.join(tools, 'other'), 'not bound');
    const result = await runShell({ command: tool }, jailed({}, [tool]), { clock: new ManualClock() });
    expect(result.stdout).toBe(`hello from ${tool}\nhello\n`);
    fs.rmSync(tools, { recursive: true });
  });
});
