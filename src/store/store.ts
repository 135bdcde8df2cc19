/**
 * The storage ports. The runtime speaks only these small interfaces, so a backend
 * (SQLite, PostgreSQL) is a store and nothing more: it stores what a commit hands it,
 * numbers events, keeps leases and fences, and reads rows back. What an audit entry or an
 * episode says, and how the audit chain is linked, is decided above the ports (the
 * runtime's `Persistence`). Each port has its own conformance spec under
 * `test/store/conformance/`, run against every backend.
 *
 * Writes go through `Store.commit`: one atomic batch per flush. Every write of a run is
 * fenced: the batch carries the writer's fence per run, and the backend drops (and
 * reports) every write of a run whose lease has since been taken over.
 *
 * Event order: `seq` comes from one counter row that a commit updates as its last write,
 * so commits take their numbers in commit order and a reader that has seen `seq <= k`
 * can never miss an event committed later with a smaller number. The counter is held
 * only for the rest of one commit (in SQLite the database lock covers it anyway).
 */
import type { TaskvisorEvent, UnsequencedEvent } from '../model/events.js';
import type { Json } from '../model/json.js';
import type { Plan } from '../model/plan.js';
import type { RunPhase } from '../model/states.js';
import type {
  ActorRow,
  ArtifactRow,
  AttemptRow,
  AuditAnchor,
  AuditHead,
  AuditRow,
  ChainedAuditEntry,
  CommandRow,
  Episode,
  EpisodeEntry,
  Lease,
  LeaseClaim,
  OutputRow,
  RequestRow,
  RunRow,
} from './rows.js';

/** An event to store; with `outputRef`, its `output` is stored by reference (see `OutputRow`). */
export interface BatchEvent {
  readonly event: UnsequencedEvent;
  readonly outputRef?: string;
}

/** Everything one flush writes, in one transaction. */
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
  /** Actor rows; with `outputRef`, the actor's output is stored by reference beside its snapshot. */
  readonly actors: ReadonlyArray<
    Omit<ActorRow, 'version' | 'output'> & { readonly updatedAt: number; readonly outputRef?: string }
  >;
  readonly events: readonly BatchEvent[];
  /** Outputs the batch's events, attempts and actors refer to (stored once per run and ref). */
  readonly outputs: readonly OutputRow[];
  readonly attempts: ReadonlyArray<Omit<AttemptRow, 'output'>>;
  readonly requests: ReadonlyArray<
    | { readonly type: 'open'; readonly row: RequestRow }
    | {
        readonly type: 'answer';
        readonly runId: string;
        readonly id: string;
        readonly answer: Json;
        readonly at: number;
        readonly by?: string;
      }
    | { readonly type: 'close'; readonly runId: string; readonly id: string; readonly at: number }
    | { readonly type: 'reopen'; readonly runId: string; readonly id: string }
  >;
  readonly artifacts: ReadonlyArray<Omit<ArtifactRow, 'id'>>;
  /**
   * Commands of the inbox applied (or refused). Fenced like every write of their run,
   * except those marked `unowned`: a command for a run that ended or does not exist,
   * which any process may close.
   */
  readonly commandsApplied: ReadonlyArray<{
    readonly id: number;
    readonly runId: string;
    readonly at: number;
    readonly error?: string;
    readonly unowned?: boolean;
  }>;
  /** Audit rows, already linked into their runs' chains; the last one of a run is its new head. */
  readonly audit: readonly ChainedAuditEntry[];
  readonly episodes: readonly EpisodeEntry[];
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
  /** At most this many (newest first). */
  readonly limit?: number;
  /** Only runs older than this one (the last run of the previous page). */
  readonly before?: string;
}

/** What `loadRun` gives a process that takes a run over. */
export interface LoadedRun {
  readonly run: RunRow;
  readonly plan?: Plan;
  readonly actors: readonly ActorRow[];
  /** The run's audit chain as stored: where its next row links on. */
  readonly auditHead: AuditHead;
}

/** Which finished runs `pruneRuns` deletes. */
export interface PruneQuery {
  /** Runs whose last update (when they ended) is older than this time, in ms. */
  readonly endedBefore: number;
  /** Only runs in these (terminal) phases. */
  readonly phases: readonly RunPhase[];
}

/** Runs: their rows, their latest plan and actor snapshots. */
export interface RunStore {
  getRun(runId: string): Promise<RunRow | undefined>;
  /** Newest first (by creation, then id). */
  listRuns(filter?: RunFilter): Promise<RunRow[]>;
  /** The latest plan version, every actor row and the audit head of a run. */
  loadRun(runId: string): Promise<LoadedRun | undefined>;
  /**
   * Deletes whole finished runs matching `query`, in one transaction: the run row, its plans,
   * actors, events, outputs, attempts, requests, commands, artifacts and audit rows (its audit
   * chain goes with it, so the chains that remain still verify). Episodes are kept: they are
   * the memory later runs recall. Runs that are not finished are never deleted.
   */
  pruneRuns(query: PruneQuery): Promise<{ readonly runIds: readonly string[]; readonly events: number }>;
}

