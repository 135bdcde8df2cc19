/**
 * Crash tests with real processes: a worker runs three plans (idempotent and
 * non-idempotent steps, a destructive step that needs a confirmation, a question, a
 * fan-in) and is SIGKILLed at one of 32 points spread over the event stream (some
 * resumes are killed again). A fresh process resumes until every run ends. Then:
 * every run reaches the phase of a crash-free run with the same step states and outputs,
 * no non-idempotent action ran twice without a human's `rerun`, and the event log's seq
 * is gapless.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pool } from '../support/processes.js';
import { checkLog, effects, type Outcome, outcomes, work } from './harness.js';

const KILL_POINTS = 32;
const root = mkdtempSync(path.join(os.tmpdir(), 'taskvisor-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('crashes', () => {
  let reference: Outcome[] = [];
  let events = 0;

  it('has a crash-free reference run', async () => {
    const dir = mkdtempSync(path.join(root, 'reference-'));
    expect(await work('start', dir)).toBe(false);
    reference = await outcomes(path.join(dir, 'db.sqlite'));
    events = checkLog(path.join(dir, 'db.sqlite')).lastSeq;
    expect(reference.map((run) => run.phase)).toEqual(['completed', 'completed', 'completed']);
    expect(events).toBeGreaterThan(60);
  });

  it(`resumes after SIGKILL at ${KILL_POINTS} points: same outcome, no unconfirmed repeat, no gap`, async () => {
    const points = Array.from({ length: KILL_POINTS }, (_, index) =>
      Math.max(1, Math.round(((index + 1) * events) / (KILL_POINTS + 1))),
    );
    const report = await pool(points, 3, async (killAt, index) => {
      const dir = mkdtempSync(path.join(root, `kill-${killAt}-`));
      const db = path.join(dir, 'db.sqlite');
      const killed = await work('start', dir, { killAt });
      // Every other point kills the first resume too, later in the stream.
      let secondKill = false;
      if (index % 2 === 1)
        secondKill = await work('resume', dir, { killAt: killAt + Math.ceil((events - killAt) / 2) });
      await work('resume', dir);
      const log = checkLog(db);
      const final = await outcomes(db);
      const counts = effects(dir);
      return { killAt, killed, secondKill, log, final, counts };
    });

    let killedCount = 0;
    for (const { killAt, killed, secondKill, log, final, counts } of report) {
      if (killed) killedCount += 1;
      if (secondKill) killedCount += 1;
      expect(final, `outcome after a kill at seq ${killAt}`).toEqual(reference);
      for (const [key, count] of counts) {
        const allowed = 1 + (log.reruns.get(key) ?? 0);
        expect(
          count,
          `${key} ran ${count} times with ${allowed - 1} rerun(s) (kill at ${killAt})`,
        ).toBeLessThanOrEqual(allowed);
      }
    }
    console.log(`crash suite: ${killedCount} SIGKILLs over ${KILL_POINTS} kill points (of ${events} events)`);
    expect(killedCount).toBeGreaterThanOrEqual(30);
  }, 300_000);
});
