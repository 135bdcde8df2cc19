/**
 * The store ports on PostgreSQL (node-postgres): a small pool of connections, one
 * transaction per commit (see pg-commit.ts), leases claimed with `FOR UPDATE SKIP LOCKED`,
 * LISTEN/NOTIFY wake-ups for other processes (pg-signals.ts), and PostgreSQL's failures
 * mapped to `STORE_*` errors (a lost connection is `STORE_UNAVAILABLE`, transient).
 *
 * A commit whose connection drops while COMMIT is on its way has an unknown outcome; the
 * store asks the server (`txid_status`) once it can reach it again, so a commit that
 * rejects with a transient error never landed and may be retried as it is.
 */
import pg from 'pg';
import type { TaskvisorEvent } from '../model/events.js';
import type { Json } from '../model/json.js';
import type { Plan } from '../model/plan.js';
import { TERMINAL_PHASES } from '../model/states.js';
import { searchWords } from '../memory/fts-query.js';
import { TaskvisorError } from '../errors.js';
import { pgStoreError } from './pg-errors.js';
import { writeBatch } from './pg-commit.js';
import { PgSignals, type SignalChannels } from './pg-signals.js';
import {
  toArtifactRow,
  toAttemptRow,
  toAuditRow,
  toCommandRow,
  toEpisode,
  toRequestRow,
  toRunRow,
  type RunRecord,
} from './pg-rows.js';
import type { ActorRow, AuditAnchor } from './rows.js';
import type {
  AuditLog,
  Batch,
  CommandInbox,
  CommitResult,
  EventLog,
  LeaseStore,
  LoadedRun,
  RecordStore,
  RunFilter,
  RunStore,
  Store,
  StoreHealth,
} from './store.js';

export interface PgStoreOptions {
  /** Connections in the pool (default 5). */
  readonly poolSize?: number;
  /** How long to wait for a connection, ms (default 5000). */
  readonly connectTimeoutMs?: number;
  /**
   * How long a commit whose connection dropped during COMMIT waits for the server to say
   * whether it landed, ms (default 60 000).
   */
  readonly resolveCommitMs?: number;
}

/** int8 (bigint) columns as numbers: ids, times and sequence numbers stay far below 2^53. */
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as never,
};

export function pgClientConfig(
  connectionString: string,
  schema: string | undefined,
  connectTimeoutMs: number,
): pg.ClientConfig {
  return {
    connectionString,
    application_name: 'taskvisor',
    connectionTimeoutMillis: connectTimeoutMs,
    types: TYPES,
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  };
}

export class PgStore implements Store {
  readonly runs: RunStore;
  readonly leases: LeaseStore;
  readonly events: EventLog;
  readonly inbox: CommandInbox;
  readonly records: RecordStore;
  readonly auditLog: AuditLog;
  readonly signals: PgSignals;
  private closed = false;

