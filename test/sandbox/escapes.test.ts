import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTaskvisorError, type TaskvisorErrorCode } from '../../src/errors.js';
import { ManualClock } from '../../src/clock.js';
import { resolveSandbox, type ResolvedSandbox } from '../../src/sandbox/policy.js';
import { runShell, type ShellResult, type ShellSpec } from '../../src/sandbox/run-shell.js';
import { useTempDirs } from './temp-dirs.js';

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
