/**
 * Durable before observable. The persistence loop watches every actor of the system
 * through XState's inspection API, stages what changed (the latest snapshot of each
 * changed actor, one transition event per transition, attempt journal rows, ...), and
 * commits it in one transaction per flush. Only after the commit are the events handed
 * to the bus, and only then do `durable()` waiters (an action about to run, an API call
 * about to return) go on.
 *
 * A flush writes the actors that changed, never the others: its cost does not grow with
 * the plan or the number of runs.
 */
import type { AnyActor, AnyMachineSnapshot, InspectionEvent } from 'xstate';
import { auditEntriesOf } from '../audit/audit-entries.js';
import { chainEntries, EMPTY_HEAD, sha256 } from '../audit/hash-chain.js';
import type { Clock } from '../clock.js';
import { episodesOf, type RunFacts } from '../memory/episodes.js';
import type { TaskvisorEvent, UnsequencedEvent } from '../model/events.js';
import { SETTLED_STEP_STATES } from '../model/states.js';
import type { Json } from '../model/json.js';
import type { Plan } from '../model/plan.js';
import { TaskvisorEventSchema } from '../model/events.js';
import type {
  ActorRow,
  AttemptRow,
  AuditEntry,
  AuditHead,
  ChainedAuditEntry,
  Lease,
  OutputRow,
  RequestRow,
  RunRow,
} from '../store/rows.js';
import { isTransientStoreError } from '../store/store-errors.js';
import type { Batch, BatchEvent, Store } from '../store/store.js';
import type { StoreFaults } from './store-faults.js';
import {
  type ActorFacts,
  type ActorKind,
  deriveEvents,
  factsOf,
  persistStep,
  persistTask,
} from './snapshots.js';

interface StagedActor {
  readonly ref: AnyActor;
  readonly kind: ActorKind;
  readonly runId: string;
  readonly actorId: string;
  /** The last live snapshot seen (read from the actor at flush time when unset). */
  snapshot?: AnyMachineSnapshot;
}

type BatchRun = Batch['runs'][number];
type BatchRequest = Batch['requests'][number];
type BatchArtifact = Batch['artifacts'][number];

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
  /** A caller's wait: rejected with the fault's error once a fault lasts longer than this. */
  readonly boundMs?: number;
}

class Stage {
  runs: BatchRun[] = [];
  plans: Array<{ runId: string; version: number; plan: Plan }> = [];
  actors = new Map<string, StagedActor>();
  newborn: AnyActor[] = [];
  events: UnsequencedEvent[] = [];
  attempts = new Map<string, AttemptRow>();
  requests: BatchRequest[] = [];
  artifacts: BatchArtifact[] = [];
  commandsApplied: Array<Batch['commandsApplied'][number]> = [];
  waiters: Waiter[] = [];

  get empty(): boolean {
    return (
      this.runs.length === 0 &&
      this.plans.length === 0 &&
      this.actors.size === 0 &&
      this.newborn.length === 0 &&
      this.events.length === 0 &&
      this.attempts.size === 0 &&
      this.requests.length === 0 &&
      this.artifacts.length === 0 &&
      this.commandsApplied.length === 0
    );
  }
}

export interface PersistenceOptions {
  readonly store: Store;
  readonly clock: Clock;
  /** Committed events, in `seq` order. */
  readonly onCommitted: (events: readonly TaskvisorEvent[]) => void;
  /** Runs whose lease another process took over: stop driving them. */
  readonly onLost: (runIds: readonly string[]) => void;
  /** The store failed: the supervisor cannot go on. */
  readonly onFatal: (error: unknown) => void;
  /** The audit key: chains are HMAC-SHA-256 under it (plain SHA-256 without one). */
  readonly auditKey?: string;
  /** Where a failing commit is reported (and cleared once a commit lands again). */
  readonly faults: StoreFaults;
}

/** The first retry of a commit that failed transiently, in ms; it doubles up to the cap. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 2_000;

/** What persistence keeps of a run it writes: its goal (for its summary) and audit head. */
interface OwnedRun {
  fence: number;
  goal: string;
  head: AuditHead;
}

const key = (runId: string, actorId: string) => `${runId}\u0000${actorId}`;

