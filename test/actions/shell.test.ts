/**
 * The `shell` step kind through a real supervisor: real child processes in a temp sandbox,
 * plan validation by the sandbox's own resolution, tier timeouts on the injected clock, the
 * process group killed on cancel (checked through /proc), and the facts of every run in the
 * audit trail.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { SupervisorOptions } from '../../src/supervisor.js';
import { liveProcessesInGroup, pollUntil } from '../sandbox/process-group.js';

/**
 * The command's processes in a step's group (in the jail the group also holds the jail's PID 1,
 * a bwrap; and, until it execs the command, the jail's start-up check).
 */
const commandProcesses = (pgid: number) => liveProcessesInGroup(pgid).filter((p) => p.comm !== 'bwrap');
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { refusal, untilSpawned, untilStep } from './helpers.js';

const harness = useSupervisorHarness();
const RM = fs.realpathSync('/usr/bin/rm');

async function open(options: Partial<SupervisorOptions> & { allow?: string[] } = {}) {
  const root = harness.tempDir();
  const clock = new ManualClock(1_000_000);
  const { allow, ...rest } = options;
  const sv = await harness.open({
    db: path.join(harness.tempDir(), 'runs.db'),
    clock,
    ids: sequentialIds(),
    sandbox: { allow: allow ?? ['echo', 'sh', 'sleep', 'env'], cwd: root },
    ...rest,
  });
  return { sv, clock, root };
}

