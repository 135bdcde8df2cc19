/**
 * `taskvisor doctor`: a healthy database passes every check; a damaged file, a broken
 * audit chain and a run whose driver died are each reported with what to do (exit 1).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createSupervisor } from '../../src/index.js';
import { EXAMPLES, tempDir, tv } from './cli.js';

const dirs: Array<{ remove(): void }> = [];
afterAll(() => {
  for (const dir of dirs) dir.remove();
});

function scratch(): string {
  const dir = tempDir('doctor');
  dirs.push(dir);
  return dir.dir;
}

async function databaseWithRuns(dir: string): Promise<string> {
  const db = path.join(dir, 'runs.db');
  const exit = await tv(['run', path.join(EXAMPLES, 'hello.json'), '--db', db], { cwd: dir });
  expect(exit.code, exit.stderr).toBe(0);
  return db;
}

describe('taskvisor doctor', () => {
  it('passes a healthy database', async () => {
    const dir = scratch();
    const db = await databaseWithRuns(dir);
    const exit = await tv(['doctor', '--db', db], { cwd: dir });
    expect(exit.code, exit.stdout + exit.stderr).toBe(0);
    expect(exit.stdout).toContain('ok  integrity: ');
    expect(exit.stdout).toMatch(/ok {2}audit: audit chains ok \(\d+ rows, 1 runs\)/);
    expect(exit.stdout).toContain('ok  drivers: 0 unfinished runs');
  });

  it('reports an edited audit row and a run nobody drives, with what to do', async () => {
    const dir = scratch();
    const db = await databaseWithRuns(dir);
    // A run left unfinished by a process that is gone (no lease).
    const sv = await createSupervisor({ db, resume: false });
    await sv.start({
      goal: 'waits',
      requireApproval: true,
      plan: { steps: [{ id: 'a', action: { kind: 'note', output: 1 } }] },
    });
    await sv.close();
    const raw = new Database(db);
    raw.exec("DROP TRIGGER audit_no_update; UPDATE audit SET by = 'mallory' WHERE position = 1;");
    raw.close();

    const exit = await tv(['doctor', '--db', db, '--json'], { cwd: dir });
    expect(exit.code).toBe(1);
    const report = JSON.parse(exit.stdout) as {
      ok: boolean;
      checks: Array<{ name: string; ok: boolean; finding: string; fix?: string }>;
    };
    expect(report.ok).toBe(false);
    expect(report.checks.map((check) => [check.name, check.ok])).toEqual([
      ['integrity', true],
      ['audit', false],
      ['drivers', false],
    ]);
    expect(report.checks[1]?.finding).toContain('was changed after it was written');
    expect(report.checks[2]?.finding).toMatch(
      /1 unfinished run has no live driver: run_\S+ \(awaitingApproval: /,
    );
    expect(report.checks[2]?.fix).toContain(`taskvisor resume --db ${db}`);
  });

  it('describes a damaged file that opening refuses', async () => {
    const dir = scratch();
    const db = await databaseWithRuns(dir);
    const size = fs.statSync(db).size;
    const fd = fs.openSync(db, 'r+');
    fs.writeSync(fd, randomBytes(4096), 0, 4096, Math.floor(size / 2 / 4096) * 4096);
    fs.closeSync(fd);
    const refused = await tv(['ls', '--db', db], { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('taskvisor doctor');
    const exit = await tv(['doctor', '--db', db], { cwd: dir });
    expect(exit.code).toBe(1);
    expect(exit.stdout).toContain('BAD integrity: ');
    expect(exit.stdout).toContain('what to do: stop every process using it');
  });
});