export class Persistence {
  private stage = new Stage();
  private inflight?: Stage;
  private flushing = false;
  private scheduled = false;
  private readonly facts = new Map<string, ActorFacts>();
  private readonly owned = new Map<string, OwnedRun>();
  /** Restored actors whose rows are already stored (not written again when created). */
  private readonly restored = new Set<string>();
  /** Unanswered requests of each step (by actor key): closed when the step settles. */
  private readonly openRequests = new Map<string, Set<string>>();
  private fatal?: unknown;
  private stopped = false;
  /** The batch of the in-flight stage, kept across retries (its audit heads already moved). */
  private pendingBatch?: Batch;
  private retryTimer?: unknown;
  private retries = 0;

  constructor(private readonly options: PersistenceOptions) {}

  /** This process drives `runId` with lease `fence`; its audit chain goes on from `head`. */
  own(runId: string, fence: number, run: { readonly goal: string; readonly head: AuditHead }): void {
    this.owned.set(runId, { fence, goal: run.goal, head: run.head });
  }

  disown(runId: string): void {
    this.owned.delete(runId);
    for (const id of [...this.facts.keys()]) if (id.startsWith(`${runId}\u0000`)) this.facts.delete(id);
    for (const id of [...this.restored]) if (id.startsWith(`${runId}\u0000`)) this.restored.delete(id);
    for (const id of [...this.openRequests.keys()])
      if (id.startsWith(`${runId}\u0000`)) this.openRequests.delete(id);
  }

  /**
   * A step's output as the actors have it now (committed or not): what a dependent step
   * reads for `{{steps.<id>.output}}`.
   */
  outputOf(runId: string, stepId: string): Json | undefined {
    const facts = this.facts.get(key(runId, stepId));
    return facts?.kind === 'step' ? facts.output : undefined;
  }

  /** What was last staged of an actor of a run driven here (`task`, or a step id). */
  factsFor(runId: string, actorId: string): ActorFacts | undefined {
    return this.facts.get(key(runId, actorId));
  }

  owns(runId: string): boolean {
    return this.owned.has(runId);
  }

  get ownedRuns(): string[] {
    return [...this.owned.keys()];
  }

  /**
   * Remembers a restored actor's state from its row, so its next change produces the
   * right events and its (unchanged) row is not written again.
   */
  seedRow(row: ActorRow, plan?: Plan): void {
    const persisted = row.snapshot as { value: unknown; context: Record<string, unknown> };
    const context =
      row.kind === 'task' && plan
        ? { ...persisted.context, plan }
        : row.output === undefined
          ? persisted.context
          : { ...persisted.context, output: row.output };
    const snapshot = { value: persisted.value, context } as unknown as AnyMachineSnapshot;
    const facts = factsOf(row.kind, snapshot);
    const id = key(facts.runId, facts.actorId);
    this.facts.set(id, facts);
    this.restored.add(id);
  }

  /** The inspection observer given to the root actor. */
  readonly observe = (event: InspectionEvent): void => {
    if (this.stopped) return;
    if (event.type === '@xstate.actor') {
      // A new actor has no snapshot yet (and none is emitted on start): it is staged now
      // and its initial snapshot is read at flush time.
      const ref = event.actorRef as AnyActor;
      if (actorKind(ref)) {
        this.stage.newborn.push(ref);
        this.schedule();
      }
      return;
    }
    // Microsteps are seen while a transition is computed, before its actions run, so a
    // step's change is logged before the task change it causes. Each one stages the
    // actor's latest snapshot (written at flush) and the events its change means.
    if (event.type !== '@xstate.microstep') return;
    const ref = event.actorRef as AnyActor;
    const kind = actorKind(ref);
    const snapshot = event.snapshot as AnyMachineSnapshot;
    // Stopping (a finished run's steps, close()) is not a transition.
    if (!kind || snapshot.status === 'stopped' || snapshot.status === 'error' || !snapshot.context) return;
    const facts = factsOf(kind, snapshot);
    if (!this.owned.has(facts.runId)) return;
    const id = key(facts.runId, facts.actorId);
    const previous = this.facts.get(id) ?? initialFacts(facts);
    this.facts.set(id, facts);
    const staged = this.stage.actors.get(id);
    if (staged) staged.snapshot = snapshot;
    else this.stage.actors.set(id, { ref, kind, runId: facts.runId, actorId: facts.actorId, snapshot });
    if (
      previous.state !== facts.state ||
      facts.kind === 'task' ||
      (facts.kind === 'step' && previous.kind === 'step' && previous.attempt !== facts.attempt)
    ) {
      const at = this.options.clock.now();
      const events = deriveEvents(previous, facts, at);
      if (events.length > 0) this.stage.events.push(...events);
      if (facts.kind === 'step' && SETTLED_STEP_STATES.has(facts.state)) {
        // Nobody waits for these answers any more.
        for (const requestId of this.openRequests.get(id) ?? [])
          this.stage.requests.push({ type: 'close', runId: facts.runId, id: requestId, at });
        this.openRequests.delete(id);
      }
      if (facts.kind === 'task' && previous.kind === 'task') {
        if (previous.state !== facts.state || previous.planVersion !== facts.planVersion) {
          this.stage.runs.push({
            type: 'update',
            id: facts.runId,
            phase: facts.state,
            planVersion: facts.planVersion,
            updatedAt: at,
          });
        }
        if (facts.plan && facts.planVersion > previous.planVersion) {
          this.stage.plans.push({ runId: facts.runId, version: facts.planVersion, plan: facts.plan });
        }
      }
    }
    this.schedule();
  };

