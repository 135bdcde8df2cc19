/**
 * Opening a database never removes another process's journals. Each round: a cleanly
 * closed database (no -wal, no -shm); one writer process commits a run and reports it
 * while six other processes open and close supervisors on the same file at the same
 * moment (what several CLI commands, or `--detach`ed runs, on one file do); then a fresh
 * connection must see the writer's run — while the writer lives, and after its SIGKILL.
 * Before the fix, an opener's check deleted the -wal it thought it had created, and the
 * writer's committed run vanished (in 9 of 48 rounds over three runs, every run failing).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSupervisor } from '../../src/index.js';
import { type Child, runTs } from '../support/processes.js';

const SCRIPT = 'test/crash/open-churn.ts';
const ROUNDS = 16;
const OPENERS = 6;

const root = mkdtempSync(path.join(os.tmpdir(), 'taskvisor-open-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function churn(mode: 'writer' | 'opener', db: string, onLine?: (line: string) => void): Child {
  return runTs(SCRIPT, [mode, db], onLine ? (line) => onLine(line) : undefined, {}, { stdin: 'pipe' });
}

/** The runs a new supervisor (a fresh connection) finds, with their step's state. */
async function seen(db: string): Promise<string> {
  const sv = await createSupervisor({ db, resume: false });
  try {
    return JSON.stringify((await sv.list()).map((run) => [run.id, run.steps[0]?.state]));
  } finally {
    await sv.close();
  }
}

describe('several processes opening one database at once', () => {
  it(`never lose a run another process committed (${ROUNDS} rounds, ${OPENERS} openers each)`, async () => {
    const lost: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const db = path.join(mkdtempSync(path.join(root, 'round-')), 'runs.db');
      // A cleanly closed database: created, then closed, with no journals left beside it.
      await (await createSupervisor({ db })).close();
      expect(existsSync(`${db}-wal`) || existsSync(`${db}-shm`)).toBe(false);

      let committed: (runId: string) => void = () => {};
      const reported = new Promise<string>((resolve) => (committed = resolve));
      const writer = churn('writer', db, (line) => {
        if (line.startsWith('committed ')) committed(line.slice('committed '.length));
      });
      const openers = Array.from({ length: OPENERS }, () => churn('opener', db));
      // Each has loaded once it reads stdin (the line waits in the pipe until then). The
      // openers start 0–15 ms after the writer, a different spread every round: a process's
      // first open of a database takes about that long, so their checks overlap its open.
      writer.process.stdin?.write('go\n');
      openers.forEach((opener, index) =>
        opener.process.stdin?.write(`go ${((round * OPENERS + index) * 7) % 16}\n`),
      );

      // A bound, not a wait: a writer whose journal was deleted under it might never report.
      let bound: NodeJS.Timeout | undefined;
      const runId = await Promise.race([
        reported,
        writer.exited.then((exit) => `writer exited (${exit.code}): ${exit.stderr.slice(0, 300)}`),
        new Promise<string>((resolve) => (bound = setTimeout(resolve, 20_000, 'writer never reported'))),
      ]);
      clearTimeout(bound);
      for (const opener of openers) {
        const exit = await opener.exited;
        expect(exit.code, exit.stderr).toBe(0);
      }
      if (runId.startsWith('run_')) {
        const expected = JSON.stringify([[runId, 'awaitingConfirmation']]);
        const live = await seen(db);
        writer.process.kill('SIGKILL');
        await writer.exited;
        const afterKill = await seen(db);
        if (live !== expected) lost.push(`round ${round}, writer alive: ${live}`);
        if (afterKill !== expected) lost.push(`round ${round}, after SIGKILL: ${afterKill}`);
      } else {
        lost.push(`round ${round}: ${runId}`);
        writer.process.kill('SIGKILL');
        await writer.exited;
      }
    }
    console.log(`concurrent opens: the writer's run was missing in ${lost.length} of ${ROUNDS * 2} checks`);
    expect(lost).toEqual([]);
  }, 300_000);
});
