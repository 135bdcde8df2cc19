/**
 * The SQLite schema, as explicit forward migrations. A database records its schema
 * version in `taskvisor_meta`; opening runs the missing migrations in order, each in
 * its own transaction. Never edit a shipped migration: add the next one.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { MACHINE_VERSION } from '../../machines/version.js';
import { canonicalJson } from '../audit/canonical-json.js';
import { chainEntries, EMPTY_HEAD, GENESIS_HASH } from '../audit/hash-chain.js';
import { TaskvisorError } from '../errors.js';
import type { Json } from '../model/json.js';
import type { AuditEntry } from './rows.js';

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
  {
    version: 3,
    description:
      'many writers: events numbered by a counter row, audit chains per run with anchors, outputs stored once',
    up: (db) => {
      db.exec(`
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO counters (name, value) SELECT 'event_seq', COALESCE(MAX(seq), 0) FROM events;

        -- A step output once per run; events, attempts and actors refer to it by its SHA-256.
        CREATE TABLE outputs (
          run_id TEXT NOT NULL,
          ref TEXT NOT NULL,
          json TEXT NOT NULL,
          PRIMARY KEY (run_id, ref)
        ) WITHOUT ROWID;
        ALTER TABLE events ADD COLUMN output_ref TEXT;
        ALTER TABLE attempts ADD COLUMN output_ref TEXT;
        ALTER TABLE actors ADD COLUMN output_ref TEXT;

        -- Each run's chain head, and on every row that produces audit entries the chain
        -- length as of its commit (the anchor a rewound head does not move).
        ALTER TABLE runs ADD COLUMN audit_position INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN audit_hash TEXT NOT NULL DEFAULT '${GENESIS_HASH}';
        ALTER TABLE events ADD COLUMN audit_position INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE attempts ADD COLUMN audit_position INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE artifacts ADD COLUMN audit_position INTEGER NOT NULL DEFAULT 0;

        DROP TRIGGER IF EXISTS audit_no_update;
        DROP TRIGGER IF EXISTS audit_no_delete;
        ALTER TABLE audit RENAME TO audit_v2;
        DROP TABLE audit_head;
        CREATE TABLE audit (
          id INTEGER PRIMARY KEY,
          run_id TEXT NOT NULL,
          position INTEGER NOT NULL,
          at INTEGER NOT NULL,
          step_id TEXT,
          action TEXT NOT NULL,
          by TEXT,
          details TEXT NOT NULL,
          prev_hash TEXT NOT NULL,
          hash TEXT NOT NULL,
          keyed INTEGER NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX audit_chain ON audit (run_id, position);
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
          BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
          BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
      `);
      rechainAudit(db);
      db.exec(`
        DROP TABLE audit_v2;
        UPDATE events SET audit_position = (SELECT audit_position FROM runs WHERE runs.id = events.run_id);
        UPDATE attempts SET audit_position = (SELECT audit_position FROM runs WHERE runs.id = attempts.run_id);
        UPDATE artifacts SET audit_position = (SELECT audit_position FROM runs WHERE runs.id = artifacts.run_id);
      `);
    },
  },
];

/**
 * Schema 3: the one global chain of schema 2 becomes one chain per run. The old chain is
 * verified first; the rows are then linked again run by run, in their order. A row the
 * old chain shows as tampered with keeps a hash that cannot verify, so `verifyAudit()`
 * still reports it after the migration.
 */
function rechainAudit(db: Database.Database): void {
  interface V2Row {
    id: number;
    at: number;
    run_id: string;
    step_id: string | null;
    action: string;
    by: string | null;
    details: string;
    prev_hash: string;
    hash: string;
  }
  const insert = db.prepare(
    `INSERT INTO audit (run_id, position, at, step_id, action, by, details, prev_hash, hash, keyed)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
  );
  const setHead = db.prepare('UPDATE runs SET audit_position = ?, audit_hash = ? WHERE id = ?');
  const heads = new Map<string, { position: number; hash: string }>();
  let prevHash = GENESIS_HASH;
  let expected = 1;
  let broken = false;
  for (const row of db.prepare('SELECT * FROM audit_v2 ORDER BY id').all() as V2Row[]) {
    let details: AuditEntry['details'];
    try {
      details = JSON.parse(row.details) as AuditEntry['details'];
    } catch {
      details = { unparsable: row.details };
    }
    const entry: AuditEntry = {
      at: row.at,
      runId: row.run_id,
      ...(row.step_id === null ? {} : { stepId: row.step_id }),
      action: row.action,
      ...(row.by === null ? {} : { by: row.by }),
      details,
    };
    const v2Hash = createHash('sha256')
      .update(row.prev_hash)
      .update('\n')
      .update(
        canonicalJson({
          id: row.id,
          at: entry.at,
          runId: entry.runId,
          stepId: entry.stepId ?? null,
          action: entry.action,
          by: entry.by ?? null,
          details: entry.details as Json,
        }),
      )
      .digest('hex');
    const tampered: boolean =
      broken || row.id !== expected || row.prev_hash !== prevHash || v2Hash !== row.hash;
    broken = tampered;
    prevHash = row.hash;
    expected = row.id + 1;
    const head = heads.get(row.run_id) ?? EMPTY_HEAD;
    const { rows, head: next } = chainEntries(head, [entry]);
    const chained = rows[0]!;
    // From the first tampered row on, nothing of the old chain can be vouched for.
    const hash = tampered ? `tampered before schema 3: ${row.hash}` : chained.hash;
    insert.run(
      row.run_id,
      chained.position,
      row.at,
      row.step_id,
      row.action,
      row.by,
      row.details,
      chained.prevHash,
      hash,
    );
    heads.set(row.run_id, { position: next.position, hash });
  }
  for (const [runId, head] of heads) setHead.run(head.position, head.hash, runId);
}

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

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
