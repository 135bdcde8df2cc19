/**
 * Opening a SQLite database for taskvisor: refuse what is not ours or is newer, without
 * touching it; check a small file's integrity before anything is written into it; migrate.
 */
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { TaskvisorError } from '../errors.js';
import { MIGRATIONS, migrate, refuseNewer, SCHEMA_VERSION } from './migrations.js';
import { storeError } from './sqlite-errors.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';

export const DEFAULT_DB_PATH = path.join('.taskvisor', 'taskvisor.db');

/**
 * Files up to this size get `PRAGMA quick_check` on open (26 ms for a 98 MB file here, warm
 * page cache: under 20 ms at this limit); bigger
 * ones are checked by `taskvisor doctor` (a full `integrity_check`).
 */
export const QUICK_CHECK_MAX_BYTES = 64 * 1024 * 1024;

const SQLITE_HEADER = 'SQLite format 3\0';
const SQLITE_HEADER_BYTES = 20;

/**
 * Opens (creating if needed) a taskvisor database. A file that is not a SQLite database,
 * a SQLite database that is not taskvisor's, or one written by a newer taskvisor is
 * refused before anything is written to it.
 *
 * @example
 * ```ts
 * const store = openSqliteStore('.taskvisor/taskvisor.db');
 * ```
 */
export function openSqliteStore(
  file: string = DEFAULT_DB_PATH,
  options: SqliteStoreOptions = {},
): SqliteStore {
  const migrations = options.migrations ?? MIGRATIONS;
  const newest = migrations.length > 0 ? Math.max(...migrations.map((m) => m.version)) : SCHEMA_VERSION;
  if (file !== ':memory:') {
    const resolved = path.resolve(file);
    if (existsSync(resolved)) {
      if (statSync(resolved).isDirectory()) {
        throw new TaskvisorError(
          'NOT_A_TASKVISOR_DB',
          `${resolved} is a directory; pass the path of a database file, e.g. ${path.join(file, 'taskvisor.db')}.`,
          { path: resolved },
        );
      }
      checkExistingDatabase(resolved, newest);
    } else {
      mkdirSync(path.dirname(resolved), { recursive: true });
    }
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { timeout: options.busyTimeoutMs ?? 5000 });
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
    if (file !== ':memory:') checkIntegrity(db, file, options.quickCheckMaxBytes ?? QUICK_CHECK_MAX_BYTES);
    migrate(db, migrations, file);
  } catch (error) {
    db?.close();
    throw storeError(error, file, 'open');
  }
  return new SqliteStore(db, file, options);
}

/**
 * Refuses files that are not taskvisor databases, or that a newer taskvisor wrote, without
 * changing them and without removing any file another process may be using.
 *
 * A WAL-mode file is inspected through an ordinary connection that only reads: SQLite
 * creates the `-wal`/`-shm` files it needs and, when that connection closes as the last
 * one on the file, removes them itself under its own locks — so a refused file is left as
 * it was, and the journals of a process that opened the file meanwhile are never touched.
 * (The check used to delete "the journals it created" by name, and so deleted the WAL of a
 * process that opened the database in that window, losing its commits.) A rollback-journal
 * file, which creates no journal when read, is inspected read-only.
 */
function checkExistingDatabase(file: string, newestKnown: number): void {
  if (statSync(file).size === 0) return;
  const header = Buffer.alloc(SQLITE_HEADER_BYTES);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, header, 0, SQLITE_HEADER_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  if (header.toString('latin1', 0, 16) !== SQLITE_HEADER) {
    throw new TaskvisorError(
      'NOT_A_TASKVISOR_DB',
      `${file} is not a SQLite database, so it cannot be a taskvisor database; it was left untouched. Pass another path with --db (or createSupervisor({ db })), or move the file away.`,
      { path: file },
    );
  }
  // Header bytes 18 and 19 are the file format's write and read versions: 2 means WAL.
  const walMode = header[18] === 2 && header[19] === 2;
  const db = new Database(file, { readonly: !walMode, fileMustExist: true });
  try {
    if (walMode) db.pragma('query_only = ON');
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>
    ).map((row) => row.name);
    if (tables.length === 0) return;
    if (!tables.includes('taskvisor_meta')) {
      throw new TaskvisorError(
        'NOT_A_TASKVISOR_DB',
        `${file} is a SQLite database of something else (tables: ${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', ...' : ''}); it was left untouched. Pass another path with --db (or createSupervisor({ db })).`,
        { path: file, tables },
      );
    }
    const app = db.prepare("SELECT value FROM taskvisor_meta WHERE key = 'app'").get() as
      { value: string } | undefined;
    if (app && app.value !== 'taskvisor') {
      throw new TaskvisorError(
        'NOT_A_TASKVISOR_DB',
        `${file} belongs to "${app.value}", not taskvisor; it was left untouched.`,
        { path: file },
      );
    }
    refuseNewer(db, file, newestKnown);
  } finally {
    db.close();
  }
}

/**
 * Refuses a damaged file before anything is written into it: `PRAGMA quick_check` (every
 * page and index, without comparing index contents to their tables) on files up to
 * `maxBytes`.
 */
function checkIntegrity(db: Database.Database, file: string, maxBytes: number): void {
  if (maxBytes <= 0 || statSync(file).size > maxBytes) return;
  const problems = (db.pragma('quick_check(5)') as Array<{ quick_check: string }>).map(
    (row) => row.quick_check,
  );
  if (problems.length === 1 && problems[0] === 'ok') return;
  throw new TaskvisorError(
    'STORE_CORRUPT',
    `${file} is damaged (${problems.join('; ')}); nothing was written to it. Stop every process using it, keep a copy, and restore a backup or recover it (\`sqlite3 ${file} .recover\`); \`taskvisor doctor --db ${file}\` shows the details.`,
    { path: file, problems, transient: false },
  );
}
