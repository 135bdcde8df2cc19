/**
 * `SqliteStore`: the Store conformance suite on a real SQLite file, and what only the
 * SQLite backend does: refusing files that are not its own without touching them,
 * creating the default path, running migrations, durability pragmas.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { isTaskvisorError, type TaskvisorErrorCode } from '../../src/errors.js';
import { type Migration, MIGRATIONS, SCHEMA_VERSION } from '../../src/store/migrations.js';
import { DEFAULT_DB_PATH, openSqliteStore } from '../../src/store/sqlite-open.js';
import type { SqliteStore } from '../../src/store/sqlite-store.js';
import { createSupervisor } from '../../src/supervisor.js';
import { fileDigest } from '../support/supervisor-harness.js';
import { describeStoreConformance } from './conformance/index.js';

const dirs: string[] = [];
const stores: SqliteStore[] = [];

function tempDir(): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'taskvisor-store-')));
  dirs.push(dir);
  return dir;
}

function open(file: string, options?: Parameters<typeof openSqliteStore>[1]): SqliteStore {
  const store = openSqliteStore(file, options);
  stores.push(store);
  return store;
}

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** The error `fn` throws (fails the test when it does not throw). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function expectCode(error: unknown, code: TaskvisorErrorCode): void {
  expect(isTaskvisorError(error), `expected a TaskvisorError, got ${String(error)}`).toBe(true);
  expect((error as { code: string }).code).toBe(code);
}

/** The bytes of a file and the names in its directory, to compare before and after. */
function fingerprint(file: string): { digest: string; size: number; siblings: string[] } {
  return {
    digest: fileDigest(file),
    size: fs.statSync(file).size,
    siblings: fs.readdirSync(path.dirname(file)).sort(),
  };
}

let conformanceFile = '';
describeStoreConformance({
  name: 'SqliteStore on a temp file',
  open: async () => {
    conformanceFile = path.join(tempDir(), 'conformance.db');
    return openSqliteStore(conformanceFile);
  },
  connect: async () => openSqliteStore(conformanceFile),
});

describeStoreConformance({ name: 'SqliteStore in memory', open: async () => openSqliteStore(':memory:') });