  stageNewRun(
    row: Omit<RunRow, 'lease'>,
    lease: Lease,
    plan: Plan | undefined,
    created: UnsequencedEvent,
  ): void {
    this.owned.set(row.id, { fence: lease.fence, goal: row.goal, head: EMPTY_HEAD });
    this.facts.set(key(row.id, 'task'), {
      kind: 'task',
      runId: row.id,
      actorId: 'task',
      state: 'queued',
      planVersion: row.planVersion,
      ...(plan ? { plan } : {}),
      replans: 0,
    });
    this.stage.runs.push({ type: 'insert', row, lease });
    if (plan) this.stage.plans.push({ runId: row.id, version: row.planVersion, plan });
    this.stage.events.push(created);
    this.schedule();
  }

  stageEvent(event: UnsequencedEvent): void {
    this.stage.events.push(event);
    this.schedule();
  }

  stageAttempt(row: AttemptRow): void {
    this.stage.attempts.set(`${row.runId}\u0000${row.stepId}\u0000${row.attempt}`, row);
    this.schedule();
  }

  stageRequest(request: BatchRequest): void {
    if (request.type === 'answer') {
      for (const open of this.openRequests.values()) open.delete(request.id);
    }
    this.stage.requests.push(request);
    this.schedule();
  }

  /** A new (or reopened) request of a step that now waits for its answer. */
  stageRequestOpen(row: RequestRow, reopen = false): void {
    this.trackRequest(row);
    this.stageRequest(reopen ? { type: 'reopen', runId: row.runId, id: row.id } : { type: 'open', row });
  }

  /** Remembers an unanswered request (staged here, or found open when a run is adopted). */
  trackRequest(row: Pick<RequestRow, 'id' | 'runId' | 'stepId'>): void {
    const id = key(row.runId, row.stepId);
    const open = this.openRequests.get(id) ?? new Set<string>();
    open.add(row.id);
    this.openRequests.set(id, open);
  }

  stageArtifact(artifact: BatchArtifact): void {
    this.stage.artifacts.push(artifact);
    this.schedule();
  }

  /**
   * Marks a command of the inbox applied (or refused with `error`). `unowned`: the run
   * ended or does not exist, so no lease fences it.
   */
  stageCommandApplied(
    command: { readonly id: number; readonly runId: string },
    error?: string,
    unowned = false,
  ): void {
    this.stage.commandsApplied.push({
      id: command.id,
      runId: command.runId,
      at: this.options.clock.now(),
      ...(error === undefined ? {} : { error }),
      ...(unowned ? { unowned } : {}),
    });
    this.schedule();
  }

