/**
 * The SQLite schema, as explicit forward migrations. A database records its schema
 * version in `taskvisor_meta`; opening runs the missing migrations in order, each in
 * its own transaction. Never edit a shipped migration: add the next one.
 */
import type Database from 'better-sqlite3';
import { TaskvisorError } from '../errors.js';

export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly up: (db: Database.Database) => void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'runs, plans, actors, events, attempts, requests, commands, artifacts',
    up: (db) => {
      db.exec(`
        CREATE TABLE runs (
          id TEXT PRIMARY KEY,
          goal TEXT NOT NULL,
          phase TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          plan_version INTEGER NOT NULL DEFAULT 0,
          metadata TEXT,
          owner TEXT,
          owner_host TEXT,
          owner_pid INTEGER,
          lease_expires_at INTEGER,
          fence INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX runs_phase ON runs (phase, created_at);
        CREATE INDEX runs_owner ON runs (owner) WHERE owner IS NOT NULL;

        CREATE TABLE plans (
          run_id TEXT NOT NULL,
          version INTEGER NOT NULL,
          plan TEXT NOT NULL,
          PRIMARY KEY (run_id, version)
        ) WITHOUT ROWID;

        -- Rowid tables: rows sit in the order they were created, so the steps one commit
        -- touches share pages (fewer pages written per transaction).
        CREATE TABLE actors (
          id INTEGER PRIMARY KEY,
          run_id TEXT NOT NULL,
          actor_id TEXT NOT NULL,
          kind TEXT NOT NULL,
          state TEXT NOT NULL,
          snapshot TEXT NOT NULL,
          fence INTEGER NOT NULL,
          version INTEGER NOT NULL,
          updated_at INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX actors_key ON actors (run_id, actor_id);

        CREATE TABLE events (
          seq INTEGER PRIMARY KEY,
          run_id TEXT NOT NULL,
          step_id TEXT,
          type TEXT NOT NULL,
          at INTEGER NOT NULL,
          body TEXT NOT NULL
        );
        CREATE INDEX events_run ON events (run_id, seq);

        CREATE TABLE attempts (
          id INTEGER PRIMARY KEY,
          run_id TEXT NOT NULL,
          step_id TEXT NOT NULL,
          attempt INTEGER NOT NULL,
          idempotency_key TEXT NOT NULL,
          status TEXT NOT NULL,
          started_at INTEGER NOT NULL,
          ended_at INTEGER,
          output TEXT,
          error TEXT
        );
        CREATE UNIQUE INDEX attempts_key ON attempts (run_id, step_id, attempt);

        CREATE TABLE requests (
          id TEXT PRIMARY KEY,
          run_id TEXT NOT NULL,
          step_id TEXT NOT NULL,
          key TEXT NOT NULL,
          question TEXT NOT NULL,
          options TEXT,
          opened_at INTEGER NOT NULL,
          answer TEXT,
          answered_at INTEGER,
          answered_by TEXT,
          -- Set when the step stopped waiting without an answer (cancelled, failed, ...).
          closed_at INTEGER
        );
        CREATE UNIQUE INDEX requests_key ON requests (run_id, step_id, key);
        CREATE INDEX requests_open ON requests (run_id) WHERE answered_at IS NULL AND closed_at IS NULL;

        CREATE TABLE commands (
          id INTEGER PRIMARY KEY,
          run_id TEXT NOT NULL,
          command TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          applied_at INTEGER,
          error TEXT
        );
        CREATE INDEX commands_pending ON commands (id) WHERE applied_at IS NULL;

        CREATE TABLE artifacts (
          id INTEGER PRIMARY KEY,
          run_id TEXT NOT NULL,
          step_id TEXT,
          kind TEXT NOT NULL,
          name TEXT NOT NULL,
          body TEXT NOT NULL,
          at INTEGER NOT NULL
        );
        CREATE INDEX artifacts_run ON artifacts (run_id, id);
      `);
    },
  },
  {
    version: 2,
    description: 'audit trail (hash-chained, append-only) and episodic memory (FTS5)',
    up: (db) => {
      db.exec(`
        CREATE TABLE audit (
          id INTEGER PRIMARY KEY,
          at INTEGER NOT NULL,
          run_id TEXT NOT NULL,
          step_id TEXT,
          action TEXT NOT NULL,
          by TEXT,
          details TEXT NOT NULL,
          prev_hash TEXT NOT NULL,
          hash TEXT NOT NULL
        );
        CREATE INDEX audit_run ON audit (run_id, id);
        -- The chain head: the last row's id and hash, so rows dropped from the end are caught.
        CREATE TABLE audit_head (
          one INTEGER PRIMARY KEY CHECK (one = 1),
          last_id INTEGER NOT NULL,
          hash TEXT NOT NULL
        );
        INSERT INTO audit_head (one, last_id, hash) VALUES (1, 0, '${'0'.repeat(64)}');
        -- Append-only: the store never updates or deletes a row (the hash chain catches
        -- whoever drops these triggers to do it).
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
          BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
          BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;

        CREATE TABLE episodes (
          id INTEGER PRIMARY KEY,
          run_id TEXT NOT NULL,
          step_id TEXT,
          kind TEXT NOT NULL,
          title TEXT NOT NULL,
          body TEXT NOT NULL,
          data TEXT,
          at INTEGER NOT NULL
        );
        CREATE INDEX episodes_run ON episodes (run_id);
        CREATE VIRTUAL TABLE episodes_fts USING fts5(
          title, body, content = 'episodes', content_rowid = 'id', tokenize = 'porter unicode61'
        );
        CREATE TRIGGER episodes_fts_insert AFTER INSERT ON episodes BEGIN
          INSERT INTO episodes_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
        END;
        CREATE TRIGGER episodes_fts_delete AFTER DELETE ON episodes BEGIN
          INSERT INTO episodes_fts (episodes_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
        END;
      `);
    },
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** The version of the machines' persisted snapshots; bump when a snapshot shape changes. */
export const MACHINE_VERSION = 1;

/** Reads the schema version, 0 for a database without taskvisor tables. */
export function schemaVersion(db: Database.Database): number {
  const meta = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'taskvisor_meta'")
    .get();
  if (!meta) return 0;
  const row = db.prepare("SELECT value FROM taskvisor_meta WHERE key = 'schema_version'").get() as
    { value: string } | undefined;
  return row ? Number(row.value) : 0;
}

/**
 * Throws `SCHEMA_TOO_NEW` when a newer taskvisor wrote the database (its schema, or the
 * machines of its runs), naming the file; nothing is written.
 */
export function refuseNewer(db: Database.Database, file: string, newestKnown: number): void {
  const version = schemaVersion(db);
  if (version > newestKnown) {
    throw new TaskvisorError(
      'SCHEMA_TOO_NEW',
      `${file} was written by a newer taskvisor (schema version ${version}); this version understands up to ${newestKnown}. Upgrade taskvisor to open it; the file was left untouched.`,
      { path: file, schemaVersion: version, supported: newestKnown },
    );
  }
  if (version === 0) return;
  const machine = db.prepare("SELECT value FROM taskvisor_meta WHERE key = 'machine_version'").get() as
    { value: string } | undefined;
  if (machine && Number(machine.value) > MACHINE_VERSION) {
    throw new TaskvisorError(
      'SCHEMA_TOO_NEW',
      `${file} holds runs of newer machines (machine version ${machine.value}); this taskvisor knows version ${MACHINE_VERSION}. Upgrade taskvisor to resume them; the file was left untouched.`,
      { path: file, machineVersion: Number(machine.value), supported: MACHINE_VERSION },
    );
  }
}

/**
 * Applies every migration newer than the database's version, in order, in one IMMEDIATE
 * transaction: the version is read under the write lock, so processes opening a database
 * at the same moment never apply a migration twice, and a database another process
 * migrated past what this one knows is refused (`SCHEMA_TOO_NEW`) with nothing written.
 */
export function migrate(
  db: Database.Database,
  migrations: readonly Migration[] = MIGRATIONS,
  file = 'the database',
): number[] {
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  const newest = ordered.length > 0 ? ordered[ordered.length - 1]!.version : SCHEMA_VERSION;
  return db
    .transaction(() => {
      refuseNewer(db, file, newest);
      const current = schemaVersion(db);
      const pending = ordered.filter((migration) => migration.version > current);
      if (pending.length === 0) return [];
      db.exec('CREATE TABLE IF NOT EXISTS taskvisor_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
      const set = db.prepare(
        'INSERT INTO taskvisor_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      );
      for (const migration of pending) {
        migration.up(db);
        set.run('app', 'taskvisor');
        set.run('schema_version', String(migration.version));
        set.run('machine_version', String(MACHINE_VERSION));
      }
      return pending.map((migration) => migration.version);
    })
    .immediate();
}
