import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { isTaskvisorError } from '../../src/errors.js';
import { resolveSandbox } from '../../src/sandbox/policy.js';
import { runShell } from '../../src/sandbox/run-shell.js';
import { ISOLATIONS, reportJailSkip } from './jail-support.js';
import { useTempDirs } from './temp-dirs.js';

const tempDir = useTempDirs();
reportJailSkip('runShell');

describe.each(ISOLATIONS)('runShell (isolation %s)', (isolation) => {
  it('resolves with the exit code, the output, the resolved binary and the args', async () => {
    const sandbox = resolveSandbox({ allow: ['sh'], cwd: tempDir(), isolation });
    const clock = new ManualClock(1_000);
    const result = await runShell(
      { command: 'sh', args: ['-c', 'echo out; echo err >&2', 'ignored'] },
      sandbox,
      {
        clock,
      },
    );
    expect(result).toEqual({
      exitCode: 0,
      stdout: 'out\n',
      stderr: 'err\n',
      stdoutTruncated: false,
      stderrTruncated: false,
      durationMs: 0, // the manual clock did not move
      command: fs.realpathSync('/usr/bin/sh'),
      args: ['-c', 'echo out; echo err >&2', 'ignored'],
      isolation,
    });
    expect(clock.pending).toBe(0); // the timeout was disarmed
  });

  it('passes every argument as one argv entry, spaces and quotes included', async () => {
    const sandbox = resolveSandbox({ allow: ['sh'], cwd: tempDir(), isolation });
    const result = await runShell(
      {
        command: 'sh',
        args: ['-c', 'for a in "$@"; do echo "[$a]"; done', 'sh', 'two words', '"quoted"', ''],
      },
      sandbox,
      { clock: new ManualClock() },
    );
    expect(result.stdout).toBe('[two words]\n["quoted"]\n[]\n');
  });

  // In the jail argv[0] is a path (the binary, or a link to it named like the step's command):
  // a multi-call binary still sees the name it was called by.
  it('runs in the confined cwd and keeps argv[0] named as the step named the command', async () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'pkg'));
    const sandbox = resolveSandbox({ allow: ['sh'], cwd: root, isolation });
    const result = await runShell({ command: 'sh', args: ['-c', 'pwd; echo "$0"'], cwd: 'pkg' }, sandbox, {
      clock: new ManualClock(),
    });
    const [cwd, argv0] = result.stdout.trimEnd().split('\n');
    expect(cwd).toBe(path.join(root, 'pkg'));
    if (isolation === 'none') expect(argv0).toBe('sh');
    else expect(path.basename(argv0!)).toBe('sh');
  });

  it('runs an allowed script by a path relative to the step cwd', async () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'tools'));
    const script = path.join(root, 'tools', 'hello');
    fs.writeFileSync(script, '#!/bin/sh\necho "hello from $(basename "$PWD")"\n', { mode: 0o755 });
    const sandbox = resolveSandbox({ allow: [script], cwd: root, isolation });
    const result = await runShell({ command: './hello', cwd: 'tools' }, sandbox, {
      clock: new ManualClock(),
    });
    expect(result).toMatchObject({ stdout: 'hello from tools\n', command: script });
  });

  it('gives the child no stdin', async () => {
    const sandbox = resolveSandbox({ allow: ['sh'], cwd: tempDir(), isolation });
    const result = await runShell({ command: 'sh', args: ['-c', 'cat; echo "read: $?"'] }, sandbox, {
      clock: new ManualClock(),
    });
    expect(result.stdout).toBe('read: 0\n');
  });

  it("lets the step's env override a passed-through variable", async () => {
    const sandbox = resolveSandbox({ allow: ['sh'], cwd: tempDir(), env: ['PATH', 'HOME'], isolation });
    const result = await runShell(
      { command: 'sh', args: ['-c', 'echo "$HOME"'], env: { HOME: '/elsewhere' } },
      sandbox,
      {
        clock: new ManualClock(),
      },
    );
    expect(result.stdout).toBe('/elsewhere\n');
  });

  it('rejects an argument with a NUL byte before starting anything', async () => {
    const sandbox = resolveSandbox({ allow: ['sh'], cwd: tempDir(), isolation });
    const error: unknown = await runShell({ command: 'sh', args: ['-c', 'a\0b'] }, sandbox).catch(
      (caught: unknown) => caught,
    );
    expect(isTaskvisorError(error, 'INVALID_OPTION')).toBe(true);
    expect((error as Error).message).toContain('args[1]');
  });
});
