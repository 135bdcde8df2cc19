import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { isTaskvisorError, type TaskvisorError, type TaskvisorErrorCode } from '../../src/errors.js';
import { resolveSandbox } from '../../src/sandbox/policy.js';
import {
  KILL_GRACE_MS,
  runShell,
  type RunShellOptions,
  type ShellSpec,
} from '../../src/sandbox/run-shell.js';
import { ISOLATIONS, reportJailSkip } from './jail-support.js';
import { eventLoopTurns, liveProcessesInGroup, pollUntil } from './process-group.js';
import { useTempDirs } from './temp-dirs.js';

const tempDir = useTempDirs();
reportJailSkip('cancellation');
const TWO_SLEEPS: ShellSpec = { command: 'sh', args: ['-c', 'sleep 1000 & sleep 1000'] };

/** Groups started by a test, killed afterwards if an assertion failed midway. */
const groups: number[] = [];
afterEach(() => {
  for (const pgid of groups.splice(0)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone, as it should be
    }
  }
});

interface Started {
  pgid: number;
  /** Settles with the rejection (or undefined if it resolved); never rejects itself. */
  outcome: Promise<unknown>;
  settled: () => boolean;
}

/** Starts `spec` and waits until its group runs two `sleep`s. */
async function startTwoSleeps(
  spec: ShellSpec,
  options: RunShellOptions & { clock: ManualClock; isolation: 'none' | 'jail' },
): Promise<Started> {
  const { isolation, ...runOptions } = options;
  const sandbox = resolveSandbox({ allow: ['sh', 'sleep'], cwd: tempDir(), isolation });
  let pgid: number | undefined;
  let settled = false;
  const outcome = runShell(spec, sandbox, {
    ...runOptions,
    onSpawn: (pid) => {
      pgid = pid;
      groups.push(pid);
    },
  }).then(
    () => undefined,
    (error: unknown) => error,
  );
  void outcome.finally(() => {
    settled = true;
  });
  await pollUntil(
    () => pgid !== undefined && liveProcessesInGroup(pgid).filter((p) => p.comm === 'sleep').length === 2,
    'both sleeps of the group run',
  );
  return { pgid: pgid!, outcome, settled: () => settled };
}

function expectCode(error: unknown, code: TaskvisorErrorCode): TaskvisorError {
  expect(isTaskvisorError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  return error as TaskvisorError;
}

async function expectGroupGone(pgid: number): Promise<void> {
  await pollUntil(() => liveProcessesInGroup(pgid).length === 0, `process group ${pgid} is gone`);
}

// In the jail the group is the jail's PID 1 and the command's processes; SIGKILL to PID 1 ends them all.
describe.each(ISOLATIONS)('cancellation (isolation %s)', (isolation) => {
  it('kills the whole process group when the signal aborts, and rejects with ABORTED', async () => {
    const controller = new AbortController();
    const clock = new ManualClock();
    const { pgid, outcome } = await startTwoSleeps(TWO_SLEEPS, {
      signal: controller.signal,
      clock,
      isolation,
    });

    controller.abort(new Error('user cancelled the run'));

    const error = expectCode(await outcome, 'ABORTED');
    expect(error.message).toContain('was aborted (user cancelled the run); its process group was killed');
    expect(error.cause).toBe(controller.signal.reason);
    await expectGroupGone(pgid);
    expect(clock.pending).toBe(0); // neither the deadline nor the SIGKILL grace is left armed
  });

  it('kills the whole process group when the tier timeout passes on the injected clock, and rejects with STEP_TIMEOUT', async () => {
    const clock = new ManualClock();
    const { pgid, outcome, settled } = await startTwoSleeps(TWO_SLEEPS, { clock, tier: 'read', isolation });
    expect(clock.pending).toBe(1);

    clock.advance(30_000 - 1);
    await eventLoopTurns(20);
    expect(settled()).toBe(false);
    expect(liveProcessesInGroup(pgid).filter((p) => p.comm === 'sleep')).toHaveLength(2);

    clock.advance(1); // the read tier's 30 s deadline

    const error = expectCode(await outcome, 'STEP_TIMEOUT');
    expect(error.message).toContain('timed out after 30000 ms (tier "read")');
    expect(error.details).toMatchObject({ timeoutMs: 30_000, tier: 'read', durationMs: 30_000 });
    await expectGroupGone(pgid);
    expect(clock.pending).toBe(0);
  });

  it("uses the step's own timeoutMs over the tier's", async () => {
    const clock = new ManualClock();
    const spec: ShellSpec = { ...TWO_SLEEPS, timeoutMs: 500 };
    const { pgid, outcome } = await startTwoSleeps(spec, { clock, tier: 'destructive', isolation });
    clock.advance(500);
    expect(expectCode(await outcome, 'STEP_TIMEOUT').message).toContain('timed out after 500 ms');
    await expectGroupGone(pgid);
  });

  it('sends SIGKILL after the grace period to a group that ignores SIGTERM, and still settles', async () => {
    const clock = new ManualClock();
    const stubborn: ShellSpec = { command: 'sh', args: ['-c', 'trap "" TERM; sleep 1000 & sleep 1000'] };
    const { pgid, outcome, settled } = await startTwoSleeps(stubborn, { clock, tier: 'write', isolation });

    clock.advance(60_000); // SIGTERM, ignored
    await eventLoopTurns(50);
    expect(settled()).toBe(false);
    expect(liveProcessesInGroup(pgid).filter((p) => p.comm === 'sleep')).toHaveLength(2);
    expect(clock.pending).toBe(1); // the SIGKILL grace

    clock.advance(KILL_GRACE_MS);

    expectCode(await outcome, 'STEP_TIMEOUT');
    await expectGroupGone(pgid);
    expect(clock.pending).toBe(0);
  });
});

describe('cancellation before the start', () => {
  it('never spawns when the signal is already aborted', async () => {
    const root = tempDir();
    const sandbox = resolveSandbox({ allow: ['sh'], cwd: root });
    let spawned = false;
    const error: unknown = await runShell({ command: 'sh', args: ['-c', ': > started'] }, sandbox, {
      signal: AbortSignal.abort(new Error('too late')),
      clock: new ManualClock(),
      onSpawn: () => {
        spawned = true;
      },
    }).catch((caught: unknown) => caught);
    expect(expectCode(error, 'ABORTED').message).toContain(
      'was not started: the step was already aborted (too late)',
    );
    expect(spawned).toBe(false);
    expect(fs.existsSync(path.join(root, 'started'))).toBe(false);
  });

  it('reports ABORTED, not a sandbox refusal, for an aborted step with a disallowed command', async () => {
    const sandbox = resolveSandbox({ allow: [], cwd: tempDir() });
    const error: unknown = await runShell({ command: 'rm' }, sandbox, {
      signal: AbortSignal.abort(),
    }).catch((caught: unknown) => caught);
    expectCode(error, 'ABORTED');
  });
});