describe('openSqliteStore', () => {
  it('refuses a file that is not a SQLite database with NOT_A_TASKVISOR_DB and leaves its bytes unchanged', () => {
    const file = path.join(tempDir(), 'notes.txt');
    fs.writeFileSync(file, 'These are my notes.\nThey are not a database.\n');
    const before = fingerprint(file);

    const error = thrown(() => open(file));

    expectCode(error, 'NOT_A_TASKVISOR_DB');
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toMatch(/not a SQLite database/);
    expect(fingerprint(file)).toEqual(before);
  });

  it("refuses another application's SQLite database with NOT_A_TASKVISOR_DB and leaves it unchanged", () => {
    const file = path.join(tempDir(), 'shop.db');
    const other = new Database(file);
    other.exec(
      "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('Ada');",
    );
    other.close();
    const before = fingerprint(file);

    const error = thrown(() => open(file));

    expectCode(error, 'NOT_A_TASKVISOR_DB');
    expect((error as Error).message).toContain('customers');
    expect(fingerprint(file)).toEqual(before);
    const check = new Database(file, { readonly: true });
    expect(check.prepare('SELECT name FROM customers').all()).toEqual([{ name: 'Ada' }]);
    check.close();
  });

  it('refuses a database whose schema version is newer than known with SCHEMA_TOO_NEW and leaves it unchanged', () => {
    const file = path.join(tempDir(), 'future.db');
    open(file);
    stores.pop()?.db.close();
    const future = new Database(file);
    future
      .prepare("UPDATE taskvisor_meta SET value = ? WHERE key = 'schema_version'")
      .run(String(SCHEMA_VERSION + 1));
    future.close();
    const before = fingerprint(file);

    const error = thrown(() => open(file));

    expectCode(error, 'SCHEMA_TOO_NEW');
    expect((error as Error).message).toContain(`schema version ${SCHEMA_VERSION + 1}`);
    expect(fingerprint(file).digest).toBe(before.digest);
    expect(fingerprint(file).size).toBe(before.size);
  });

  it('leaves no -wal or -shm files beside a newer (WAL-mode) database it refuses', () => {
    const file = path.join(tempDir(), 'future.db');
    open(file);
    stores.pop()?.db.close();
    const future = new Database(file);
    future
      .prepare("UPDATE taskvisor_meta SET value = ? WHERE key = 'schema_version'")
      .run(String(SCHEMA_VERSION + 1));
    future.close();
    const before = fingerprint(file);
    expect(before.siblings).toEqual(['future.db']);

    expectCode(
      thrown(() => open(file)),
      'SCHEMA_TOO_NEW',
    );

    // "Left untouched" covers the directory: no journal files appear beside it.
    expect(fingerprint(file)).toEqual(before);
  });

  it('refuses a file through createSupervisor too, with the same code', async () => {
    const file = path.join(tempDir(), 'notes.txt');
    fs.writeFileSync(file, 'not a database');
    const before = fingerprint(file);
    await expect(createSupervisor({ db: file })).rejects.toMatchObject({ code: 'NOT_A_TASKVISOR_DB' });
    expect(fingerprint(file)).toEqual(before);
  });

  it('creates the default path .taskvisor/taskvisor.db with its directory, relative to the working directory', async () => {
    expect(DEFAULT_DB_PATH).toBe(path.join('.taskvisor', 'taskvisor.db'));
    const cwd = tempDir();
    const previous = process.cwd();
    process.chdir(cwd);
    try {
      const sv = await createSupervisor({ resume: false });
      await sv.close();
    } finally {
      process.chdir(previous);
    }
    const file = path.join(cwd, '.taskvisor', 'taskvisor.db');
    expect(fs.statSync(path.dirname(file)).isDirectory()).toBe(true);
    const check = new Database(file, { readonly: true });
    expect(check.prepare("SELECT value FROM taskvisor_meta WHERE key = 'app'").get()).toEqual({
      value: 'taskvisor',
    });
    check.close();
  });

  it('creates missing parent directories of a relative path', () => {
    const root = tempDir();
    const relative = path.relative(process.cwd(), path.join(root, 'a', 'b', DEFAULT_DB_PATH));
    expect(path.isAbsolute(relative)).toBe(false);
    open(relative);
    expect(fs.existsSync(path.join(root, 'a', 'b', '.taskvisor', 'taskvisor.db'))).toBe(true);
  });

  it('opens an in-memory database without creating a file', () => {
    const store = open(':memory:');
    expect(store.db.memory).toBe(true);
    expect(fs.existsSync(':memory:')).toBe(false);
  });

  it('runs migrations in order, records each, and runs a new one exactly once on a later open', () => {
    const file = path.join(tempDir(), 'migrations.db');
    const ran: number[] = [];
    const v1: Migration = {
      version: 1,
      description: 'the real schema, plus table a',
      up: (db) => {
        ran.push(1);
        MIGRATIONS[0]!.up(db);
        db.exec('CREATE TABLE a (x TEXT)');
      },
    };
    const v2: Migration = {
      version: 2,
      description: 'a gets a column',
      up: (db) => {
        ran.push(2);
        db.exec('ALTER TABLE a ADD COLUMN y INTEGER');
      },
    };
    const columns = (store: SqliteStore) =>
      (store.db.prepare('PRAGMA table_info(a)').all() as Array<{ name: string }>).map(
        (column) => column.name,
      );
    const meta = (store: SqliteStore, key: string) =>
      (
        store.db.prepare('SELECT value FROM taskvisor_meta WHERE key = ?').get(key) as
          { value: string } | undefined
      )?.value;

    const first = open(file, { migrations: [v1] });
    expect(ran).toEqual([1]);
    expect(columns(first)).toEqual(['x']);
    expect(meta(first, 'schema_version')).toBe('1');
    void stores.pop()?.close();

    const second = open(file, { migrations: [v2, v1] });
    expect(ran).toEqual([1, 2]);
    expect(columns(second)).toEqual(['x', 'y']);
    expect(meta(second, 'schema_version')).toBe('2');
    expect(meta(second, 'app')).toBe('taskvisor');
    void stores.pop()?.close();

    open(file, { migrations: [v1, v2] });
    expect(ran).toEqual([1, 2]);

    // Listed out of order on a fresh database, they still run in version order.
    const fresh = path.join(tempDir(), 'fresh.db');
    ran.length = 0;
    const store = open(fresh, { migrations: [v2, v1] });
    expect(ran).toEqual([1, 2]);
    expect(columns(store)).toEqual(['x', 'y']);
  });

  it('refuses a database migrated further than the migrations it is given', () => {
    const file = path.join(tempDir(), 'ahead.db');
    const v2: Migration = { version: 2, description: 'more', up: (db) => db.exec('CREATE TABLE extra (x)') };
    open(file, { migrations: [MIGRATIONS[0]!, v2] });
    void stores.pop()?.close();
    const before = fingerprint(file);
    expectCode(
      thrown(() => open(file, { migrations: [MIGRATIONS[0]!] })),
      'SCHEMA_TOO_NEW',
    );
    expect(fingerprint(file).digest).toBe(before.digest);
  });

  it("sets synchronous=FULL with durability 'full' and NORMAL by default, both in WAL mode", () => {
    const dir = tempDir();
    const full = open(path.join(dir, 'full.db'), { durability: 'full' });
    const normal = open(path.join(dir, 'normal.db'));
    expect(full.db.pragma('synchronous', { simple: true })).toBe(2);
    expect(normal.db.pragma('synchronous', { simple: true })).toBe(1);
    expect(full.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(normal.db.pragma('journal_mode', { simple: true })).toBe('wal');
  });
});
