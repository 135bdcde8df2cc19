/**
 * The escape table: every way a plan might try to get out of the shell sandbox, run through a
 * real supervisor (plan validation, then the runtime's own checks, then real child processes),
 * with the stage that refuses it and the message it gets. The table is printed at the end of
 * the file's run, for the release notes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { TaskvisorErrorCode } from '../../src/errors.js';
import type { PlanInput } from '../../src/model/plan.js';
import type { Supervisor, SupervisorOptions } from '../../src/supervisor.js';
import { liveProcessesInGroup, pollUntil } from '../sandbox/process-group.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { refusal, untilSpawned } from './helpers.js';

const harness = useSupervisorHarness();
const RM = fs.realpathSync('/usr/bin/rm');
const SECRET = 'TASKVISOR_ESCAPE_SECRET';
const CAP = 64 * 1024;

interface Fixture {
  root: string;
  outside: string;
  canary: string;
  /** First on the sandbox PATH; empty when the supervisor opens. */
  bin: string;
  sv: Supervisor;
  clock: ManualClock;
  options: SupervisorOptions;
}

type Stage = 'plan validation' | 'run' | 'createSupervisor' | 'contained';

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
  /** Drives a run that needs the clock (timeouts). */
  drive?: (f: Fixture, runId: string) => Promise<void>;
}

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
];

let fixture: Fixture;
const results: Array<{ attempt: string; stage: Stage; outcome: string }> = [];

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
    sandbox: { allow: ['echo', 'env', 'sh', 'sleep', 'head'], cwd: root, maxOutputBytes: CAP },
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
  fixture = { root, outside, canary, bin, sv, clock, options };
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
      `| ${'attempt'.padEnd(width)} | ${'refused at'.padEnd(16)} | result |`,
      ...lines,
      '',
    ].join('\n'),
  );
});

describe('the sandbox escape table', () => {
  it.each(rows.map((row) => [row.attempt, row] as const))('%s', async (_name, row) => {
    const f = fixture;
    let outcome: string;
    if (row.stage === 'createSupervisor') {
      const error = await refusal(() => harness.open(row.options!(f)), row.code!);
      for (const value of row.names!(f)) expect(error.message).toContain(value);
      outcome = `${error.code}: ${error.message}`;
    } else if (row.stage === 'plan validation') {
      const plan = row.plan!(f);
      const error = await refusal(() => f.sv.start({ goal: row.attempt, plan }), row.code!);
      for (const value of row.names!(f)) expect(error.message).toContain(value);
      expect(await f.sv.list()).toEqual([]);
      outcome = `${error.code}: ${error.message}`;
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
    results.push({ attempt: row.attempt, stage: row.stage, outcome: outcome.replace(/\n\s*/g, ' ') });
  });
});