  constructor(
    readonly pool: pg.Pool,
    /** The URL for messages (no password). */
    readonly where: string,
    readonly channels: SignalChannels,
    clientConfig: pg.ClientConfig,
    private readonly options: PgStoreOptions = {},
  ) {
    // An idle connection the server dropped must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    this.signals = new PgSignals(clientConfig, channels);
    const q = async <R extends pg.QueryResultRow>(doing: string, sql: string, values: unknown[] = []) => {
      if (this.closed) throw this.closedError(doing);
      try {
        return (await pool.query<R>(sql, values)).rows;
      } catch (error) {
        throw pgStoreError(error, where, doing);
      }
    };

    this.runs = {
      getRun: async (runId) => {
        const rows = await q<RunRecord>('read a run from', 'SELECT * FROM runs WHERE id = $1', [runId]);
        return rows[0] ? toRunRow(rows[0]) : undefined;
      },
      listRuns: async (filter: RunFilter = {}) => {
        const phases =
          filter.phase === undefined ? [] : Array.isArray(filter.phase) ? filter.phase : [filter.phase];
        const where: string[] = [];
        const values: unknown[] = [];
        if (phases.length > 0) {
          values.push(phases);
          where.push(`phase = ANY($${values.length}::text[])`);
        }
        if (filter.before !== undefined) {
          values.push(filter.before);
          where.push(`(created_at, id) < (SELECT created_at, id FROM runs WHERE id = $${values.length})`);
        }
        values.push(filter.limit === undefined ? null : Math.max(0, Math.floor(filter.limit)));
        const rows = await q<RunRecord>(
          'list the runs of',
          `SELECT * FROM runs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY created_at DESC, id DESC LIMIT $${values.length}`,
          values,
        );
        return rows.map(toRunRow);
      },
      loadRun: async (runId): Promise<LoadedRun | undefined> => {
        const [run] = await q<RunRecord>('load a run from', 'SELECT * FROM runs WHERE id = $1', [runId]);
        if (!run) return undefined;
        const [plan] = await q<{ plan: string }>(
          'load a run from',
          'SELECT plan FROM plans WHERE run_id = $1 ORDER BY version DESC LIMIT 1',
          [runId],
        );
        const actors = await q<{
          actor_id: string;
          kind: 'task' | 'step';
          state: string;
          snapshot: string;
          version: number;
          output: string | null;
        }>(
          'load a run from',
          `SELECT a.actor_id, a.kind, a.state, a.snapshot, a.version, o.json AS output
           FROM actors a LEFT JOIN outputs o ON o.run_id = a.run_id AND o.ref = a.output_ref
           WHERE a.run_id = $1 ORDER BY a.id`,
          [runId],
        );
        return {
          run: toRunRow(run),
          ...(plan ? { plan: JSON.parse(plan.plan) as Plan } : {}),
          actors: actors.map((row): ActorRow => ({
            runId,
            actorId: row.actor_id,
            kind: row.kind,
            state: row.state,
            snapshot: JSON.parse(row.snapshot) as unknown,
            ...(row.output === null ? {} : { output: JSON.parse(row.output) as Json }),
            version: row.version,
          })),
          auditHead: { position: run.audit_position, hash: run.audit_hash },
        };
      },
      pruneRuns: (query) => this.prune(query),
    };

    this.leases = {
      acquireLease: async (runId, claim, options) => {
        const rows = await q<{ fence: number }>(
          'take a lease in',
          `UPDATE runs SET owner = $2, owner_host = $3, owner_pid = $4, lease_expires_at = $5::bigint + $6::bigint,
             fence = fence + 1
           WHERE id = $1 AND (owner IS NULL OR owner = $2 OR COALESCE(lease_expires_at, 0) < $5 OR owner = $7)
           RETURNING fence`,
          [runId, claim.owner, claim.host, claim.pid, options.now, options.ttlMs, options.deadHolder ?? null],
        );
        return rows[0]?.fence;
      },
      renewLeases: async (owner, expiresAt) => {
        // Locked in id order, as commits lock runs: no deadlock with a commit.
        await q(
          'renew leases in',
          `UPDATE runs SET lease_expires_at = $2
           WHERE id IN (SELECT id FROM runs WHERE owner = $1 ORDER BY id FOR UPDATE)`,
          [owner, expiresAt],
        );
      },
      releaseLeases: async (owner) => {
        await q(
          'release leases in',
          `WITH released AS (
             UPDATE runs SET owner = NULL, lease_expires_at = NULL
             WHERE id IN (SELECT id FROM runs WHERE owner = $1 ORDER BY id FOR UPDATE)
             RETURNING id
           )
           SELECT pg_notify($2, '') FROM (SELECT count(*) AS n FROM released) AS c WHERE c.n > 0`,
          [owner, channels.runs],
        );
      },
      claimRuns: async (claim, options) => {
        const rows = await q<{
          id: string;
          fence: number;
          created_at: number;
          previous_owner: string | null;
        }>(
          'claim runs in',
          `WITH free AS (
             SELECT id, owner AS previous_owner FROM runs
             WHERE phase <> ALL($1::text[])
               AND (owner IS NULL OR COALESCE(lease_expires_at, 0) < $2 OR owner = ANY($3::text[]))
             ORDER BY created_at, id
             LIMIT $4
             FOR UPDATE SKIP LOCKED
           )
           UPDATE runs SET owner = $5, owner_host = $6, owner_pid = $7,
             lease_expires_at = $2::bigint + $8::bigint, fence = runs.fence + 1
           FROM free WHERE runs.id = free.id
           RETURNING runs.id, runs.fence, runs.created_at, free.previous_owner`,
          [
            [...TERMINAL_PHASES],
            options.now,
            options.deadHolders ?? [],
            Math.max(0, Math.floor(options.limit)),
            claim.owner,
            claim.host,
            claim.pid,
            options.ttlMs,
          ],
        );
        return rows
          .sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id))
          .map((row) => ({ runId: row.id, fence: row.fence, takenOver: row.previous_owner !== null }));
      },
      leaseHolders: async (host, now) =>
        q<{ owner: string; pid: number }>(
          'read the lease holders of',
          `SELECT DISTINCT owner, owner_pid AS pid FROM runs
           WHERE owner IS NOT NULL AND owner_host = $1 AND lease_expires_at >= $2 AND phase <> ALL($3::text[])`,
          [host, now, [...TERMINAL_PHASES]],
        ),
    };

    this.events = {
      readEvents: async (query) => {
        const values: unknown[] = [query.after ?? 0];
        let where = 'e.seq > $1';
        if (query.runId !== undefined) {
          values.push(query.runId);
          where += ` AND e.run_id = $${values.length}`;
        }
        values.push(query.limit === undefined ? null : Math.max(0, Math.floor(query.limit)));
        const rows = await q<{ seq: number; body: string; output: string | null }>(
          'read events from',
          `SELECT e.seq, e.body, o.json AS output FROM events e
           LEFT JOIN outputs o ON o.run_id = e.run_id AND o.ref = e.output_ref
           WHERE ${where} ORDER BY e.seq LIMIT $${values.length}`,
          values,
        );
        return rows.map(
          (row) =>
            ({
              ...(JSON.parse(row.body) as object),
              ...(row.output === null ? {} : { output: JSON.parse(row.output) as Json }),
              seq: row.seq,
            }) as TaskvisorEvent,
        );
      },
      lastSeq: async () => {
        const rows = await q<{ value: number }>(
          'read the last event of',
          "SELECT value FROM counters WHERE name = 'event_seq'",
        );
        return rows[0]?.value ?? 0;
      },
    };

    this.inbox = {
      addCommand: async (runId, command, at) => {
        const rows = await q<{ id: number }>(
          'store a command in',
          `WITH added AS (INSERT INTO commands (run_id, command, created_at) VALUES ($1, $2, $3) RETURNING id)
           SELECT id, pg_notify($4, $1) FROM added`,
          [runId, JSON.stringify(command), at, channels.commands],
        );
        return rows[0]!.id;
      },
      pendingCommands: async () =>
        (
          await q<Record<string, unknown>>(
            'read the commands in',
            'SELECT * FROM commands WHERE applied_at IS NULL ORDER BY id',
          )
        ).map(toCommandRow),
      findRequest: async (query) => {
        const rows =
          'id' in query
            ? await q<Record<string, unknown>>(
                'read a request from',
                'SELECT * FROM requests WHERE id = $1',
                [query.id],
              )
            : await q<Record<string, unknown>>(
                'read a request from',
                'SELECT * FROM requests WHERE run_id = $1 AND step_id = $2 AND key = $3',
                [query.runId, query.stepId, query.key],
              );
        return rows[0] ? toRequestRow(rows[0]) : undefined;
      },
      openRequests: async (runId) =>
        (runId === undefined
          ? await q<Record<string, unknown>>(
              'read the open requests of',
              'SELECT * FROM requests WHERE answered_at IS NULL AND closed_at IS NULL ORDER BY opened_at, id',
            )
          : await q<Record<string, unknown>>(
              'read the open requests of',
              'SELECT * FROM requests WHERE run_id = $1 AND answered_at IS NULL AND closed_at IS NULL ORDER BY opened_at, id',
              [runId],
            )
        ).map(toRequestRow),
      requests: async (runId) =>
        (
          await q<Record<string, unknown>>(
            'read the requests of',
            'SELECT * FROM requests WHERE run_id = $1 ORDER BY opened_at, id',
            [runId],
          )
        ).map(toRequestRow),
    };

    this.records = {
      attempts: async (runId, stepId) =>
        (
          await q<Record<string, unknown>>(
            'read attempts from',
            `SELECT a.*, o.json AS stored_output FROM attempts a
             LEFT JOIN outputs o ON o.run_id = a.run_id AND o.ref = a.output_ref
             WHERE a.run_id = $1 ${stepId === undefined ? 'ORDER BY a.id' : 'AND a.step_id = $2 ORDER BY a.attempt'}`,
            stepId === undefined ? [runId] : [runId, stepId],
          )
        ).map(toAttemptRow),
      artifacts: async (runId) =>
        (
          await q<Record<string, unknown>>(
            'read artifacts from',
            'SELECT * FROM artifacts WHERE run_id = $1 ORDER BY id',
            [runId],
          )
        ).map(toArtifactRow),
      output: async (runId, ref) =>
        (
          await q<{ json: string }>(
            'read an output from',
            'SELECT json FROM outputs WHERE run_id = $1 AND ref = $2',
            [runId, ref],
          )
        )[0]?.json,
      searchEpisodes: async (text, options = {}) => {
        const words = searchWords(text);
        if (words.length === 0) return [];
        const limit = Math.max(1, Math.min(100, Math.floor(options.limit ?? 10)));
        // Each word is letters, digits and _ only, so quoting it keeps tsquery syntax out.
        const query = words.map((word) => `'${word}'`).join(' | ');
        const rows = await q<Record<string, unknown>>(
          'search the episodes of',
          `SELECT e.id, e.run_id, e.step_id, e.kind, e.title, e.body, e.data, e.at, ts_rank(e.search, q) AS rank
           FROM episodes e, to_tsquery('english', $1) AS q
           WHERE e.search @@ q ORDER BY rank DESC, e.id DESC LIMIT $2`,
          [query, limit],
        );
        return rows.map(toEpisode);
      },
    };

    this.auditLog = {
      audit: async (query = {}) =>
        (query.runId === undefined
          ? await q<Record<string, unknown>>('read the audit trail of', 'SELECT * FROM audit ORDER BY id')
          : await q<Record<string, unknown>>(
              'read the audit trail of',
              'SELECT * FROM audit WHERE run_id = $1 ORDER BY position, id',
              [query.runId],
            )
        ).map(toAuditRow),
      auditAnchors: async () =>
        (
          await q<Record<string, unknown>>(
            'read the audit anchors of',
            `SELECT r.id AS run_id, r.created_at, r.audit_position, r.audit_hash,
               GREATEST(
                 COALESCE((SELECT MAX(audit_position) FROM events WHERE run_id = r.id), 0),
                 COALESCE((SELECT MAX(audit_position) FROM attempts WHERE run_id = r.id), 0),
                 COALESCE((SELECT MAX(audit_position) FROM artifacts WHERE run_id = r.id), 0)) AS anchor,
               (SELECT COUNT(*) FROM audit WHERE run_id = r.id)::integer AS rows
             FROM runs r
             UNION ALL
             SELECT a.run_id, NULL, 0, '', 0, COUNT(*)::integer FROM audit a
             WHERE NOT EXISTS (SELECT 1 FROM runs WHERE id = a.run_id) GROUP BY a.run_id`,
          )
        ).map((row): AuditAnchor => ({
          runId: row.run_id as string,
          ...(row.created_at === null ? {} : { createdAt: row.created_at as number }),
          head: { position: row.audit_position as number, hash: row.audit_hash as string },
          anchor: row.anchor as number,
          rows: row.rows as number,
        })),
      auditKeyRecord: async (proposed) => {
        if (proposed !== undefined) {
          await q(
            'write the audit key record of',
            "INSERT INTO taskvisor_meta (key, value) VALUES ('audit_key', $1) ON CONFLICT DO NOTHING",
            [proposed],
          );
        }
        const rows = await q<{ value: string }>(
          'read the audit key record of',
          "SELECT value FROM taskvisor_meta WHERE key = 'audit_key'",
        );
        return rows[0]?.value;
      },
    };
  }

  /** The commit in flight: a store's commits land in the order they were called. */
  private commitTail: Promise<unknown> = Promise.resolve();

  commit(batch: Batch): Promise<CommitResult> {
    if (this.closed) return Promise.reject(this.closedError('commit to'));
    const next = this.commitTail.then(() => this.commitRetrying(batch));
    this.commitTail = next.catch(() => undefined);
    return next;
  }

  private async commitRetrying(batch: Batch): Promise<CommitResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.commitOnce(batch);
      } catch (error) {
        // Two commits (or a commit and a lease renewal) that deadlocked: one was rolled back.
        const code = (error as { code?: unknown }).code;
        if ((code === '40P01' || code === '40001') && attempt < 5) continue;
        throw pgStoreError(error, this.where, 'commit to');
      }
    }
  }

  private async commitOnce(batch: Batch): Promise<CommitResult> {
    const client = await this.pool.connect();
    const release = guardCheckedOut(client);
    let xid: string | undefined;
    let result: CommitResult | undefined;
    let broken: unknown;
    try {
      const begun = (await client.query('BEGIN; SELECT txid_current()::text AS xid')) as unknown as Array<
        pg.QueryResult<{ xid: string }>
      >;
      xid = begun[1]!.rows[0]!.xid;
      result = await writeBatch(client, batch, this.channels.events);
      try {
        await client.query('COMMIT');
      } catch (error) {
        broken = error;
        if (isServerError(error)) throw error;
        // The connection dropped with COMMIT on its way: did it land?
        if (await this.landed(xid)) return result;
        throw error;
      }
      return result;
    } catch (error) {
      broken ??= error;
      if (isServerError(error)) await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      release(broken);
    }
  }

  /** Whether transaction `xid` committed, asked again until the server answers (or the time is up). */
  private async landed(xid: string): Promise<boolean> {
    const until = Date.now() + (this.options.resolveCommitMs ?? 60_000);
    let delay = 50;
    for (;;) {
      try {
        const rows = await this.pool.query<{ status: string | null }>(
          'SELECT txid_status($1::bigint) AS status',
          [xid],
        );
        return rows.rows[0]?.status === 'committed';
      } catch (error) {
        if (Date.now() >= until) {
          throw new TaskvisorError(
            'STORE_UNAVAILABLE',
            `The connection to ${this.where} dropped while a commit was on its way, and the server could not be asked within ${this.options.resolveCommitMs ?? 60_000} ms whether it landed; the supervisor stops so that nothing is written twice. Open it again once the server is back: unfinished runs resume.`,
            { url: this.where, transient: false },
            { cause: error },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(1000, delay * 2);
      }
    }
  }

  /** Deletes whole finished runs (see `RunStore.pruneRuns`), with their audit chains. */
  private async prune(query: { endedBefore: number; phases: readonly string[] }) {
    if (this.closed) throw this.closedError('prune');
    const phases = query.phases.filter((phase) => TERMINAL_PHASES.has(phase as never));
    if (phases.length === 0) return { runIds: [], events: 0 };
    const client = await this.pool.connect().catch((error: unknown) => {
      throw pgStoreError(error, this.where, 'prune');
    });
    const release = guardCheckedOut(client);
    let broken: unknown;
    try {
      await client.query('BEGIN');
      // The audit trail's trigger lets this transaction (and only it) delete whole runs' rows.
      await client.query("SELECT set_config('taskvisor.prune', 'on', true)");
      const runs = await client.query<{ id: string }>(
        'SELECT id FROM runs WHERE phase = ANY($1::text[]) AND updated_at < $2 ORDER BY id FOR UPDATE SKIP LOCKED',
        [phases, query.endedBefore],
      );
      const ids = runs.rows.map((row) => row.id);
      let events = 0;
      if (ids.length > 0) {
        const deleted = await client.query('DELETE FROM events WHERE run_id = ANY($1::text[])', [ids]);
        events = deleted.rowCount ?? 0;
        for (const table of [
          'plans',
          'actors',
          'outputs',
          'attempts',
          'requests',
          'commands',
          'artifacts',
          'audit',
        ]) {
          await client.query(`DELETE FROM ${table} WHERE run_id = ANY($1::text[])`, [ids]);
        }
        await client.query('DELETE FROM runs WHERE id = ANY($1::text[])', [ids]);
      }
      await client.query('COMMIT');
      return { runIds: ids, events };
    } catch (error) {
      broken = error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw pgStoreError(error, this.where, 'prune');
    } finally {
      release(broken);
    }
  }

  async check(): Promise<StoreHealth> {
    if (this.closed) return { state: 'unavailable', detail: this.closedError('read').message };
    try {
      await this.pool.query("SELECT value FROM counters WHERE name = 'event_seq'");
      return { state: 'ok' };
    } catch (error) {
      const mapped = pgStoreError(error, this.where, 'read');
      const code = (mapped as { code?: string }).code;
      const state =
        code === 'STORE_BUSY'
          ? 'busy'
          : code === 'STORE_FULL'
            ? 'full'
            : code === 'STORE_CORRUPT'
              ? 'corrupt'
              : 'unavailable';
      return { state, detail: mapped instanceof Error ? mapped.message : String(mapped) };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.signals.close();
    await this.pool.end().catch(() => undefined);
  }

  private closedError(doing: string): TaskvisorError {
    return new TaskvisorError(
      'STORE_UNAVAILABLE',
      `Could not ${doing} ${this.where}: this store was closed; open a new one (createSupervisor()).`,
      { url: this.where, transient: false },
    );
  }
}

/** An error the server sent (the connection is fine, the transaction is over). */
function isServerError(error: unknown): boolean {
  return error instanceof pg.DatabaseError && !/^(08|57P)/.test(error.code ?? '');
}

/**
 * A client checked out of the pool has no 'error' listener (the pool's is only on idle
 * clients): a connection the server ends between two queries (a restart, 57P01) would throw
 * from the socket. While checked out, such an error marks the client broken instead; the
 * returned function gives it back (destroyed when it broke, or `broken` is a client error).
 */
function guardCheckedOut(client: pg.PoolClient): (broken?: unknown) => void {
  let failed: Error | undefined;
  const onError = (error: Error) => {
    failed ??= error;
  };
  client.on('error', onError);
  return (broken) => {
    client.removeListener('error', onError);
    const error = failed ?? (broken !== undefined && !isServerError(broken) ? (broken as Error) : undefined);
    client.release(error);
  };
}
