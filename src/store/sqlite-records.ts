/**
 * The records `SqliteStore` derives from every commit, inside the commit's transaction: the
 * hash-chained audit trail (`audit`, `audit_head`) and the episodes of episodic memory
 * (`episodes`, searched through the FTS5 table `episodes_fts`). Both tables come with schema
 * version 2; the statements are prepared when first used.
 */
import type Database from 'better-sqlite3';
import { type AuditEntry, type AuditRow, auditEntriesOf } from '../audit/audit-entries.js';
import {
  type AuditHead,
  type AuditVerification,
  chainEntries,
  GENESIS_HASH,
  verifyAuditChain,
} from '../audit/hash-chain.js';
import { type Episode, type EpisodeEntry, episodesOf, type RunFacts } from '../memory/episodes.js';
import { toFtsQuery } from '../memory/fts-query.js';
import type { UnsequencedEvent } from '../model/events.js';
import type { Json } from '../model/json.js';
import type { Plan } from '../model/plan.js';
import type { Batch } from './store.js';

interface AuditRecord {
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

export class SqliteRecords {
  private readonly statements;

  constructor(private readonly db: Database.Database) {
    const prepare = (sql: string) => db.prepare(sql);
    this.statements = {
      auditHead: prepare('SELECT last_id, hash FROM audit_head WHERE one = 1'),
      setAuditHead: prepare(
        'INSERT INTO audit_head (one, last_id, hash) VALUES (1, ?, ?) ON CONFLICT (one) DO UPDATE SET last_id = excluded.last_id, hash = excluded.hash',
      ),
      insertAudit: prepare(
        `INSERT INTO audit (id, at, run_id, step_id, action, by, details, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      allAudit: prepare('SELECT * FROM audit ORDER BY id'),
      runAudit: prepare('SELECT * FROM audit WHERE run_id = ? ORDER BY id'),
      insertEpisode: prepare(
        'INSERT INTO episodes (run_id, step_id, kind, title, body, data, at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      searchEpisodes: prepare(
        `SELECT e.*, bm25(episodes_fts, 2.0, 1.0) AS rank
         FROM episodes_fts JOIN episodes e ON e.id = episodes_fts.rowid
         WHERE episodes_fts MATCH ? ORDER BY rank, e.id DESC LIMIT ?`,
      ),
      run: prepare('SELECT goal FROM runs WHERE id = ?'),
      latestPlan: prepare('SELECT plan FROM plans WHERE run_id = ? ORDER BY version DESC LIMIT 1'),
      stepTransitions: prepare(
        "SELECT body FROM events WHERE run_id = ? AND type = 'step.transition' ORDER BY seq",
      ),
    };
  }

  /**
   * Writes the audit rows and episodes of what `batch` wrote (the runs in `lost` wrote
   * nothing). Call it inside the batch's transaction.
   */
  write(batch: Batch, lost: ReadonlySet<string>): void {
    const landed = <T extends { readonly runId: string }>(rows: readonly T[]) =>
      lost.size === 0 ? rows : rows.filter((row) => !lost.has(row.runId));
    const events: readonly UnsequencedEvent[] = landed(batch.events);
    const artifacts = landed(batch.artifacts);
    const entries = auditEntriesOf({ events, attempts: landed(batch.attempts), artifacts });
    if (entries.length > 0) this.appendAudit(entries);
    const episodes = episodesOf({ events, artifacts }, (runId) => this.runFacts(runId));
    for (const episode of episodes) this.insertEpisode(episode);
  }

  audit(runId?: string): AuditRow[] {
    const rows = (
      runId === undefined ? this.statements.allAudit.all() : this.statements.runAudit.all(runId)
    ) as AuditRecord[];
    return rows.map(toAuditRow);
  }

  verify(): AuditVerification {
    const s = this.statements;
    // One read transaction: the rows and the head are seen as of the same commit.
    return this.db
      .transaction(() => {
        const rows = (s.allAudit.iterate() as IterableIterator<AuditRecord>)[Symbol.iterator]();
        const mapped: Iterable<AuditRow> = {
          *[Symbol.iterator]() {
            for (let next = rows.next(); !next.done; next = rows.next()) yield toAuditRow(next.value);
          },
        };
        try {
          return verifyAuditChain(mapped, this.head());
        } finally {
          rows.return?.();
        }
      })
      .deferred();
  }

  search(text: string, limit: number): Episode[] {
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

  private head(): AuditHead {
    const stored = this.statements.auditHead.get() as { last_id: number; hash: string } | undefined;
    return stored ? { lastId: stored.last_id, hash: stored.hash } : { lastId: 0, hash: GENESIS_HASH };
  }

  private appendAudit(entries: readonly AuditEntry[]): void {
    const s = this.statements;
    const chained = chainEntries(this.head(), entries);
    for (const row of chained.rows) {
      s.insertAudit.run(
        row.id,
        row.at,
        row.runId,
        row.stepId ?? null,
        row.action,
        row.by ?? null,
        JSON.stringify(row.details),
        row.prevHash,
        row.hash,
      );
    }
    s.setAuditHead.run(chained.head.lastId, chained.head.hash);
  }

  private insertEpisode(episode: EpisodeEntry): void {
    this.statements.insertEpisode.run(
      episode.runId,
      episode.stepId ?? null,
      episode.kind,
      episode.title,
      episode.text,
      episode.data === undefined ? null : JSON.stringify(episode.data),
      episode.at,
    );
  }

  /** The goal and each step's last state of a run that is ending, for its summary episode. */
  private runFacts(runId: string): RunFacts | undefined {
    const run = this.statements.run.get(runId) as { goal: string } | undefined;
    if (!run) return undefined;
    const plan = this.statements.latestPlan.get(runId) as { plan: string } | undefined;
    const kinds = new Map(
      (plan ? (JSON.parse(plan.plan) as Plan).steps : []).map((step) => [step.id, step.action.kind]),
    );
    const last = new Map<string, { state: string; reason?: string; error?: string }>();
    for (const stepId of kinds.keys()) last.set(stepId, { state: 'pending' });
    for (const row of this.statements.stepTransitions.all(runId) as Array<{ body: string }>) {
      const event = JSON.parse(row.body) as {
        stepId: string;
        to: string;
        reason?: string;
        error?: { message: string };
      };
      last.set(event.stepId, {
        state: event.to,
        ...(event.reason ? { reason: event.reason } : {}),
        ...(event.error ? { error: event.error.message } : {}),
      });
    }
    return {
      goal: run.goal,
      steps: [...last].map(([stepId, outcome]) => ({
        stepId,
        ...(kinds.has(stepId) ? { kind: kinds.get(stepId)! } : {}),
        ...outcome,
      })),
    };
  }
}

function toAuditRow(record: AuditRecord): AuditRow {
  let details: AuditRow['details'];
  try {
    const parsed = JSON.parse(record.details) as unknown;
    details =
      parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
        ? (parsed as AuditRow['details'])
        : { value: parsed as Json };
  } catch {
    // A row edited into invalid JSON still verifies (as changed) instead of throwing.
    details = { unparsable: record.details };
  }
  return {
    id: record.id,
    at: record.at,
    runId: record.run_id,
    ...(record.step_id === null ? {} : { stepId: record.step_id }),
    action: record.action,
    ...(record.by === null ? {} : { by: record.by }),
    details,
    prevHash: record.prev_hash,
    hash: record.hash,
  };
}
