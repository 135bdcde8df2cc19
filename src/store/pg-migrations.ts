/**
 * The PostgreSQL schema, as explicit forward migrations (numbered on their own: PostgreSQL
 * schema 1 holds what SQLite reached in its schema 3). A database records its schema version
 * in `taskvisor_meta`; opening runs the missing migrations in order, in one transaction under
 * an advisory lock, so processes opening one database at once never apply a migration twice.
 * A database written by a newer taskvisor is refused before anything is written. Never edit a
 * shipped migration: add the next one.
 */
import type { PoolClient } from 'pg';
import { MACHINE_VERSION } from '../../machines/version.js';
import { GENESIS_HASH } from '../audit/hash-chain.js';
import { TaskvisorError } from '../errors.js';

export interface PgMigration {
  readonly version: number;
  readonly description: string;
  readonly up: (client: PoolClient) => Promise<void>;
}

/** The tables taskvisor creates (a schema holding some of them without `taskvisor_meta` is not ours). */
const OUR_TABLES = [
  'runs',
  'plans',
  'actors',
  'events',
  'counters',
  'outputs',
  'attempts',
  'requests',
  'commands',
  'artifacts',
  'audit',
  'episodes',
];

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    description:
      'runs, plans, actors, events (numbered by a counter row), outputs stored once, attempts, requests, commands, artifacts, per-run audit chains with anchors, episodes (full-text search)',
    up: async (client) => {
      await client.query(`
        CREATE TABLE runs (
          id text PRIMARY KEY,
          goal text NOT NULL,
          phase text NOT NULL,
          created_at bigint NOT NULL,
          updated_at bigint NOT NULL,
          plan_version integer NOT NULL DEFAULT 0,
          metadata text,
          owner text,
          owner_host text,
          owner_pid integer,
          lease_expires_at bigint,
          fence bigint NOT NULL DEFAULT 0,
          audit_position integer NOT NULL DEFAULT 0,
          audit_hash text NOT NULL DEFAULT '${GENESIS_HASH}'
        );
        CREATE INDEX runs_created ON runs (created_at DESC, id DESC);
        CREATE INDEX runs_phase ON runs (phase, created_at);
        CREATE INDEX runs_owner ON runs (owner) WHERE owner IS NOT NULL;
        -- What a worker scans when it claims runs: the unfinished ones, oldest first.
        CREATE INDEX runs_unfinished ON runs (created_at, id)
          WHERE phase NOT IN ('completed', 'failed', 'cancelled');
        -- What prune scans: finished runs by when they ended.
        CREATE INDEX runs_finished ON runs (updated_at)
          WHERE phase IN ('completed', 'failed', 'cancelled');

        CREATE TABLE plans (
          run_id text NOT NULL,
          version integer NOT NULL,
          plan text NOT NULL,
          PRIMARY KEY (run_id, version)
        );

        CREATE TABLE actors (
          id bigserial PRIMARY KEY,
          run_id text NOT NULL,
          actor_id text NOT NULL,
          kind text NOT NULL,
          state text NOT NULL,
          snapshot text NOT NULL,
          output_ref text,
          fence bigint NOT NULL,
          version integer NOT NULL,
          updated_at bigint NOT NULL,
          UNIQUE (run_id, actor_id)
        );

        -- The event counter: taken by a commit as its last write, so commits number their
        -- events in commit order (a reader at seq k never misses a later commit below k).
        CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL);
        INSERT INTO counters (name, value) VALUES ('event_seq', 0);

        CREATE TABLE events (
          seq bigint PRIMARY KEY,
          run_id text NOT NULL,
          step_id text,
          type text NOT NULL,
          at bigint NOT NULL,
          body text NOT NULL,
          output_ref text,
          audit_position integer NOT NULL DEFAULT 0
        );
        CREATE INDEX events_run ON events (run_id, seq);

        -- A step output once per run; events, attempts and actors refer to it by its SHA-256.
        CREATE TABLE outputs (
          run_id text NOT NULL,
          ref text NOT NULL,
          json text NOT NULL,
          PRIMARY KEY (run_id, ref)
        );

        CREATE TABLE attempts (
          id bigserial PRIMARY KEY,
          run_id text NOT NULL,
          step_id text NOT NULL,
          attempt integer NOT NULL,
          idempotency_key text NOT NULL,
          status text NOT NULL,
          started_at bigint NOT NULL,
          ended_at bigint,
          output_ref text,
          error text,
          audit_position integer NOT NULL DEFAULT 0,
          UNIQUE (run_id, step_id, attempt)
        );

        CREATE TABLE requests (
          id text PRIMARY KEY,
          run_id text NOT NULL,
          step_id text NOT NULL,
          key text NOT NULL,
          question text NOT NULL,
          options text,
          opened_at bigint NOT NULL,
          answer text,
          answered_at bigint,
          answered_by text,
          closed_at bigint,
          UNIQUE (run_id, step_id, key)
        );
        CREATE INDEX requests_open ON requests (run_id) WHERE answered_at IS NULL AND closed_at IS NULL;

        CREATE TABLE commands (
          id bigserial PRIMARY KEY,
          run_id text NOT NULL,
          command text NOT NULL,
          created_at bigint NOT NULL,
          applied_at bigint,
          error text
        );
        CREATE INDEX commands_pending ON commands (id) WHERE applied_at IS NULL;
        CREATE INDEX commands_run ON commands (run_id);

        CREATE TABLE artifacts (
          id bigserial PRIMARY KEY,
          run_id text NOT NULL,
          step_id text,
          kind text NOT NULL,
          name text NOT NULL,
          body text NOT NULL,
          at bigint NOT NULL,
          audit_position integer NOT NULL DEFAULT 0
        );
        CREATE INDEX artifacts_run ON artifacts (run_id, id);

        CREATE TABLE audit (
          id bigserial PRIMARY KEY,
          run_id text NOT NULL,
          position integer NOT NULL,
          at bigint NOT NULL,
          step_id text,
          action text NOT NULL,
          by text,
          details text NOT NULL,
          prev_hash text NOT NULL,
          hash text NOT NULL,
          keyed boolean NOT NULL DEFAULT false,
          UNIQUE (run_id, position)
        );
        -- Append-only: rows are never updated, and deleted only by prune, which deletes whole
        -- runs (it sets taskvisor.prune for its own transaction). The hash chains catch
        -- whoever drops this trigger to do otherwise.
        CREATE FUNCTION taskvisor_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' AND current_setting('taskvisor.prune', true) = 'on' THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION 'the audit trail is append-only';
        END $$;
        CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
          FOR EACH ROW EXECUTE FUNCTION taskvisor_audit_append_only();

        CREATE TABLE episodes (
          id bigserial PRIMARY KEY,
          run_id text NOT NULL,
          step_id text,
          kind text NOT NULL,
          title text NOT NULL,
          body text NOT NULL,
          data text,
          at bigint NOT NULL,
          search tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', body), 'B')
          ) STORED
        );
        CREATE INDEX episodes_run ON episodes (run_id);
        CREATE INDEX episodes_search ON episodes USING gin (search);
      `);
    },
  },
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]!.version;