/** One writer per run: leases with expiry and a fencing number. */
export interface LeaseStore {
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
  /** Frees every lease `owner` holds (other processes may claim the runs at once). */
  releaseLeases(owner: string): Promise<void>;
  /**
   * Takes up to `limit` unfinished runs that need a driver — no lease, an expired one, or one
   * held by one of `deadHolders` — oldest first, for `claim`; returns each with its new fence,
   * and `takenOver` when another holder had left its lease behind (it died or froze).
   * Two claimants racing never get the same run (on PostgreSQL: `FOR UPDATE SKIP LOCKED`).
   */
  claimRuns(
    claim: LeaseClaim,
    options: {
      readonly now: number;
      readonly ttlMs: number;
      readonly limit: number;
      readonly deadHolders?: readonly string[];
    },
  ): Promise<Array<{ readonly runId: string; readonly fence: number; readonly takenOver: boolean }>>;
  /** The holders of unexpired leases of unfinished runs on `host` (to check which are alive). */
  leaseHolders(host: string, now: number): Promise<Array<{ readonly owner: string; readonly pid: number }>>;
}

/** The event log, in `seq` order. */
export interface EventLog {
  /** Events with `seq > after`, oldest first, optionally of one run. */
  readEvents(query: {
    readonly after?: number;
    readonly runId?: string;
    readonly limit?: number;
  }): Promise<TaskvisorEvent[]>;
  lastSeq(): Promise<number>;
}

/** What waits for a human and what humans sent: questions and the command inbox. */
export interface CommandInbox {
  /** Stores a command for the run's driver (another process, or the next resume). */
  addCommand(runId: string, command: Json, at: number): Promise<number>;
  pendingCommands(): Promise<CommandRow[]>;
  findRequest(
    query:
      { readonly id: string } | { readonly runId: string; readonly stepId: string; readonly key: string },
  ): Promise<RequestRow | undefined>;
  /** Requests waiting for an answer (neither answered nor closed), of every run or one. */
  openRequests(runId?: string): Promise<RequestRow[]>;
  /** Every request of a run, answered or not, oldest first. */
  requests(runId: string): Promise<RequestRow[]>;
}

/** What runs leave behind: attempts, artifacts, outputs and episodes. */
export interface RecordStore {
  attempts(runId: string, stepId?: string): Promise<AttemptRow[]>;
  artifacts(runId: string): Promise<ArtifactRow[]>;
  /** A stored output by its reference, as its JSON text. */
  output(runId: string, ref: string): Promise<string | undefined>;
  /**
   * Episodes matching words of `text`, most relevant first; any text is safe (it is never
   * parsed as a query language).
   */
  searchEpisodes(text: string, options?: { readonly limit?: number }): Promise<Episode[]>;
}

/** The audit trail as stored: per-run chains, their heads and anchors. */
export interface AuditLog {
  /** Every row (by id), or one run's (by position). */
  audit(query?: { readonly runId?: string }): Promise<AuditRow[]>;
  /** Every run's head and anchor, and runs that have audit rows but no run row. */
  auditAnchors(): Promise<AuditAnchor[]>;
  /**
   * The database's audit-key record (when chains began to be keyed), set to `proposed`
   * when there is none yet; returns what is stored.
   */
  auditKeyRecord(proposed?: string): Promise<string | undefined>;
}

/** How the store is, for `health()`. */
export type StoreState = 'ok' | 'busy' | 'full' | 'unavailable' | 'corrupt';

export interface StoreHealth {
  readonly state: StoreState;
  readonly detail?: string;
}

/** What other processes did, as wake-ups (`StoreSignals.on`). */
export type StoreSignal = 'events' | 'commands' | 'runs';

/**
 * Wake-ups from other processes, for a backend that has them (PostgreSQL's LISTEN/NOTIFY):
 * `events` when a commit stored events, `commands` when a command was stored, `runs` when
 * leases were released. A listener is also called after a lost connection is back (anything
 * may have happened meanwhile), so it catches up from its own cursor. A backend without
 * signals is polled.
 */
export interface StoreSignals {
  /**
   * Calls `listener` on each wake-up of `signal` — for `events`, with the last seq the commit
   * stored (none after a reconnection) — and returns the function that stops it.
   */
  on(signal: StoreSignal, listener: (lastSeq?: number) => void): () => void;
}

/** A backend: the ports, the one atomic write, and its life cycle. */
export interface Store {
  readonly runs: RunStore;
  readonly leases: LeaseStore;
  readonly events: EventLog;
  readonly inbox: CommandInbox;
  readonly records: RecordStore;
  readonly auditLog: AuditLog;
  /** Wake-ups from other processes, when the backend has them. */
  readonly signals?: StoreSignals;
  /** Writes a batch atomically (see `Batch.fences` for fencing). */
  commit(batch: Batch): Promise<CommitResult>;
  /** Whether the store can be read and written, checked now (cheaply). */
  check(): Promise<StoreHealth>;
  close(): Promise<void>;
}