  /**
   * Resolves once everything staged so far is committed (at once when nothing is pending).
   * While the store fails transiently the commit is retried, and this waits; with
   * `boundMs` (a caller's wait) it rejects with the fault's error once the fault has lasted
   * that long — what was staged still lands when the store recovers.
   */
  durable(options: { readonly boundMs?: number } = {}): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    const target = !this.stage.empty ? this.stage : this.inflight;
    if (!target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      target.waiters.push({
        resolve,
        reject,
        ...(options.boundMs === undefined ? {} : { boundMs: options.boundMs }),
      });
      this.schedule();
    });
  }

  /**
   * For close(): commits what is staged now and waits for it; while the store is failing,
   * tries once more and gives up (nothing uncommitted was observable: it is redone on resume).
   */
  async flushNow(): Promise<void> {
    if (this.retryTimer !== undefined) {
      this.options.clock.clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.giveUpAfterOneTry = true;
    }
    await this.durable();
  }

  private giveUpAfterOneTry = false;

  /** After close(): nothing more is observed or written. */
  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== undefined) this.options.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private schedule(): void {
    if (this.scheduled || this.flushing || this.retryTimer !== undefined) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (!this.fatal && (this.inflight || !this.stage.empty)) {
        if (!this.inflight) {
          this.inflight = this.stage;
          this.stage = new Stage();
        }
        const stage = this.inflight;
        let batch: Batch;
        try {
          batch = this.pendingBatch ??= this.toBatch(stage);
        } catch (error) {
          this.fail(error, stage);
          break;
        }
        let result: Awaited<ReturnType<Store['commit']>>;
        try {
          result = await this.options.store.commit(batch);
        } catch (error) {
          if (!isTransientStoreError(error) || this.stopped) {
            this.fail(error, stage);
            break;
          }
          if (this.giveUpAfterOneTry) {
            for (const waiter of [...stage.waiters, ...this.stage.waiters]) waiter.reject(error);
            break;
          }
          this.retryLater(error);
          return;
        }
        this.pendingBatch = undefined;
        this.inflight = undefined;
        this.retries = 0;
        this.options.faults.succeed('commit');
        if (result.lostRuns.length > 0) {
          for (const runId of result.lostRuns) this.disown(runId);
          this.options.onLost(result.lostRuns);
        }
        if (result.events.length > 0) this.options.onCommitted(result.events);
        for (const waiter of stage.waiters) waiter.resolve();
      }
    } finally {
      this.flushing = false;
    }
    // Work staged while the last commit ran (waiters included) gets its own flush.
    if (!this.stage.empty && !this.fatal) this.schedule();
  }

  /**
   * The store is busy, full or unavailable: keep the batch, report the fault, and try again
   * after a growing delay (on the injected clock). Callers' bounded waits past their bound
   * are told the fault's error now; everything else goes on waiting.
   */
  private retryLater(error: unknown): void {
    const faults = this.options.faults;
    faults.fail('commit', error);
    const waited = this.options.clock.now() - faults.startedAt;
    for (const stage of [this.inflight, this.stage]) {
      if (!stage) continue;
      stage.waiters = stage.waiters.filter((waiter) => {
        if (waiter.boundMs === undefined || waited < waiter.boundMs) return true;
        waiter.reject(error);
        return false;
      });
    }
    const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.retries);
    this.retries += 1;
    this.retryTimer = this.options.clock.setTimeout(() => {
      this.retryTimer = undefined;
      void this.flush();
    }, delay);
  }

  private fail(error: unknown, stage: Stage): void {
    this.options.faults.fail('commit', error);
    this.fatal = error;
    for (const waiter of [...stage.waiters, ...this.stage.waiters]) waiter.reject(error);
    this.options.onFatal(error);
  }

  private toBatch(stage: Stage): Batch {
    const now = this.options.clock.now();
    for (const ref of stage.newborn) {
      const snapshot = ref.getSnapshot() as AnyMachineSnapshot | undefined;
      const kind = actorKind(ref);
      if (!kind || !snapshot?.context || snapshot.status === 'stopped') continue;
      const facts = factsOf(kind, snapshot);
      const id = key(facts.runId, facts.actorId);
      if (this.restored.delete(id)) continue;
      if (!this.facts.has(id)) this.facts.set(id, facts);
      if (!stage.actors.has(id))
        stage.actors.set(id, { ref, kind, runId: facts.runId, actorId: facts.actorId });
    }
    const fences = new Map<string, number>();
    const touch = (runId: string): boolean => {
      const run = this.owned.get(runId);
      if (run) fences.set(runId, run.fence);
      return run !== undefined;
    };
    const outputs = new OutputTable();
    const actors: Array<Batch['actors'][number]> = [];
    for (const staged of stage.actors.values()) {
      if (!touch(staged.runId)) continue;
      const snapshot = staged.snapshot ?? (staged.ref.getSnapshot() as AnyMachineSnapshot);
      const facts = factsOf(staged.kind, snapshot);
      const output = facts.kind === 'step' ? facts.output : undefined;
      actors.push({
        runId: staged.runId,
        actorId: staged.actorId,
        kind: staged.kind,
        state: facts.state,
        snapshot:
          staged.kind === 'task' ? persistTask(staged.ref, snapshot) : persistStep(staged.ref, snapshot),
        ...(output === undefined ? {} : { outputRef: outputs.ref(staged.runId, output) }),
        updatedAt: now,
      });
    }
    const runs = stage.runs.filter((run) => touch(run.type === 'insert' ? run.row.id : run.id));
    const plans = stage.plans.filter((plan) => touch(plan.runId));
    const events: BatchEvent[] = [];
    const landedEvents: UnsequencedEvent[] = [];
    for (const event of stage.events) {
      if (!touch(event.runId)) continue;
      // Every event is checked against its schema before anyone can see it.
      TaskvisorEventSchema.parse({ ...event, seq: 1 });
      landedEvents.push(event);
      events.push(
        event.type === 'step.output'
          ? { event, outputRef: outputs.ref(event.runId, event.output) }
          : { event },
      );
    }
    const attempts: Array<Omit<AttemptRow, 'output'>> = [];
    for (const row of stage.attempts.values()) {
      if (!touch(row.runId)) continue;
      const { output, ...rest } = row;
      attempts.push(output === undefined ? rest : { ...rest, outputRef: outputs.ref(row.runId, output) });
    }
    const artifacts = stage.artifacts.filter((artifact) => touch(artifact.runId));
    const requests = stage.requests.filter((request) =>
      touch(request.type === 'open' ? request.row.runId : request.runId),
    );
    const commandsApplied = stage.commandsApplied.filter(
      (applied) => applied.unowned || touch(applied.runId),
    );
    const audit = this.chain(auditEntriesOf({ events: landedEvents, attempts, artifacts }));
    const episodes = episodesOf({ events: landedEvents, artifacts }, (runId) => this.runFacts(runId));
    return {
      runs,
      plans,
      actors,
      events,
      outputs: outputs.rows,
      attempts,
      requests,
      artifacts,
      commandsApplied,
      audit,
      episodes,
      fences,
    };
  }

  /** Links each run's new entries onto its chain (heads move now: one writer per run). */
  private chain(entries: readonly AuditEntry[]): ChainedAuditEntry[] {
    const byRun = new Map<string, AuditEntry[]>();
    for (const entry of entries) {
      const list = byRun.get(entry.runId) ?? [];
      list.push(entry);
      byRun.set(entry.runId, list);
    }
    const rows: ChainedAuditEntry[] = [];
    for (const [runId, list] of byRun) {
      const run = this.owned.get(runId);
      if (!run) continue;
      const chained = chainEntries(run.head, list, this.options.auditKey);
      run.head = chained.head;
      rows.push(...chained.rows);
    }
    return rows;
  }

  /** The goal and each step's state as of this flush, for a run that is ending. */
  private runFacts(runId: string): RunFacts | undefined {
    const run = this.owned.get(runId);
    const task = this.facts.get(key(runId, 'task'));
    if (!run) return undefined;
    const plan = task?.kind === 'task' ? task.plan : undefined;
    return {
      goal: run.goal,
      steps: (plan?.steps ?? []).map((step) => {
        const facts = this.facts.get(key(runId, step.id));
        const outcome = facts?.kind === 'step' ? facts : undefined;
        return {
          stepId: step.id,
          kind: step.action.kind,
          state: outcome?.state ?? 'pending',
          ...(outcome?.reason ? { reason: outcome.reason } : {}),
          ...(outcome?.error ? { error: outcome.error.message } : {}),
        };
      }),
    };
  }
}

