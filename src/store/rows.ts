/**
 * The rows the store ports speak: what a backend stores and hands back. Plain data, typed
 * from the model only — nothing here knows how audit entries or episodes are derived
 * (the runtime does that, `src/audit/`, `src/memory/`), so every backend stays a store.
 */
import type { Json } from '../model/json.js';
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
  /** The actor's output, stored once beside its snapshot (see `OutputRow`). */
  readonly output?: Json;
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
  /** The reference of `output` (see `OutputRow`), when it has one. */
  readonly outputRef?: string;
  readonly error?: { readonly message: string; readonly code?: string; readonly retryable?: boolean };
}

/**
 * A step output, stored once per run and referred to by events, attempts and actor rows:
 * `ref` is the SHA-256 (hex) of `json`, the output's JSON text, so the database grows by
 * one copy of an output however many rows mention it, and an edited output no longer
 * matches its reference.
 */
export interface OutputRow {
  readonly runId: string;
  readonly ref: string;
  readonly json: string;
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

/** One audited fact, before it is chained. */
export interface AuditEntry {
  readonly at: number;
  readonly runId: string;
  readonly stepId?: string;
  /** What happened, as a namespaced name: `plan.approved`, `step.failed`, `shell.exited`, ... */
  readonly action: string;
  /** Who did it, when a human did (`approvePlan({ by })`, `answer({ by })`, ...). */
  readonly by?: string;
  readonly details: { readonly [key: string]: Json };
}

/** An audit entry linked into its run's chain (what a commit stores). */
export interface ChainedAuditEntry extends AuditEntry {
  /** 1 for the run's first row, then one more per row. */
  readonly position: number;
  /** The `hash` of the run's row before it (64 zeros for its first row). */
  readonly prevHash: string;
  /** SHA-256 (or, with an audit key, HMAC-SHA-256) over `prevHash` and the row's content. */
  readonly hash: string;
  /** Whether `hash` is an HMAC under the audit key. */
  readonly keyed: boolean;
}

/** A stored audit row: a chained entry and its id (ids order rows across runs). */
export interface AuditRow extends ChainedAuditEntry {
  readonly id: number;
}

/** The last link of a run's audit chain (position 0 and the genesis hash when empty). */
export interface AuditHead {
  readonly position: number;
  readonly hash: string;
}

/**
 * What anchors one run's audit chain, for verification: the head kept with the run, and
 * the highest chain position the run's events, attempts and artifacts were written with
 * (each row records the chain's length as of its commit), which a rewound head does not
 * move.
 */
export interface AuditAnchor {
  readonly runId: string;
  /** When the run was created; undefined when the run row is gone but audit rows remain. */
  readonly createdAt?: number;
  readonly head: AuditHead;
  readonly anchor: number;
  /** Audit rows stored for the run. */
  readonly rows: number;
}

export type EpisodeKind = 'delegation' | 'run';

/** An episode before it is stored. */
export interface EpisodeEntry {
  readonly runId: string;
  readonly stepId?: string;
  readonly kind: EpisodeKind;
  /** One line: what happened. Matches count more in the title than in the text. */
  readonly title: string;
  readonly text: string;
  readonly at: number;
  /** Structured facts (agent, outcome, phase, ...). */
  readonly data?: Json;
}

/** A stored episode; `score` (higher is more relevant) is set by a search. */
export interface Episode extends EpisodeEntry {
  readonly id: number;
  readonly score?: number;
}
