/**
 * The store ports on SQLite (better-sqlite3): WAL, `synchronous=NORMAL` by default
 * (`durability: 'full'` for FULL), prepared statements, one IMMEDIATE transaction per
 * commit. It stores what it is given, numbers events from the counter row, fences every
 * write of a run, and maps SQLite's failures to `STORE_*` errors.
 */
import type Database from 'better-sqlite3';
import type { TaskvisorEvent } from '../model/events.js';
import type { Json } from '../model/json.js';
import type { Plan } from '../model/plan.js';
import { isTerminalPhase, type RunPhase } from '../model/states.js';
import { toFtsQuery } from '../memory/fts-query.js';
import type { Migration } from './migrations.js';
import type {
  ActorRow,
  ArtifactRow,
  AttemptRow,
  AuditAnchor,
  AuditRow,
  CommandRow,
  Episode,
  RequestRow,
  RunRow,
} from './rows.js';
import { claimRunsSync, leaseHoldersSync, pruneRunsSync } from './sqlite-claims.js';
import { storeError } from './sqlite-errors.js';
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

export interface SqliteStoreOptions {
  /** `normal` (default): WAL with synchronous=NORMAL; `full`: synchronous=FULL (an fsync per commit). */
  readonly durability?: 'normal' | 'full';
  /** How long a statement waits for another process's transaction, in ms (default 5000). */
  readonly busyTimeoutMs?: number;
  /** Check files up to this many bytes with `PRAGMA quick_check` on open (default 64 MiB; 0: never). */
  readonly quickCheckMaxBytes?: number;
  /** For tests of the migration runner. */
  readonly migrations?: readonly Migration[];
}

interface RunRecord {
  id: string;
  goal: string;
  phase: RunPhase;
  created_at: number;
  updated_at: number;
  plan_version: number;
  metadata: string | null;
  owner: string | null;
  owner_host: string | null;
  owner_pid: number | null;
  lease_expires_at: number | null;
  fence: number;
  audit_position: number;
  audit_hash: string;
}

function toRunRow(record: RunRecord): RunRow {
  return {
    id: record.id,
    goal: record.goal,
    phase: record.phase,
    createdAt: record.created_at,
    updatedAt: record.updated_at,
    planVersion: record.plan_version,
    ...(record.metadata ? { metadata: JSON.parse(record.metadata) as Record<string, Json> } : {}),
    ...(record.owner
      ? {
          lease: {
            owner: record.owner,
            host: record.owner_host ?? '',
            pid: record.owner_pid ?? 0,
            expiresAt: record.lease_expires_at ?? 0,
            fence: record.fence,
          },
        }
      : {}),
  };
}

const parse = <T>(text: string | null | undefined): T | undefined =>
  text === null || text === undefined ? undefined : (JSON.parse(text) as T);

