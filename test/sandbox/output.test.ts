import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { isTaskvisorError, type TaskvisorError, type TaskvisorErrorCode } from '../../src/errors.js';
import { OutputCapture } from '../../src/sandbox/output-capture.js';
import { resolveSandbox, type SandboxOptions } from '../../src/sandbox/policy.js';
import { runShell, type ShellSpec } from '../../src/sandbox/run-shell.js';
import { ISOLATIONS, reportJailSkip } from './jail-support.js';
import { useTempDirs } from './temp-dirs.js';

const tempDir = useTempDirs();
reportJailSkip('output capture');

async function failure(code: TaskvisorErrorCode, run: Promise<unknown>): Promise<TaskvisorError> {
  const error: unknown = await run.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isTaskvisorError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  return error as TaskvisorError;
}

const sh = (script: string): ShellSpec => ({ command: 'sh', args: ['-c', script] });

describe.each(ISOLATIONS)('under isolation %s', (isolation) => {
  function sandboxWith(options: Partial<SandboxOptions> = {}) {
    return resolveSandbox({ allow: ['sh'], cwd: tempDir(), isolation, ...options });
  }

  describe('output capture', () => {
    it('truncates stdout and stderr beyond the cap, each on its own, and marks it', async () => {
      const sandbox = sandboxWith({ maxOutputBytes: 1000 });
      const result = await runShell(sh('yes abcdefghi | head -c 5000; yes err | head -c 3000 >&2'), sandbox, {
        clock: new ManualClock(),
      });
      expect(result.stdoutTruncated).toBe(true);
      expect(result.stderrTruncated).toBe(true);
      expect(result.stdout).toBe(`${'abcdefghi\n'.repeat(100)}\n[... truncated 4000 bytes]`);
      expect(result.stderr).toBe(`${'err\n'.repeat(250)}\n[... truncated 2000 bytes]`);
    });

    it('keeps output of exactly the cap whole and unmarked', async () => {
      const sandbox = sandboxWith({ maxOutputBytes: 1000 });
      const result = await runShell(sh('yes abcdefghi | head -c 1000'), sandbox, {
        clock: new ManualClock(),
      });
      expect(result.stdoutTruncated).toBe(false);
      expect(result.stdout).toBe('abcdefghi\n'.repeat(100));
    });

    it('keeps draining a child that writes far more than the cap, so it never blocks on a full pipe', async () => {
      const sandbox = sandboxWith({ maxOutputBytes: 16 });
      const result = await runShell(sh('head -c 5000000 /dev/zero | tr "\\000" x'), sandbox, {
        clock: new ManualClock(),
      });
      expect(result.stdout).toBe(`${'x'.repeat(16)}\n[... truncated 4999984 bytes]`);
    });

    it('never cuts a multi-byte character in half', () => {
      const capture = new OutputCapture(4);
      capture.push(Buffer.from('abcé!')); // é is two bytes: the cap falls inside it
      expect(capture.text()).toBe('abc\n[... truncated 3 bytes]');
    });

    // Under the policy alone a background child keeps the step open while it holds a pipe; in the
    // jail it ends with the command (the jail's PID namespace goes away), so the step ends at once.
    // Each mode registers only the behaviour it has (no skipped test in either).
    const inNoneMode = isolation === 'none' ? it : () => undefined;
    const inJail = isolation === 'jail' ? it : () => undefined;
    inNoneMode('waits for every pipe to close, even when the direct child exits first', async () => {
      const sandbox = sandboxWith();
      const result = await runShell(sh('echo start; (sleep 0.2; echo late) &'), sandbox, {
        clock: new ManualClock(),
      });
      expect(result.stdout).toBe('start\nlate\n');
    });

    inJail('ends a background child with the command instead of waiting for its pipe', async () => {
      const sandbox = sandboxWith();
      const result = await runShell(sh('echo start; (sleep 1000; echo late) &'), sandbox, {
        clock: new ManualClock(),
      });
      expect(result.stdout).toBe('start\n');
    });
  });

  describe('failures', () => {
    it('rejects a non-zero exit with SHELL_FAILED naming the code and the last stderr lines, and keeps the full result', async () => {
      const sandbox = sandboxWith();
      const error = await failure(
        'SHELL_FAILED',
        runShell(sh('echo partial; for i in $(seq 1 15); do echo "line $i" >&2; done; exit 3'), sandbox, {
          clock: new ManualClock(),
        }),
      );
      expect(error.message).toContain('exited with code 3');
      const quoted = error.message.slice(error.message.indexOf('last stderr lines:'));
      expect(quoted).toBe(
        `last stderr lines:\n${Array.from({ length: 10 }, (_, index) => `  line ${index + 6}`).join('\n')}`,
      );
      expect(error.details).toMatchObject({
        exitCode: 3,
        signal: null,
        stdout: 'partial\n',
        stderrTruncated: false,
        requested: 'sh',
        args: ['-c', expect.stringContaining('exit 3')],
      });
      expect(error.details.stderr).toContain('line 1\nline 2\n');
    });

    it('quotes the real last stderr lines even when stderr was truncated', async () => {
      const sandbox = sandboxWith({ maxOutputBytes: 10 });
      const error = await failure(
        'SHELL_FAILED',
        runShell(sh('yes noise | head -n 20000 >&2; echo "the real reason" >&2; exit 1'), sandbox, {
          clock: new ManualClock(),
        }),
      );
      expect(error.message).toMatch(/ {2}the real reason$/);
      expect(error.details.stderrTruncated).toBe(true);
    });

    it('names the signal when the child is killed by one', async () => {
      const sandbox = sandboxWith();
      const error = await failure(
        'SHELL_FAILED',
        runShell(sh('kill -KILL $$'), sandbox, { clock: new ManualClock() }),
      );
      expect(error.message).toContain('was killed by signal SIGKILL');
      expect(error.details).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    });

    it('refuses a missing binary clearly, without starting anything', async () => {
      const sandbox = sandboxWith();
      const error = await failure(
        'SHELL_NOT_ALLOWED',
        runShell({ command: 'taskvisor-no-such-binary' }, sandbox, { clock: new ManualClock() }),
      );
      expect(error.message).toContain(
        'Shell command "taskvisor-no-such-binary" was not found on the sandbox PATH',
      );
    });
  });
});
