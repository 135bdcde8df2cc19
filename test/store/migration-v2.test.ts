/**
 * Schema v2 (audit trail, episodic memory) on a database written by schema v1: the migration
 * keeps every existing row, and the new tables work from the next commit on.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/migrations.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.js';
import type { Batch } from '../../src/store/store.js';

const dirs: string[] = [];
const stores: SqliteStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function file(): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'taskvisor-migrate-')));
  dirs.push(dir);
  return path.join(dir, 'runs.db');
}

const empty = (parts: Partial<Batch>): Batch => ({
  runs: [],
  plans: [],
  actors: [],
  events: [],
  attempts: [],
  requests: [],
  artifacts: [],
  commandsApplied: [],
  fences: new Map(),
  ...parts,
});

describe('migration to schema v2', () => {
  it('adds the audit and episode tables to a v1 database, keeping its runs and events', async () => {
    const db = file();
    const v1 = openSqliteStore(db, { migrations: [MIGRATIONS[0]!] });
    // A v1 store has no audit tables: it can still be read, as v1 wrote it.
    v1.db
      .prepare(
        "INSERT INTO runs (id, goal, phase, created_at, updated_at) VALUES ('old', 'from v1', 'completed', 1, 1)",
      )
      .run();
    v1.db
      .prepare("INSERT INTO events (seq, run_id, type, at, body) VALUES (1, 'old', 'run.created', 1, ?)")
      .run(
        JSON.stringify({
          type: 'run.created',
          at: 1,
          runId: 'old',
          goal: 'from v1',
          steps: [],
          requireApproval: false,
        }),
      );
    await v1.close();

    const v2 = openSqliteStore(db);
    stores.push(v2);
    expect(v2.db.prepare("SELECT value FROM taskvisor_meta WHERE key = 'schema_version'").get()).toEqual({
      value: String(SCHEMA_VERSION),
    });
    expect(SCHEMA_VERSION).toBe(2);
    expect((await v2.getRun('old'))?.goal).toBe('from v1');
    expect(await v2.readEvents({})).toHaveLength(1);
    expect(await v2.audit()).toEqual([]);
    expect(await v2.verifyAudit()).toEqual({ ok: true, rows: 0 });

    await v2.commit(
      empty({ events: [{ type: 'run.transition', at: 2, runId: 'old', from: 'running', to: 'completed' }] }),
    );
    expect((await v2.audit()).map((row) => row.action)).toEqual(['run.completed']);
    expect(await v2.verifyAudit()).toEqual({ ok: true, rows: 1 });
    expect((await v2.searchEpisodes('from v1'))[0]).toMatchObject({
      kind: 'run',
      runId: 'old',
      title: 'Run completed: from v1',
    });
  });
});