/**
 * The outputs of one batch, each stored once: an output's reference is the SHA-256 of its
 * JSON text, and the same value (the same object, as a step's snapshot, event and attempt
 * share it) is serialised once.
 */
class OutputTable {
  readonly rows: OutputRow[] = [];
  private readonly seen = new Map<unknown, string>();
  private readonly stored = new Set<string>();

  ref(runId: string, value: Json): string {
    let ref = this.seen.get(value);
    let json: string | undefined;
    if (ref === undefined) {
      json = JSON.stringify(value);
      ref = sha256(json);
      this.seen.set(value, ref);
    }
    const id = `${runId}\u0000${ref}`;
    if (!this.stored.has(id)) {
      this.stored.add(id);
      this.rows.push({ runId, ref, json: json ?? JSON.stringify(value) });
    }
    return ref;
  }
}

/** The facts of an actor just created: a task is `queued`, a step `pending` at attempt 0. */
function initialFacts(facts: ActorFacts): ActorFacts {
  if (facts.kind === 'task') return { ...facts, state: 'queued' };
  return { kind: 'step', runId: facts.runId, actorId: facts.actorId, state: 'pending', attempt: 0 };
}

/** Which of our actors this is (task or step), by the key it was spawned with. */
export function actorKind(ref: AnyActor): ActorKind | undefined {
  const src = (ref as { src?: unknown }).src;
  return src === 'task' || src === 'step' ? src : undefined;
}
