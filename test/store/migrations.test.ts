/**
 * Migrations keep every row: a schema-1 database gains the later tables; a schema-2
 * database (its one global audit chain) becomes per-run chains that verify, and a row
 * tampered with before the migration is still reported after it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyAudit } from '../../src/audit/verify-audit.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite-open.js';
import type { SqliteStore } from '../../src/store/sqlite-store.js';

const GOLDEN = fileURLToPath(new URL('../golden/v1.db', import.meta.url));
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

function open(db: string): SqliteStore {
  const store = openSqliteStore(db);
  stores.push(store);
  return store;
}

describe('migrations', () => {
  it('brings a schema-1 database to the current schema, keeping its runs and events', async () => {
    const db = file();
    const v1 = openSqliteStore(db, { migrations: [MIGRATIONS[0]!] });
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

    const store = open(db);
    expect(store.db.prepare("SELECT value FROM taskvisor_meta WHERE key = 'schema_version'").get()).toEqual({
      value: String(SCHEMA_VERSION),
    });
    expect(SCHEMA_VERSION).toBe(3);
    expect((await store.runs.getRun('old'))?.goal).toBe('from v1');
    expect(await store.events.readEvents({})).toHaveLength(1);
    // The counter goes on from the events the file has.
    expect(await store.events.lastSeq()).toBe(1);
    expect(await store.auditLog.audit()).toEqual([]);
  });

  it("turns schema 2's global audit chain into per-run chains that verify, anchored to the log", async () => {
    const db = file();
    fs.copyFileSync(GOLDEN, db);
    const before = new Database(db, { readonly: true });
    const v2Rows = before.prepare('SELECT run_id, action FROM audit ORDER BY id').all() as Array<{
      run_id: string;
      action: string;
    }>;
    before.close();
    const store = open(db);
    const rows = await store.auditLog.audit();
    expect(rows.map((row) => [row.runId, row.action])).toEqual(v2Rows.map((row) => [row.run_id, row.action]));
    for (const runId of new Set(rows.map((row) => row.runId))) {
      const chain = await store.auditLog.audit({ runId });
      expect(chain.map((row) => row.position)).toEqual(chain.map((_, index) => index + 1));
    }
    expect(await verifyAudit(store)).toMatchObject({ ok: true, rows: rows.length, runs: 5 });
  });

  it('still reports a schema-2 row that was tampered with before the migration', async () => {
    const db = file();
    fs.copyFileSync(GOLDEN, db);
    const raw = new Database(db);
    raw.exec('DROP TRIGGER audit_no_update');
    const target = raw.prepare("SELECT id, run_id FROM audit WHERE action = 'question.asked'").get() as {
      id: number;
      run_id: string;
    };
    raw.prepare("UPDATE audit SET by = 'mallory' WHERE id = ?").run(target.id);
    raw.close();
    const store = open(db);
    const result = await verifyAudit(store);
    expect(result).toMatchObject({ ok: false });
    expect((result as { reason: string }).reason).toContain('was changed');
  });
});
