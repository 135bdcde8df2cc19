/**
 * `Store` on SQLite (better-sqlite3): WAL, `synchronous=NORMAL` by default (`durability:
 * 'full'` for FULL), prepared statements, one IMMEDIATE transaction per batch.
 */
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AuditRow } from '../audit/audit-entries.js';
import type { AuditVerification } from '../audit/hash-chain.js';
import { TaskvisorError } from '../errors.js';
import type { Episode } from '../memory/episodes.js';
import type { TaskvisorEvent } from '../model/events.js';
import type { Json } from '../model/json.js';
import type { Plan } from '../model/plan.js';
import { isTerminalPhase, type RunPhase } from '../model/states.js';
import { type Migration, MIGRATIONS, migrate, refuseNewer, SCHEMA_VERSION } from './migrations.js';
import { SqliteRecords } from './sqlite-records.js';
import type {
  ActorRow,
  ArtifactRow,
  AttemptRow,
  Batch,
  CommandRow,
  CommitResult,
  LeaseClaim,
  RequestRow,
  RunFilter,
  RunRow,
  Store,
} from './store.js';

export const DEFAULT_DB_PATH = path.join('.taskvisor', 'taskvisor.db');

export interface SqliteStoreOptions {
  /** `normal` (default): WAL with synchronous=NORMAL; `full`: synchronous=FULL (an fsync per commit). */
  readonly durability?: 'normal' | 'full';
  /** How long a writer waits for another process's transaction, in ms (default 5000). */
  readonly busyTimeoutMs?: number;
  /** For tests of the migration runner. */
  readonly migrations?: readonly Migration[];
}

const SQLITE_HEADER = 'SQLite format 3\0';
const SQLITE_HEADER_BYTES = 20;

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

function parseJson<T>(text: string | null | undefined): T | undefined {
  return text === null || text === undefined ? undefined : (JSON.parse(text) as T);
}

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
  const db = new Database(file, { timeout: options.busyTimeoutMs ?? 5000 });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
    migrate(db, migrations, file);
  } catch (error) {
    db.close();
    throw error;
  }
  return new SqliteStore(db, file);
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

export class SqliteStore implements Store {
  private readonly statements;
  /** The batch writer, as one IMMEDIATE transaction (prepared once). */
  private readonly writeBatch: Database.Transaction<(batch: Batch) => CommitResult>;
  private closed = false;