describe('shell steps', () => {
  it('runs argv without a shell in the sandbox root and outputs exit code, stdout, stderr and duration', async () => {
    const { sv, root } = await open();
    fs.mkdirSync(path.join(root, 'sub'));
    const run = await sv.start({
      goal: 'echo',
      plan: {
        steps: [
          { id: 'hi', action: { kind: 'shell', command: 'echo', args: ['hello', '$HOME', ';', 'id'] } },
          {
            id: 'where',
            action: { kind: 'shell', command: 'sh', args: ['-c', 'pwd; echo oops >&2'], cwd: 'sub' },
          },
        ],
      },
    });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs.hi).toMatchObject({
      command: 'echo',
      binary: fs.realpathSync('/usr/bin/echo'),
      args: ['hello', '$HOME', ';', 'id'],
      exitCode: 0,
      stdout: 'hello $HOME ; id\n',
      stderr: '',
      stdoutTruncated: false,
    });
    expect(result.outputs.where).toMatchObject({ stdout: `${path.join(root, 'sub')}\n`, stderr: 'oops\n' });
    expect((result.outputs.hi as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(0);
  });

  it('fails the step on a non-zero exit with the exit code and the last stderr lines, and audits command, exit code and duration', async () => {
    const { sv } = await open();
    const run = await sv.start({
      goal: 'fail',
      plan: {
        steps: [
          {
            id: 'bad',
            action: {
              kind: 'shell',
              command: 'sh',
              args: ['-c', 'echo first >&2; echo "no such file" >&2; exit 3'],
            },
          },
          { id: 'after', dependsOn: ['bad'], action: { kind: 'note', output: 'never' } },
        ],
      },
    });
    const result = await run.done;
    expect(result.phase).toBe('failed');
    const [bad, after] = run.view().steps;
    expect(bad?.state).toBe('failed');
    expect(bad?.error).toContain('exited with code 3');
    expect(bad?.error).toContain('last stderr lines:\n  first\n  no such file');
    expect(after).toMatchObject({ state: 'skipped', reason: 'dependency bad failed' });

    const audit = (await sv.trace(run.id)).audit;
    const exited = audit.find((row) => row.action === 'shell.exited');
    expect(exited).toMatchObject({
      stepId: 'bad',
      details: { command: 'sh', exitCode: 3, outcome: 'exited', durationMs: expect.any(Number) },
    });
    expect(audit.find((row) => row.action === 'attempt.failed')).toMatchObject({
      stepId: 'bad',
      details: { attempt: 1, error: { code: 'SHELL_FAILED' } },
    });
    expect(await sv.verifyAudit()).toMatchObject({ ok: true });
  });

  it('rejects a plan whose binary is not allowed, naming the binary, what it resolves to and the allow list', async () => {
    const { sv } = await open({ allow: ['echo'] });
    const error = await refusal(
      () =>
        sv.start({
          goal: 'x',
          plan: { steps: [{ id: 'wipe', action: { kind: 'shell', command: 'rm', args: ['-rf', '/'] } }] },
        }),
      'SHELL_NOT_ALLOWED',
    );
    expect(error.message).toContain('Step "wipe": Shell command "rm"');
    expect(error.message).toContain(RM);
    expect(error.message).toContain('sandbox.allow is ["echo"');
    expect(error.message).toContain('add it to sandbox.allow');
    expect(await sv.list()).toEqual([]);
  });

  it('rejects every shell step when no sandbox is configured', async () => {
    const sv = await harness.open({ db: harness.dbPath() });
    const error = await refusal(
      () =>
        sv.start({ goal: 'x', plan: { steps: [{ id: 'ls', action: { kind: 'shell', command: 'ls' } }] } }),
      'SHELL_NOT_ALLOWED',
    );
    expect(error.message).toContain('sandbox.allow is empty');
    expect(error.message).toContain('createSupervisor({ sandbox: { allow: ["ls"], cwd } })');
  });

  it.each([
    [{ allow: 'git', cwd: '.' }, 'Expected sandbox.allow to be an array of binary names or absolute paths'],
    [
      { allow: ['git'], cwd: '.', timeout: 5 },
      'Unknown sandbox option "timeout" (did you mean "timeoutMs"?)',
    ],
    [{ allow: ['git'], cwd: '.', timeoutMs: { slow: 1 } }, 'Unknown tier "slow" in sandbox.timeoutMs'],
    [['git'], 'sandbox is an object like'],
  ])('refuses a bad sandbox option %j with a message that names the fix', async (sandbox, message) => {
    const error = await refusal(
      () => harness.open({ db: harness.dbPath(), sandbox: sandbox as never }),
      'INVALID_OPTION',
    );
    expect(error.message).toContain(message);
  });

  it('times out by tier on the injected clock (read: 30 s) and kills the process group', async () => {
    const { sv, clock } = await open();
    const run = await sv.start({
      goal: 'slow',
      plan: {
        steps: [
          {
            id: 'slow',
            tier: 'read',
            action: { kind: 'shell', command: 'sh', args: ['-c', 'sleep 1000 & sleep 1000'] },
          },
        ],
      },
    });
    const pgid = await untilSpawned(sv, run.id, 'slow');
    await pollUntil(
      () => liveProcessesInGroup(pgid).filter((p) => p.comm === 'sleep').length === 2,
      'two sleeps run',
    );
    clock.advance(29_999);
    expect(liveProcessesInGroup(pgid).filter((p) => p.comm === 'sleep')).toHaveLength(2);
    clock.advance(1);
    const result = await run.done;
    expect(result.phase).toBe('failed');
    expect(run.view().steps[0]?.error).toContain(
      'timed out after 30000 ms (tier "read"); its process group was killed',
    );
    await pollUntil(() => liveProcessesInGroup(pgid).length === 0, `group ${pgid} is gone`);
    const audit = (await sv.trace(run.id)).audit;
    expect(audit.find((row) => row.action === 'shell.exited')?.details).toMatchObject({
      outcome: 'timeout',
      signal: 'SIGTERM',
    });
  });

  it("uses the step's timeoutMs over the tier's", async () => {
    const { sv, clock } = await open();
    const run = await sv.start({
      goal: 'slow',
      plan: {
        steps: [
          {
            id: 'slow',
            tier: 'read',
            timeoutMs: 45_000,
            action: { kind: 'shell', command: 'sleep', args: ['1000'] },
          },
        ],
      },
    });
    const pgid = await untilSpawned(sv, run.id, 'slow');
    await pollUntil(
      () =>
        commandProcesses(pgid)
          .map((p) => p.comm)
          .join() === 'sleep',
      'the sleep runs',
    );
    clock.advance(30_000);
    await untilStep(sv, run.id, 'slow', 'running');
    expect(commandProcesses(pgid).map((p) => p.comm)).toEqual(['sleep']);
    clock.advance(15_000);
    expect((await run.done).phase).toBe('failed');
    expect(run.view().steps[0]?.error).toContain('45000 ms');
    await pollUntil(() => liveProcessesInGroup(pgid).length === 0, `group ${pgid} is gone`);
  });

  it('kills the whole process group when the run is cancelled: sh -c "sleep 1000 & sleep 1000" leaves nothing behind', async () => {
    const { sv } = await open();
    const run = await sv.start({
      goal: 'cancel me',
      plan: {
        steps: [
          { id: 'sleepy', action: { kind: 'shell', command: 'sh', args: ['-c', 'sleep 1000 & sleep 1000'] } },
        ],
      },
    });
    const pgid = await untilSpawned(sv, run.id, 'sleepy');
    await pollUntil(
      () => liveProcessesInGroup(pgid).filter((p) => p.comm === 'sleep').length === 2,
      'two sleeps run',
    );
    const before = commandProcesses(pgid);

    await sv.cancel(run.id, { by: 'ann', reason: 'enough' });
    const result = await run.done;

    expect(before).toHaveLength(3); // the shell and its two sleeps
    expect(result.phase).toBe('cancelled');
    await pollUntil(() => liveProcessesInGroup(pgid).length === 0, `group ${pgid} is gone`);
    expect(liveProcessesInGroup(pgid)).toEqual([]);
    const actions = (await sv.trace(run.id)).audit.map((row) => row.action);
    expect(actions).toContain('run.cancelled');
    expect(actions).toContain('step.cancelled');
  });
});
