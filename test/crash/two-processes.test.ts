/**
 * One writer per run, with real processes on one database: two resumers racing for the
 * same unfinished runs split them (each run is driven by exactly one), and a process that
 * was frozen past its lease loses its runs to another and cannot write to them any more.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLog, effectLines, effects, type Outcome, outcomes, work } from './harness.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'taskvisor-two-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let reference: Outcome[] = [];

describe('two processes on one database', () => {
  it('has a crash-free reference run', async () => {
    const dir = mkdtempSync(path.join(root, 'reference-'));
    await work('start', dir);
    reference = await outcomes(path.join(dir, 'db.sqlite'));
    expect(reference).toHaveLength(3);
  });

  it('splits the unfinished runs between two resumers: each run is driven by exactly one', async () => {
    const dir = mkdtempSync(path.join(root, 'race-'));
    let starter = 0;
    expect(await work('start', dir, { killAt: 8, onLine: (_, child) => (starter = child.pid ?? 0) })).toBe(
      true,
    );
    // Both open the database at the same moment and resume whatever they can take.
    await Promise.all([work('resume', dir), work('resume', dir)]);

    const byRun = new Map<string, Set<number>>();
    for (const line of effectLines(dir)) {
      if (line.pid === starter) continue;
      const pids = byRun.get(line.runId) ?? new Set();
      pids.add(line.pid);
      byRun.set(line.runId, pids);
    }
    for (const [runId, pids] of byRun)
      expect([...pids], `processes that ran steps of ${runId}`).toHaveLength(1);
    expect(await outcomes(path.join(dir, 'db.sqlite'))).toEqual(reference);
    const { reruns } = checkLog(path.join(dir, 'db.sqlite'));
    for (const [key, count] of effects(dir))
      expect(count, key).toBeLessThanOrEqual(1 + (reruns.get(key) ?? 0));
  }, 60_000);

  it('fences out a process that was frozen past its lease: another takes the runs over and it writes nothing more to them', async () => {
    const dir = mkdtempSync(path.join(root, 'frozen-'));
    const env = { TASKVISOR_TEST_LEASE_MS: '300' };
    let frozen: ChildProcess | undefined;
    let takeover: Promise<boolean> | undefined;
    const first = work('start', dir, {
      env,
      onLine: (line, child) => {
        // Freeze the first process mid-run; a second one waits for its lease to expire.
        if (Number(line) === 10 && !frozen) {
          frozen = child;
          child.kill('SIGSTOP');
          takeover = work('resume', dir, { env });
        }
      },
    });
    await expect.poll(() => takeover !== undefined, { timeout: 20_000 }).toBe(true);
    expect(await takeover).toBe(false);
    // Thaw the first process: its writes for the runs it lost are refused; it sees them done and exits.
    frozen?.kill('SIGCONT');
    expect(await first).toBe(false);

    expect(await outcomes(path.join(dir, 'db.sqlite'))).toEqual(reference);
    const { reruns } = checkLog(path.join(dir, 'db.sqlite'));
    for (const [key, count] of effects(dir))
      expect(count, key).toBeLessThanOrEqual(1 + (reruns.get(key) ?? 0));
    // The runs that were still open when the first process froze changed hands (fence 1 -> 2).
    const conn = new Database(path.join(dir, 'db.sqlite'), { readonly: true });
    const fences = conn.prepare('SELECT id, fence FROM runs ORDER BY id').all() as Array<{
      id: string;
      fence: number;
    }>;
    conn.close();
    expect(fences.filter((run) => run.fence >= 2).length, JSON.stringify(fences)).toBeGreaterThan(0);
  }, 60_000);
});
