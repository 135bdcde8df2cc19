/**
 * The storage port. The runtime speaks only this interface, so a second backend (such
 * as PostgreSQL with `FOR UPDATE SKIP LOCKED` leases) can replace `SqliteStore`; every
 * backend must pass `test/store/store-conformance.ts`.
 *
 * Writes go through `commit`: one atomic batch per flush. Fencing: each batch carries the
 * writer's fence per run, and the backend drops (and reports) the writes of a run whose
 * lease has since been taken over by a newer fence.
 */
import type { AuditRow } from '../audit/audit-entries.js';
import type { AuditVerification } from '../audit/hash-chain.js';
import type { Episode } from '../memory/episodes.js';
import type { TaskvisorEvent, UnsequencedEvent } from '../model/events.js';
import type { Json } from '../model/json.js';
import type { Plan } from '../model/plan.js';
import type { RunPhase } from '../model/states.js';

export interface RunRow {
  readonly id: string;
  readonly goal: string;
  readonly phase: RunPhase;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly planVersion: number;
  readonly metadata?: Record<string, Json>;
  readonly lease?: Lease;
}

export interface Lease {
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
  readonly expiresAt: number;
  readonly fence: number;
}

/** Who wants a lease: a process-unique owner id, its host and pid. */
export interface LeaseClaim {
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
}

export interface ActorRow {
  readonly runId: string;
  /** `task`, or the step id. */
  readonly actorId: string;
  readonly kind: 'task' | 'step';
  /** The phase or step state, for queries. */
  readonly state: string;
  /** The actor's own persisted snapshot (XState's format, without its step children). */
  readonly snapshot: unknown;
  /** Writes so far (1 for the first). */
  readonly version: number;
}

export type AttemptStatus = 'started' | 'succeeded' | 'failed' | 'aborted';

export interface AttemptRow {
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  readonly idempotencyKey: string;
  readonly status: AttemptStatus;
  readonly startedAt: number;
  readonly endedAt?: number;
  readonly output?: Json;
  readonly error?: { readonly message: string; readonly code?: string; readonly retryable?: boolean };
}

export interface RequestRow {
  readonly id: string;
  readonly runId: string;
  readonly stepId: string;
  readonly key: string;
  readonly question: string;
  readonly options?: ReadonlyArray<{ readonly id: string; readonly label: string }>;
  readonly openedAt: number;
  readonly answer?: Json;
  readonly answeredAt?: number;
  readonly answeredBy?: string;
  /** When the step stopped waiting without an answer; a closed request takes no answer. */
  readonly closedAt?: number;
}

export interface CommandRow {
  readonly id: number;
  readonly runId: string;
  readonly command: Json;
  readonly createdAt: number;
  readonly appliedAt?: number;
  readonly error?: string;
}

export interface ArtifactRow {
  readonly id: number;
  readonly runId: string;
  readonly stepId?: string;
  readonly kind: string;
  readonly name: string;
  readonly body: Json;
  readonly at: number;
}

/**
 * Everything one flush writes, in one transaction. The backend also derives, in that same
 * transaction, the audit rows (`auditEntriesOf`, hash-chained) and the episodes
 * (`episodesOf`) of what it writes, so neither can disagree with the log.
 */
export interface Batch {
  /** New runs, or new facts about existing ones (phase, plan version). */
  readonly runs: ReadonlyArray<
    | {
        readonly type: 'insert';
        readonly row: Omit<RunRow, 'lease'>;
        readonly lease: Lease;
      }
    | {
        readonly type: 'update';
        readonly id: string;
        readonly phase: RunPhase;
        readonly planVersion: number;
        readonly updatedAt: number;
      }
  >;
  readonly plans: ReadonlyArray<{ readonly runId: string; readonly version: number; readonly plan: Plan }>;
  readonly actors: ReadonlyArray<Omit<ActorRow, 'version'> & { readonly updatedAt: number }>;
  readonly events: readonly UnsequencedEvent[];
  readonly attempts: readonly AttemptRow[];
  readonly requests: ReadonlyArray<
    | { readonly type: 'open'; readonly row: RequestRow }
    | {
        readonly type: 'answer';
        readonly id: string;
        readonly answer: Json;
        readonly at: number;
        readonly by?: string;
      }
    | { readonly type: 'close'; readonly id: string; readonly at: number }
    | { readonly type: 'reopen'; readonly id: string }
  >;
  readonly artifacts: ReadonlyArray<Omit<ArtifactRow, 'id'>>;
  readonly commandsApplied: ReadonlyArray<{
    readonly id: number;
    readonly at: number;
    readonly error?: string;
  }>;
  /** The writer's fence for every run this batch writes to (new runs included). */
  readonly fences: ReadonlyMap<string, number>;
}

export interface CommitResult {
  /** The events as stored, with their `seq`, in order. */
  readonly events: readonly TaskvisorEvent[];
  /** Runs whose writes were dropped because another process holds a newer lease. */
  readonly lostRuns: readonly string[];
}

export interface RunFilter {
  readonly phase?: RunPhase | readonly RunPhase[];
  readonly limit?: number;
}

export interface Store {
  /** Writes a batch atomically (see `Batch.fences` for fencing). */
  commit(batch: Batch): Promise<CommitResult>;

  getRun(runId: string): Promise<RunRow | undefined>;
  /** Newest first. */
  listRuns(filter?: RunFilter): Promise<RunRow[]>;
  /** The latest plan version and every actor row of a run. */
  loadRun(runId: string): Promise<{ run: RunRow; plan?: Plan; actors: ActorRow[] } | undefined>;

  /**
   * Takes the run's lease for `claim` when it is free, expired, already the claimant's, or
   * held by `deadHolder` (a holder the caller found to be gone). Returns the new fence, or
   * undefined when someone else holds it.
   */
  acquireLease(
    runId: string,
    claim: LeaseClaim,
    options: { readonly now: number; readonly ttlMs: number; readonly deadHolder?: string },
  ): Promise<number | undefined>;
  /** Extends every lease `owner` holds. */
  renewLeases(owner: string, expiresAt: number): Promise<void>;
  releaseLeases(owner: string): Promise<void>;

  /** Events with `seq > after`, oldest first, optionally of one run. */
  readEvents(query: {
    readonly after?: number;
    readonly runId?: string;
    readonly limit?: number;
  }): Promise<TaskvisorEvent[]>;
  lastSeq(): Promise<number>;

  attempts(runId: string, stepId?: string): Promise<AttemptRow[]>;
  findRequest(
    query:
      { readonly id: string } | { readonly runId: string; readonly stepId: string; readonly key: string },
  ): Promise<RequestRow | undefined>;
  /** Requests waiting for an answer (neither answered nor closed). */
  openRequests(runId?: string): Promise<RequestRow[]>;
  /** Every request of a run, answered or not, oldest first. */
  requests(runId: string): Promise<RequestRow[]>;
  artifacts(runId: string): Promise<ArtifactRow[]>;

  /** The audit trail, oldest first: every row, or one run's. */
  audit(query?: { readonly runId?: string }): Promise<AuditRow[]>;
  /** Checks the whole hash chain of the audit trail. */
  verifyAudit(): Promise<AuditVerification>;
  /**
   * Episodes matching words of `text`, most relevant first; any text is safe (it is never
   * parsed as a query language).
   */
  searchEpisodes(text: string, options?: { readonly limit?: number }): Promise<Episode[]>;

  /** Stores a command for the run's owner (another process, or the next resume). */
  addCommand(runId: string, command: Json, at: number): Promise<number>;
  pendingCommands(): Promise<CommandRow[]>;

  close(): Promise<void>;
}