  constructor(
    readonly db: Database.Database,
    readonly file: string,
  ) {
    const prepare = (sql: string) => db.prepare(sql);
    this.statements = {
      runFence: prepare('SELECT fence FROM runs WHERE id = ?'),
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
      insertPlan: prepare('INSERT OR REPLACE INTO plans (run_id, version, plan) VALUES (?, ?, ?)'),
      upsertActor: prepare(
        `INSERT INTO actors (run_id, actor_id, kind, state, snapshot, fence, version, updated_at)
         VALUES (@runId, @actorId, @kind, @state, @snapshot, @fence, 1, @updatedAt)
         ON CONFLICT (run_id, actor_id) DO UPDATE SET
           kind = excluded.kind, state = excluded.state, snapshot = excluded.snapshot,
           fence = excluded.fence, version = actors.version + 1, updated_at = excluded.updated_at`,
      ),
      lastSeq: prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM events'),
      insertEvent: prepare(
        'INSERT INTO events (seq, run_id, step_id, type, at, body) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      upsertAttempt: prepare(
        `INSERT INTO attempts (run_id, step_id, attempt, idempotency_key, status, started_at, ended_at, output, error)
         VALUES (@runId, @stepId, @attempt, @idempotencyKey, @status, @startedAt, @endedAt, @output, @error)
         ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET
           status = excluded.status, ended_at = excluded.ended_at, output = excluded.output, error = excluded.error`,
      ),
      openRequest: prepare(
        `INSERT OR IGNORE INTO requests (id, run_id, step_id, key, question, options, opened_at)
         VALUES (@id, @runId, @stepId, @key, @question, @options, @openedAt)`,
      ),
      answerRequest: prepare(
        'UPDATE requests SET answer = ?, answered_at = ?, answered_by = ? WHERE id = ? AND answered_at IS NULL AND closed_at IS NULL',
      ),
      closeRequest: prepare('UPDATE requests SET closed_at = ? WHERE id = ? AND answered_at IS NULL'),
      reopenRequest: prepare('UPDATE requests SET closed_at = NULL WHERE id = ? AND answered_at IS NULL'),
      insertArtifact: prepare(
        'INSERT INTO artifacts (run_id, step_id, kind, name, body, at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      applyCommand: prepare(
        'UPDATE commands SET applied_at = ?, error = ? WHERE id = ? AND applied_at IS NULL',
      ),
      getRun: prepare('SELECT * FROM runs WHERE id = ?'),
      latestPlan: prepare('SELECT plan FROM plans WHERE run_id = ? ORDER BY version DESC LIMIT 1'),
      actorsOf: prepare(
        'SELECT run_id, actor_id, kind, state, snapshot, version FROM actors WHERE run_id = ? ORDER BY id',
      ),
      takeLease: prepare(
        `UPDATE runs SET owner = @owner, owner_host = @host, owner_pid = @pid, lease_expires_at = @expiresAt, fence = fence + 1
         WHERE id = @id`,
      ),
      renewLeases: prepare('UPDATE runs SET lease_expires_at = ? WHERE owner = ?'),
      releaseLeases: prepare('UPDATE runs SET owner = NULL, lease_expires_at = NULL WHERE owner = ?'),
      eventsAfter: prepare('SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?'),
      runEventsAfter: prepare(
        'SELECT seq, body FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      attemptsOfRun: prepare('SELECT * FROM attempts WHERE run_id = ? ORDER BY id'),
      attemptsOfStep: prepare('SELECT * FROM attempts WHERE run_id = ? AND step_id = ? ORDER BY attempt'),
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
    };
    this.writeBatch = db.transaction((batch: Batch) => this.writeBatchSync(batch));
  }

  async commit(batch: Batch): Promise<CommitResult> {
    return this.commitSync(batch);
  }

  /** `commit`, synchronously (the SQLite backend has nothing to wait for). */
  commitSync(batch: Batch): CommitResult {
    return this.writeBatch.immediate(batch);
  }

  private writeBatchSync(batch: Batch): CommitResult {
    const s = this.statements;
    const stored: TaskvisorEvent[] = [];
    const lost = new Set<string>();
    for (const [runId, fence] of batch.fences) {
      const row = s.runFence.get(runId) as { fence: number } | undefined;
      if (row && row.fence > fence) lost.add(runId);
    }
    for (const run of batch.runs) {
      if (run.type === 'insert') {
        if (lost.has(run.row.id)) continue;
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
      } else if (!lost.has(run.id)) {
        s.updateRun.run({
          id: run.id,
          phase: run.phase,
          planVersion: run.planVersion,
          updatedAt: run.updatedAt,
          terminal: isTerminalPhase(run.phase) ? 1 : 0,
        });
      }
    }
    for (const plan of batch.plans) {
      if (!lost.has(plan.runId)) s.insertPlan.run(plan.runId, plan.version, JSON.stringify(plan.plan));
    }
    for (const actor of batch.actors) {
      if (lost.has(actor.runId)) continue;
      s.upsertActor.run({
        runId: actor.runId,
        actorId: actor.actorId,
        kind: actor.kind,
        state: actor.state,
        snapshot: JSON.stringify(actor.snapshot),
        fence: batch.fences.get(actor.runId) ?? 0,
        updatedAt: actor.updatedAt,
      });
    }
    for (const attempt of batch.attempts) {
      if (lost.has(attempt.runId)) continue;
      s.upsertAttempt.run({
        runId: attempt.runId,
        stepId: attempt.stepId,
        attempt: attempt.attempt,
        idempotencyKey: attempt.idempotencyKey,
        status: attempt.status,
        startedAt: attempt.startedAt,
        endedAt: attempt.endedAt ?? null,
        output: attempt.output === undefined ? null : JSON.stringify(attempt.output),
        error: attempt.error === undefined ? null : JSON.stringify(attempt.error),
      });
    }
    for (const request of batch.requests) {
      if (request.type === 'open') {
        if (lost.has(request.row.runId)) continue;
        s.openRequest.run({
          id: request.row.id,
          runId: request.row.runId,
          stepId: request.row.stepId,
          key: request.row.key,
          question: request.row.question,
          options: request.row.options ? JSON.stringify(request.row.options) : null,
          openedAt: request.row.openedAt,
        });
      } else if (request.type === 'answer') {
        s.answerRequest.run(JSON.stringify(request.answer), request.at, request.by ?? null, request.id);
      } else if (request.type === 'close') {
        s.closeRequest.run(request.at, request.id);
      } else {
        s.reopenRequest.run(request.id);
      }
    }
    for (const artifact of batch.artifacts) {
      if (lost.has(artifact.runId)) continue;
      s.insertArtifact.run(
        artifact.runId,
        artifact.stepId ?? null,
        artifact.kind,
        artifact.name,
        JSON.stringify(artifact.body),
        artifact.at,
      );
    }
    for (const applied of batch.commandsApplied)
      s.applyCommand.run(applied.at, applied.error ?? null, applied.id);
    let seq = (s.lastSeq.get() as { seq: number }).seq;
    for (const event of batch.events) {
      if (lost.has(event.runId)) continue;
      seq += 1;
      const withSeq = { ...event, seq } as TaskvisorEvent;
      s.insertEvent.run(
        seq,
        event.runId,
        'stepId' in event && typeof event.stepId === 'string' ? event.stepId : null,
        event.type,
        event.at,
        JSON.stringify(event),
      );
      stored.push(withSeq);
    }
    this.records.write(batch, lost);
    return { events: stored, lostRuns: [...lost] };
  }

  async getRun(runId: string): Promise<RunRow | undefined> {
    const record = this.statements.getRun.get(runId) as RunRecord | undefined;
    return record ? toRunRow(record) : undefined;
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRow[]> {
    const phases =
      filter.phase === undefined ? [] : Array.isArray(filter.phase) ? filter.phase : [filter.phase];
    const where = phases.length > 0 ? `WHERE phase IN (${phases.map(() => '?').join(', ')})` : '';
    const limit = filter.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(filter.limit))}`;
    const rows = this.db
      .prepare(`SELECT * FROM runs ${where} ORDER BY created_at DESC, id DESC${limit}`)
      .all(...phases) as RunRecord[];
    return rows.map(toRunRow);
  }

  async loadRun(runId: string): Promise<{ run: RunRow; plan?: Plan; actors: ActorRow[] } | undefined> {
    const record = this.statements.getRun.get(runId) as RunRecord | undefined;
    if (!record) return undefined;
    const plan = this.statements.latestPlan.get(runId) as { plan: string } | undefined;
    const actors = (
      this.statements.actorsOf.all(runId) as Array<{
        run_id: string;
        actor_id: string;
        kind: 'task' | 'step';
        state: string;
        snapshot: string;
        version: number;
      }>
    ).map((row) => ({
      runId: row.run_id,
      actorId: row.actor_id,
      kind: row.kind,
      state: row.state,
      snapshot: JSON.parse(row.snapshot) as unknown,
      version: row.version,
    }));
    return { run: toRunRow(record), ...(plan ? { plan: JSON.parse(plan.plan) as Plan } : {}), actors };
  }

  async acquireLease(
    runId: string,
    claim: LeaseClaim,
    options: { readonly now: number; readonly ttlMs: number; readonly deadHolder?: string },
  ): Promise<number | undefined> {
    let fence: number | undefined;
    this.db
      .transaction(() => {
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
      })
      .immediate();
    return fence;
  }

  async renewLeases(owner: string, expiresAt: number): Promise<void> {
    this.statements.renewLeases.run(expiresAt, owner);
  }

  async releaseLeases(owner: string): Promise<void> {
    this.statements.releaseLeases.run(owner);
  }

  async readEvents(query: { after?: number; runId?: string; limit?: number }): Promise<TaskvisorEvent[]> {
    const after = query.after ?? 0;
    const limit = query.limit ?? -1;
    const rows = (
      query.runId === undefined
        ? this.statements.eventsAfter.all(after, limit)
        : this.statements.runEventsAfter.all(query.runId, after, limit)
    ) as Array<{ seq: number; body: string }>;
    return rows.map((row) => ({ ...(JSON.parse(row.body) as object), seq: row.seq }) as TaskvisorEvent);
  }

  async lastSeq(): Promise<number> {
    return (this.statements.lastSeq.get() as { seq: number }).seq;
  }

  async attempts(runId: string, stepId?: string): Promise<AttemptRow[]> {
    const rows = (
      stepId === undefined
        ? this.statements.attemptsOfRun.all(runId)
        : this.statements.attemptsOfStep.all(runId, stepId)
    ) as Array<Record<string, unknown>>;
    return rows.map((row) => ({
      runId: row.run_id as string,
      stepId: row.step_id as string,
      attempt: row.attempt as number,
      idempotencyKey: row.idempotency_key as string,
      status: row.status as AttemptRow['status'],
      startedAt: row.started_at as number,
      ...(row.ended_at === null ? {} : { endedAt: row.ended_at as number }),
      ...(row.output === null ? {} : { output: parseJson<Json>(row.output as string) }),
      ...(row.error === null ? {} : { error: parseJson<AttemptRow['error']>(row.error as string) }),
    }));
  }

  async findRequest(
    query: { id: string } | { runId: string; stepId: string; key: string },
  ): Promise<RequestRow | undefined> {
    const row = (
      'id' in query
        ? this.statements.requestById.get(query.id)
        : this.statements.requestByKey.get(query.runId, query.stepId, query.key)
    ) as Record<string, unknown> | undefined;
    return row ? toRequestRow(row) : undefined;
  }

  async openRequests(runId?: string): Promise<RequestRow[]> {
    const rows = (
      runId === undefined ? this.statements.openRequests.all() : this.statements.openRequestsOfRun.all(runId)
    ) as Array<Record<string, unknown>>;
    return rows.map(toRequestRow);
  }

  async requests(runId: string): Promise<RequestRow[]> {
    return (this.statements.requestsOf.all(runId) as Array<Record<string, unknown>>).map(toRequestRow);
  }

  async artifacts(runId: string): Promise<ArtifactRow[]> {
    const rows = this.statements.artifactsOf.all(runId) as Array<Record<string, unknown>>;
    return rows.map((row) => ({
      id: row.id as number,
      runId: row.run_id as string,
      ...(row.step_id === null ? {} : { stepId: row.step_id as string }),
      kind: row.kind as string,
      name: row.name as string,
      body: JSON.parse(row.body as string) as Json,
      at: row.at as number,
    }));
  }

  private recordStore?: SqliteRecords;

  /** The audit trail and episodes, set up on first use (their tables come with schema v2). */
  private get records(): SqliteRecords {
    this.recordStore ??= new SqliteRecords(this.db);
    return this.recordStore;
  }

  async audit(query: { runId?: string } = {}): Promise<AuditRow[]> {
    return this.records.audit(query.runId);
  }

  async verifyAudit(): Promise<AuditVerification> {
    return this.records.verify();
  }

  async searchEpisodes(text: string, options: { limit?: number } = {}): Promise<Episode[]> {
    return this.records.search(text, options.limit ?? 10);
  }

  async addCommand(runId: string, command: Json, at: number): Promise<number> {
    return Number(this.statements.addCommand.run(runId, JSON.stringify(command), at).lastInsertRowid);
  }

  async pendingCommands(): Promise<CommandRow[]> {
    const rows = this.statements.pendingCommands.all() as Array<Record<string, unknown>>;
    return rows.map((row) => ({
      id: row.id as number,
      runId: row.run_id as string,
      command: JSON.parse(row.command as string) as Json,
      createdAt: row.created_at as number,
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
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