async function metaOf(client: PoolClient): Promise<Map<string, string> | undefined> {
  const exists = await client.query<{ present: boolean }>(
    "SELECT to_regclass('taskvisor_meta') IS NOT NULL AS present",
  );
  if (!exists.rows[0]?.present) return undefined;
  const rows = await client.query<{ key: string; value: string }>('SELECT key, value FROM taskvisor_meta');
  return new Map(rows.rows.map((row) => [row.key, row.value]));
}

/**
 * Refuses a schema that is not taskvisor's, or that a newer taskvisor wrote (its schema or
 * the machines of its runs), naming the database; nothing is written.
 */
async function refuse(
  client: PoolClient,
  meta: Map<string, string> | undefined,
  where: string,
  newest: number,
): Promise<void> {
  if (!meta) {
    const found = await client.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c
       WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v')
         AND c.relname = ANY($1::text[]) ORDER BY c.relname`,
      [OUR_TABLES],
    );
    if (found.rows.length > 0) {
      const names = found.rows.map((row) => row.name);
      throw new TaskvisorError(
        'NOT_A_TASKVISOR_DB',
        `${where} already has tables named like taskvisor's (${names.join(', ')}) but no taskvisor_meta: they belong to something else, and were left untouched. Give taskvisor its own schema (add ?schema=taskvisor to the URL) or its own database.`,
        { url: where, tables: names },
      );
    }
    return;
  }
  const app = meta.get('app');
  if (app !== undefined && app !== 'taskvisor') {
    throw new TaskvisorError(
      'NOT_A_TASKVISOR_DB',
      `${where} belongs to "${app}", not taskvisor; it was left untouched. Use another schema (?schema=) or database.`,
      { url: where },
    );
  }
  const version = Number(meta.get('schema_version') ?? 0);
  if (version > newest) {
    throw new TaskvisorError(
      'SCHEMA_TOO_NEW',
      `${where} was written by a newer taskvisor (PostgreSQL schema version ${version}); this version understands up to ${newest}. Upgrade taskvisor to open it; the database was left untouched.`,
      { url: where, schemaVersion: version, supported: newest },
    );
  }
  const machine = Number(meta.get('machine_version') ?? 0);
  if (machine > MACHINE_VERSION) {
    throw new TaskvisorError(
      'SCHEMA_TOO_NEW',
      `${where} holds runs of newer machines (machine version ${machine}); this taskvisor knows version ${MACHINE_VERSION}. Upgrade taskvisor to resume them; the database was left untouched.`,
      { url: where, machineVersion: machine, supported: MACHINE_VERSION },
    );
  }
}

/**
 * Applies every migration newer than the database's version, in order, in one transaction
 * under an advisory lock of the schema; returns the versions applied.
 */
export async function migratePg(
  client: PoolClient,
  where: string,
  migrations: readonly PgMigration[] = PG_MIGRATIONS,
): Promise<number[]> {
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  const newest = ordered.length > 0 ? ordered[ordered.length - 1]!.version : PG_SCHEMA_VERSION;
  await client.query('BEGIN');
  try {
    // One opener at a time per schema; the lock ends with the transaction.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('taskvisor migrate ' || current_schema()))");
    const meta = await metaOf(client);
    await refuse(client, meta, where, newest);
    const current = Number(meta?.get('schema_version') ?? 0);
    const pending = ordered.filter((migration) => migration.version > current);
    if (pending.length === 0) {
      await client.query('ROLLBACK');
      return [];
    }
    await client.query(
      'CREATE TABLE IF NOT EXISTS taskvisor_meta (key text PRIMARY KEY, value text NOT NULL)',
    );
    for (const migration of pending) await migration.up(client);
    const last = pending[pending.length - 1]!.version;
    await client.query(
      `INSERT INTO taskvisor_meta (key, value) VALUES ('app', 'taskvisor'), ('schema_version', $1), ('machine_version', $2)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [String(last), String(MACHINE_VERSION)],
    );
    await client.query('COMMIT');
    return pending.map((migration) => migration.version);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