function prepareStatements(db: Database.Database) {
  const prepare = (sql: string) => db.prepare(sql);
  return {
    runFence: prepare('SELECT fence, audit_position FROM runs WHERE id = ?'),
    insertRun: prepare(
      `INSERT INTO runs (id, goal, phase, created_at, updated_at, plan_version, metadata, owner, owner_host, owner_pid, lease_expires_at, fence)
       VALUES (@id, @goal, @phase, @createdAt, @updatedAt, @planVersion, @metadata, @owner, @host, @pid, @expiresAt, @fence)`,
    ),
    updateRun: prepare(
      `UPDATE runs SET phase = @phase, plan_version = @planVersion, updated_at = @updatedAt,
         owner = CASE WHEN @terminal THEN NULL ELSE owner END,
         lease_expires_at = CASE WHEN @terminal THEN NULL ELSE lease_expires_at END
       WHERE id = @id`,
    ),
    setAuditHead: prepare('UPDATE runs SET audit_position = ?, audit_hash = ? WHERE id = ?'),
    insertPlan: prepare('INSERT OR REPLACE INTO plans (run_id, version, plan) VALUES (?, ?, ?)'),
    insertOutput: prepare('INSERT OR IGNORE INTO outputs (run_id, ref, json) VALUES (?, ?, ?)'),
    upsertActor: prepare(
      `INSERT INTO actors (run_id, actor_id, kind, state, snapshot, output_ref, fence, version, updated_at)
       VALUES (@runId, @actorId, @kind, @state, @snapshot, @outputRef, @fence, 1, @updatedAt)
       ON CONFLICT (run_id, actor_id) DO UPDATE SET
         kind = excluded.kind, state = excluded.state, snapshot = excluded.snapshot,
         output_ref = excluded.output_ref, fence = excluded.fence, version = actors.version + 1,
         updated_at = excluded.updated_at`,
    ),
    counter: prepare("SELECT value FROM counters WHERE name = 'event_seq'"),
    setCounter: prepare("UPDATE counters SET value = ? WHERE name = 'event_seq'"),
    insertEvent: prepare(
      'INSERT INTO events (seq, run_id, step_id, type, at, body, output_ref, audit_position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    upsertAttempt: prepare(
      `INSERT INTO attempts (run_id, step_id, attempt, idempotency_key, status, started_at, ended_at, output_ref, error, audit_position)
       VALUES (@runId, @stepId, @attempt, @idempotencyKey, @status, @startedAt, @endedAt, @outputRef, @error, @auditPosition)
       ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET
         status = excluded.status, ended_at = excluded.ended_at, output = NULL,
         output_ref = excluded.output_ref, error = excluded.error, audit_position = excluded.audit_position`,
    ),
    openRequest: prepare(
      `INSERT OR IGNORE INTO requests (id, run_id, step_id, key, question, options, opened_at)
       VALUES (@id, @runId, @stepId, @key, @question, @options, @openedAt)`,
    ),
    answerRequest: prepare(
      'UPDATE requests SET answer = ?, answered_at = ?, answered_by = ? WHERE id = ? AND run_id = ? AND answered_at IS NULL AND closed_at IS NULL',
    ),
    closeRequest: prepare(
      'UPDATE requests SET closed_at = ? WHERE id = ? AND run_id = ? AND answered_at IS NULL',
    ),
    reopenRequest: prepare(
      'UPDATE requests SET closed_at = NULL WHERE id = ? AND run_id = ? AND answered_at IS NULL',
    ),
    insertArtifact: prepare(
      'INSERT INTO artifacts (run_id, step_id, kind, name, body, at, audit_position) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    applyCommand: prepare(
      'UPDATE commands SET applied_at = ?, error = ? WHERE id = ? AND run_id = ? AND applied_at IS NULL',
    ),
    insertAudit: prepare(
      `INSERT INTO audit (run_id, position, at, step_id, action, by, details, prev_hash, hash, keyed)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertEpisode: prepare(
      'INSERT INTO episodes (run_id, step_id, kind, title, body, data, at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    getRun: prepare('SELECT * FROM runs WHERE id = ?'),
    latestPlan: prepare('SELECT plan FROM plans WHERE run_id = ? ORDER BY version DESC LIMIT 1'),
    actorsOf: prepare(
      `SELECT a.actor_id, a.kind, a.state, a.snapshot, a.version, o.json AS output
       FROM actors a LEFT JOIN outputs o ON o.run_id = a.run_id AND o.ref = a.output_ref
       WHERE a.run_id = ? ORDER BY a.id`,
    ),
    takeLease: prepare(
      `UPDATE runs SET owner = @owner, owner_host = @host, owner_pid = @pid, lease_expires_at = @expiresAt, fence = fence + 1
       WHERE id = @id`,
    ),
    renewLeases: prepare('UPDATE runs SET lease_expires_at = ? WHERE owner = ?'),
    releaseLeases: prepare('UPDATE runs SET owner = NULL, lease_expires_at = NULL WHERE owner = ?'),
    eventsAfter: prepare(
      `SELECT e.seq, e.body, o.json AS output FROM events e
       LEFT JOIN outputs o ON o.run_id = e.run_id AND o.ref = e.output_ref
       WHERE e.seq > ? ORDER BY e.seq LIMIT ?`,
    ),
    runEventsAfter: prepare(
      `SELECT e.seq, e.body, o.json AS output FROM events e
       LEFT JOIN outputs o ON o.run_id = e.run_id AND o.ref = e.output_ref
       WHERE e.run_id = ? AND e.seq > ? ORDER BY e.seq LIMIT ?`,
    ),
    attemptsOfRun: prepare(
      `SELECT a.*, o.json AS stored_output FROM attempts a
       LEFT JOIN outputs o ON o.run_id = a.run_id AND o.ref = a.output_ref
       WHERE a.run_id = ? ORDER BY a.id`,
    ),
    attemptsOfStep: prepare(
      `SELECT a.*, o.json AS stored_output FROM attempts a
       LEFT JOIN outputs o ON o.run_id = a.run_id AND o.ref = a.output_ref
       WHERE a.run_id = ? AND a.step_id = ? ORDER BY a.attempt`,
    ),
    output: prepare('SELECT json FROM outputs WHERE run_id = ? AND ref = ?'),
    requestById: prepare('SELECT * FROM requests WHERE id = ?'),
    requestByKey: prepare('SELECT * FROM requests WHERE run_id = ? AND step_id = ? AND key = ?'),
    openRequests: prepare(
      'SELECT * FROM requests WHERE answered_at IS NULL AND closed_at IS NULL ORDER BY opened_at, id',
    ),
    openRequestsOfRun: prepare(
      'SELECT * FROM requests WHERE run_id = ? AND answered_at IS NULL AND closed_at IS NULL ORDER BY opened_at, id',
    ),
    artifactsOf: prepare('SELECT * FROM artifacts WHERE run_id = ? ORDER BY id'),
    requestsOf: prepare('SELECT * FROM requests WHERE run_id = ? ORDER BY opened_at, id'),
    addCommand: prepare('INSERT INTO commands (run_id, command, created_at) VALUES (?, ?, ?)'),
    pendingCommands: prepare('SELECT * FROM commands WHERE applied_at IS NULL ORDER BY id'),
    allAudit: prepare('SELECT * FROM audit ORDER BY id'),
    runAudit: prepare('SELECT * FROM audit WHERE run_id = ? ORDER BY position, id'),
    auditAnchors: prepare(
      `SELECT r.id AS run_id, r.created_at, r.audit_position, r.audit_hash,
         MAX(COALESCE((SELECT MAX(audit_position) FROM events WHERE run_id = r.id), 0),
             COALESCE((SELECT MAX(audit_position) FROM attempts WHERE run_id = r.id), 0),
             COALESCE((SELECT MAX(audit_position) FROM artifacts WHERE run_id = r.id), 0)) AS anchor,
         (SELECT COUNT(*) FROM audit WHERE run_id = r.id) AS rows
       FROM runs r
       UNION ALL
       SELECT a.run_id, NULL, 0, '', 0, COUNT(*) FROM audit a
       WHERE NOT EXISTS (SELECT 1 FROM runs WHERE id = a.run_id) GROUP BY a.run_id`,
    ),
    meta: prepare('SELECT value FROM taskvisor_meta WHERE key = ?'),
    setMetaOnce: prepare('INSERT OR IGNORE INTO taskvisor_meta (key, value) VALUES (?, ?)'),
    searchEpisodes: prepare(
      `SELECT e.*, bm25(episodes_fts, 2.0, 1.0) AS rank
       FROM episodes_fts JOIN episodes e ON e.id = episodes_fts.rowid
       WHERE episodes_fts MATCH ? ORDER BY rank, e.id DESC LIMIT ?`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

export class SqliteStore implements Store {
  readonly runs: RunStore;
  readonly leases: LeaseStore;
  readonly events: EventLog;
  readonly inbox: CommandInbox;
  readonly records: RecordStore;
  readonly auditLog: AuditLog;
  private prepared?: Statements;
  /** The commit, as one IMMEDIATE transaction (prepared once). */
  private readonly writeBatch: Database.Transaction<(batch: Batch) => CommitResult>;
  private closed = false;

  constructor(
    readonly db: Database.Database,
    readonly file: string,
    readonly options: SqliteStoreOptions = {},
  ) {
    // Statements are prepared on first use (a store opened by a migration test may not have every table).
    this.writeBatch = db.transaction((batch: Batch) => this.writeBatchSync(batch));
    const read =
      <A extends unknown[], R>(doing: string, body: (...args: A) => R) =>
      async (...args: A): Promise<Awaited<R>> =>
        this.guard(doing, () => body(...args)) as Awaited<R>;

    this.runs = {
      getRun: read('read a run from', (runId: string) => {
        const record = this.statements.getRun.get(runId) as RunRecord | undefined;
        return record ? toRunRow(record) : undefined;
      }),
      listRuns: read('list the runs of', (filter: RunFilter = {}) => this.listRunsSync(filter)),
      loadRun: read('load a run from', (runId: string): LoadedRun | undefined => {
        const record = this.statements.getRun.get(runId) as RunRecord | undefined;
        if (!record) return undefined;
        const plan = this.statements.latestPlan.get(runId) as { plan: string } | undefined;
        const actors = (
          this.statements.actorsOf.all(runId) as Array<{
            actor_id: string;
            kind: 'task' | 'step';
            state: string;
            snapshot: string;
            version: number;
            output: string | null;
          }>
        ).map((row): ActorRow => ({
          runId,
          actorId: row.actor_id,
          kind: row.kind,
          state: row.state,
          snapshot: JSON.parse(row.snapshot) as unknown,
          ...(row.output === null ? {} : { output: JSON.parse(row.output) as Json }),
          version: row.version,
        }));
        return {
          run: toRunRow(record),
          ...(plan ? { plan: JSON.parse(plan.plan) as Plan } : {}),
          actors,
          auditHead: { position: record.audit_position, hash: record.audit_hash },
        };
      }),
      pruneRuns: read('prune the runs of', (query) => pruneRunsSync(db, query)) as RunStore['pruneRuns'],
    };

    this.leases = {
      acquireLease: read('take a lease in', (runId, claim, options) => {
        let fence: number | undefined;
        db.transaction(() => {
          const record = this.statements.getRun.get(runId) as RunRecord | undefined;
          if (!record) return;
          const free =
            record.owner === null ||
            record.owner === claim.owner ||
            (record.lease_expires_at ?? 0) < options.now ||
            (options.deadHolder !== undefined && record.owner === options.deadHolder);
          if (!free) return;
          this.statements.takeLease.run({
            id: runId,
            owner: claim.owner,
            host: claim.host,
            pid: claim.pid,
            expiresAt: options.now + options.ttlMs,
          });
          fence = record.fence + 1;
        }).immediate();
        return fence;
      }) as LeaseStore['acquireLease'],
      renewLeases: read('renew leases in', (owner: string, expiresAt: number) => {
        this.statements.renewLeases.run(expiresAt, owner);
      }),
      releaseLeases: read('release leases in', (owner: string) => {
        this.statements.releaseLeases.run(owner);
      }),
      claimRuns: read('claim runs in', (claim, options) =>
        claimRunsSync(db, claim, options),
      ) as LeaseStore['claimRuns'],
      leaseHolders: read('read the lease holders of', (host: string, now: number) =>
        leaseHoldersSync(db, host, now),
      ),
    };

    this.events = {
      readEvents: read('read events from', (query: { after?: number; runId?: string; limit?: number }) => {
        const after = query.after ?? 0;
        const limit = query.limit ?? -1;
        const rows = (
          query.runId === undefined
            ? this.statements.eventsAfter.all(after, limit)
            : this.statements.runEventsAfter.all(query.runId, after, limit)
        ) as Array<{ seq: number; body: string; output: string | null }>;
        return rows.map(
          (row) =>
            ({
              ...(JSON.parse(row.body) as object),
              ...(row.output === null ? {} : { output: JSON.parse(row.output) as Json }),
              seq: row.seq,
            }) as TaskvisorEvent,
        );
      }),
      lastSeq: read(
        'read the last event of',
        () => (this.statements.counter.get() as { value: number }).value,
      ),
    };

    this.inbox = {
      addCommand: read('store a command in', (runId: string, command: Json, at: number) =>
        Number(this.statements.addCommand.run(runId, JSON.stringify(command), at).lastInsertRowid),
      ),
      pendingCommands: read('read the commands in', () =>
        (this.statements.pendingCommands.all() as Array<Record<string, unknown>>).map((row): CommandRow => ({
          id: row.id as number,
          runId: row.run_id as string,
          command: JSON.parse(row.command as string) as Json,
          createdAt: row.created_at as number,
        })),
      ),
      findRequest: read('read a request from', (query) => {
        const row = (
          'id' in query
            ? this.statements.requestById.get(query.id)
            : this.statements.requestByKey.get(query.runId, query.stepId, query.key)
        ) as Record<string, unknown> | undefined;
        return row ? toRequestRow(row) : undefined;
      }) as CommandInbox['findRequest'],
      openRequests: read('read the open requests of', (runId?: string) =>
        (
          (runId === undefined
            ? this.statements.openRequests.all()
            : this.statements.openRequestsOfRun.all(runId)) as Array<Record<string, unknown>>
        ).map(toRequestRow),
      ),
      requests: read('read the requests of', (runId: string) =>
        (this.statements.requestsOf.all(runId) as Array<Record<string, unknown>>).map(toRequestRow),
      ),
    };

    this.records = {
      attempts: read('read attempts from', (runId: string, stepId?: string) =>
        (
          (stepId === undefined
            ? this.statements.attemptsOfRun.all(runId)
            : this.statements.attemptsOfStep.all(runId, stepId)) as Array<Record<string, unknown>>
        ).map(toAttemptRow),
      ),
      artifacts: read('read artifacts from', (runId: string) =>
        (this.statements.artifactsOf.all(runId) as Array<Record<string, unknown>>).map(
          (row): ArtifactRow => ({
            id: row.id as number,
            runId: row.run_id as string,
            ...(row.step_id === null ? {} : { stepId: row.step_id as string }),
            kind: row.kind as string,
            name: row.name as string,
            body: JSON.parse(row.body as string) as Json,
            at: row.at as number,
          }),
        ),
      ),
      output: read('read an output from', (runId: string, ref: string) => {
        const row = this.statements.output.get(runId, ref) as { json: string } | undefined;
        return row?.json;
      }),
      searchEpisodes: read('search the episodes of', (text: string, options: { limit?: number } = {}) =>
        this.searchSync(text, options.limit ?? 10),
      ),
    };

    this.auditLog = {
      audit: read('read the audit trail of', (query: { runId?: string } = {}) =>
        (
          (query.runId === undefined
            ? this.statements.allAudit.all()
            : this.statements.runAudit.all(query.runId)) as Array<Record<string, unknown>>
        ).map(toAuditRow),
      ),
      auditAnchors: read('read the audit anchors of', () =>
        (this.statements.auditAnchors.all() as Array<Record<string, unknown>>).map((row): AuditAnchor => ({
          runId: row.run_id as string,
          ...(row.created_at === null ? {} : { createdAt: row.created_at as number }),
          head: { position: row.audit_position as number, hash: row.audit_hash as string },
          anchor: row.anchor as number,
          rows: row.rows as number,
        })),
      ),
      auditKeyRecord: read('read the audit key record of', (proposed?: string) => {
        if (proposed !== undefined) this.statements.setMetaOnce.run('audit_key', proposed);
        return (this.statements.meta.get('audit_key') as { value: string } | undefined)?.value;
      }),
    };
  }

  private get statements(): Statements {
    this.prepared ??= prepareStatements(this.db);
    return this.prepared;
  }

  async commit(batch: Batch): Promise<CommitResult> {
    return this.commitSync(batch);
  }

  /** `commit`, synchronously (the SQLite backend has nothing to wait for). */
  commitSync(batch: Batch): CommitResult {
    try {
      return this.writeBatch.immediate(batch);
    } catch (error) {
      throw storeError(error, this.file, 'commit to');
    }
  }

  async check(): Promise<StoreHealth> {
    try {
      this.db.prepare('SELECT 1 FROM counters LIMIT 1').get();
      return { state: 'ok' };
    } catch (error) {
      const mapped = storeError(error, this.file, 'read');
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
    this.db.close();
  }

  /** Runs a read, mapping SQLite's failures (and reads after close) to `STORE_*` errors. */
  private guard<R>(doing: string, body: () => R): R {
    try {
      return body();
    } catch (error) {
      throw storeError(error, this.file, doing);
    }
  }

  private listRunsSync(filter: RunFilter): RunRow[] {
    const phases =
      filter.phase === undefined ? [] : Array.isArray(filter.phase) ? filter.phase : [filter.phase];
    const where: string[] = [];
    const params: unknown[] = [];
    if (phases.length > 0) {
      where.push(`phase IN (${phases.map(() => '?').join(', ')})`);
      params.push(...phases);
    }
    if (filter.before !== undefined) {
      where.push('(created_at, id) < (SELECT created_at, id FROM runs WHERE id = ?)');
      params.push(filter.before);
    }
    params.push(filter.limit === undefined ? -1 : Math.max(0, Math.floor(filter.limit)));
    const rows = this.db
      .prepare(
        `SELECT * FROM runs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`,
      )
      .all(...params) as RunRecord[];
    return rows.map(toRunRow);
  }

  private searchSync(text: string, limit: number): Episode[] {
    const query = toFtsQuery(text);
    if (query === undefined) return [];
    const bounded = Math.max(1, Math.min(100, Math.floor(limit)));
    const rows = this.statements.searchEpisodes.all(query, bounded) as Array<Record<string, unknown>>;
    return rows.map((row) => ({
      id: row.id as number,
      runId: row.run_id as string,
      ...(row.step_id === null ? {} : { stepId: row.step_id as string }),
      kind: row.kind as Episode['kind'],
      title: row.title as string,
      text: row.body as string,
      at: row.at as number,
      ...(row.data === null ? {} : { data: JSON.parse(row.data as string) as Json }),
      // bm25 is lower for better matches; a score is higher.
      score: -(row.rank as number),
    }));
  }

  private writeBatchSync(batch: Batch): CommitResult {
    const s = this.statements;
    // Fencing: a run whose stored fence is newer than the writer's was taken over.
    const lost = new Set<string>();
    const positions = new Map<string, number>();
    for (const [runId, fence] of batch.fences) {
      const row = s.runFence.get(runId) as { fence: number; audit_position: number } | undefined;
      if (row && row.fence > fence) lost.add(runId);
      else positions.set(runId, row?.audit_position ?? 0);
    }
    const lands = (runId: string) => batch.fences.has(runId) && !lost.has(runId);
    // The chain head each run reaches with this commit: what its rows are anchored with.
    const heads = new Map<string, { position: number; hash: string }>();
    for (const row of batch.audit) if (lands(row.runId)) heads.set(row.runId, row);
    for (const [runId, head] of heads) positions.set(runId, head.position);
    const anchor = (runId: string) => positions.get(runId) ?? 0;

    for (const run of batch.runs) {
      if (run.type === 'insert') {
        if (!lands(run.row.id)) continue;
        s.insertRun.run({
          id: run.row.id,
          goal: run.row.goal,
          phase: run.row.phase,
          createdAt: run.row.createdAt,
          updatedAt: run.row.updatedAt,
          planVersion: run.row.planVersion,
          metadata: run.row.metadata ? JSON.stringify(run.row.metadata) : null,
          owner: run.lease.owner,
          host: run.lease.host,
          pid: run.lease.pid,
          expiresAt: run.lease.expiresAt,
          fence: run.lease.fence,
        });
      } else if (lands(run.id)) {
        s.updateRun.run({
          id: run.id,
          phase: run.phase,
          planVersion: run.planVersion,
          updatedAt: run.updatedAt,
          terminal: isTerminalPhase(run.phase) ? 1 : 0,
        });
      }
    }
    for (const plan of batch.plans)
      if (lands(plan.runId)) s.insertPlan.run(plan.runId, plan.version, JSON.stringify(plan.plan));
    for (const output of batch.outputs)
      if (lands(output.runId)) s.insertOutput.run(output.runId, output.ref, output.json);
    for (const actor of batch.actors) {
      if (!lands(actor.runId)) continue;
      s.upsertActor.run({
        runId: actor.runId,
        actorId: actor.actorId,
        kind: actor.kind,
        state: actor.state,
        snapshot: JSON.stringify(actor.snapshot),
        outputRef: actor.outputRef ?? null,
        fence: batch.fences.get(actor.runId) ?? 0,
        updatedAt: actor.updatedAt,
      });
    }
    for (const attempt of batch.attempts) {
      if (!lands(attempt.runId)) continue;
      s.upsertAttempt.run({
        runId: attempt.runId,
        stepId: attempt.stepId,
        attempt: attempt.attempt,
        idempotencyKey: attempt.idempotencyKey,
        status: attempt.status,
        startedAt: attempt.startedAt,
        endedAt: attempt.endedAt ?? null,
        outputRef: attempt.outputRef ?? null,
        error: attempt.error === undefined ? null : JSON.stringify(attempt.error),
        auditPosition: anchor(attempt.runId),
      });
    }
    for (const request of batch.requests) {
      if (request.type === 'open') {
        if (!lands(request.row.runId)) continue;
        s.openRequest.run({
          id: request.row.id,
          runId: request.row.runId,
          stepId: request.row.stepId,
          key: request.row.key,
          question: request.row.question,
          options: request.row.options ? JSON.stringify(request.row.options) : null,
          openedAt: request.row.openedAt,
        });
      } else if (!lands(request.runId)) {
        continue;
      } else if (request.type === 'answer') {
        s.answerRequest.run(
          JSON.stringify(request.answer),
          request.at,
          request.by ?? null,
          request.id,
          request.runId,
        );
      } else if (request.type === 'close') {
        s.closeRequest.run(request.at, request.id, request.runId);
      } else {
        s.reopenRequest.run(request.id, request.runId);
      }
    }
    for (const artifact of batch.artifacts) {
      if (!lands(artifact.runId)) continue;
      s.insertArtifact.run(
        artifact.runId,
        artifact.stepId ?? null,
        artifact.kind,
        artifact.name,
        JSON.stringify(artifact.body),
        artifact.at,
        anchor(artifact.runId),
      );
    }
    for (const applied of batch.commandsApplied)
      if (applied.unowned || lands(applied.runId))
        s.applyCommand.run(applied.at, applied.error ?? null, applied.id, applied.runId);
    for (const row of batch.audit) {
      if (!lands(row.runId)) continue;
      s.insertAudit.run(
        row.runId,
        row.position,
        row.at,
        row.stepId ?? null,
        row.action,
        row.by ?? null,
        JSON.stringify(row.details),
        row.prevHash,
        row.hash,
        row.keyed ? 1 : 0,
      );
    }
    for (const [runId, head] of heads) s.setAuditHead.run(head.position, head.hash, runId);
    for (const episode of batch.episodes) {
      if (!lands(episode.runId)) continue;
      s.insertEpisode.run(
        episode.runId,
        episode.stepId ?? null,
        episode.kind,
        episode.title,
        episode.text,
        episode.data === undefined ? null : JSON.stringify(episode.data),
        episode.at,
      );
    }
    // Events last: the counter row is taken as the commit's final write.
    const stored: TaskvisorEvent[] = [];
    let seq = (s.counter.get() as { value: number }).value;
    for (const { event, outputRef } of batch.events) {
      if (!lands(event.runId)) continue;
      seq += 1;
      let body: object = event;
      if (outputRef !== undefined && 'output' in event) {
        const { output: _stored, ...rest } = event;
        body = rest;
      }
      s.insertEvent.run(
        seq,
        event.runId,
        'stepId' in event && typeof event.stepId === 'string' ? event.stepId : null,
        event.type,
        event.at,
        JSON.stringify(body),
        outputRef ?? null,
        anchor(event.runId),
      );
      stored.push({ ...event, seq } as TaskvisorEvent);
    }
    if (stored.length > 0) s.setCounter.run(seq);
    const notFenced = [
      ...new Set(batch.runs.map((run) => (run.type === 'insert' ? run.row.id : run.id))),
    ].filter((runId) => !batch.fences.has(runId));
    return { events: stored, lostRuns: [...lost, ...notFenced] };
  }
}

function toAttemptRow(row: Record<string, unknown>): AttemptRow {
  // Attempts written before outputs were stored once keep theirs inline.
  const output = (row.stored_output ?? row.output) as string | null;
  return {
    runId: row.run_id as string,
    stepId: row.step_id as string,
    attempt: row.attempt as number,
    idempotencyKey: row.idempotency_key as string,
    status: row.status as AttemptRow['status'],
    startedAt: row.started_at as number,
    ...(row.ended_at === null ? {} : { endedAt: row.ended_at as number }),
    ...(output === null ? {} : { output: JSON.parse(output) as Json }),
    ...(row.output_ref === null ? {} : { outputRef: row.output_ref as string }),
    ...(row.error === null ? {} : { error: parse<AttemptRow['error']>(row.error as string) }),
  };
}

function toRequestRow(row: Record<string, unknown>): RequestRow {
  return {
    id: row.id as string,
    runId: row.run_id as string,
    stepId: row.step_id as string,
    key: row.key as string,
    question: row.question as string,
    ...(row.options === null ? {} : { options: JSON.parse(row.options as string) as RequestRow['options'] }),
    openedAt: row.opened_at as number,
    ...(row.closed_at === null || row.closed_at === undefined ? {} : { closedAt: row.closed_at as number }),
    ...(row.answered_at === null
      ? {}
      : {
          answer: JSON.parse(row.answer as string) as Json,
          answeredAt: row.answered_at as number,
          ...(row.answered_by === null ? {} : { answeredBy: row.answered_by as string }),
        }),
  };
}

function toAuditRow(row: Record<string, unknown>): AuditRow {
  let details: AuditRow['details'];
  try {
    const parsed = JSON.parse(row.details as string) as unknown;
    details =
      parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
        ? (parsed as AuditRow['details'])
        : { value: parsed as Json };
  } catch {
    // A row edited into invalid JSON still verifies (as changed) instead of throwing.
    details = { unparsable: row.details as string };
  }
  return {
    id: row.id as number,
    runId: row.run_id as string,
    position: row.position as number,
    at: row.at as number,
    ...(row.step_id === null ? {} : { stepId: row.step_id as string }),
    action: row.action as string,
    ...(row.by === null ? {} : { by: row.by as string }),
    details,
    prevHash: row.prev_hash as string,
    hash: row.hash as string,
    keyed: row.keyed === 1,
  };
}
