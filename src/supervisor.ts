/**
 * `createSupervisor()`: the embedding API (see API.md). It validates options, opens the
 * store, starts the runtime and exposes runs, commands, the read model and the bus.
 */
import { randomBytes } from 'node:crypto';
import type { Observable } from 'rxjs/internal/Observable';
import type { StepControlAction } from '../machines/protocol.js';
import { type Clock, systemClock } from './clock.js';
import { TaskvisorError } from './errors.js';
import { type Answer, AnswerSchema, type TaskvisorEvent } from './model/events.js';
import type { Json } from './model/json.js';
import { knownKinds, type PlanContext } from './model/parse-plan.js';
import type { PlanInput } from './model/plan.js';
import { isTerminalPhase, type RunPhase, RunPhaseSchema, TERMINAL_PHASES } from './model/states.js';
import { parseDuration } from './model/duration.js';
import { didYouMean } from './model/suggest.js';
import { DEFAULT_CONFIRM_TIERS, type Tier } from './model/tier.js';
import type { RunView, Usage } from './model/views.js';
import { DEFAULT_DB_PATH } from './store/sqlite-open.js';
import { openStore } from './store/open-store.js';
import type { ArtifactRow, AttemptRow, AuditRow, RequestRow } from './store/rows.js';
import type { Store, StoreState } from './store/store.js';
import { type StoreFault, storeStateOf } from './runtime/store-faults.js';
import type { ActionFunction } from './runtime/executor.js';
import type { InspectionEvent } from 'xstate';
import { type InspectObserver, type RunHandle, Runtime, unknownRun } from './runtime/runtime.js';
import { createBuiltinActions } from './actions/builtin.js';
import { type FanoutServices, fanoutStatesOf } from './actions/fanout.js';
import { type MonitorView, monitorView } from './fanout/monitor.js';
import { type WorkerResult, workerResults } from './fanout/fanout-state.js';
import type { FanoutTarget, ReduceMode } from './model/action.js';
import { resolveBuiltinOptions } from './actions/builtin-options.js';
import { auditKeyRecord, keyedSince } from './audit/hash-chain.js';
import { type AuditVerification, verifyAudit } from './audit/verify-audit.js';
import { createEpisodicMemory, type EpisodicMemory } from './memory/episodic-memory.js';
import { invalidOptions, type SupervisorOptions } from './supervisor-options.js';
import { type Budget, BudgetSchema } from './model/budget.js';
import { modelConfigured, resolveModel } from './planning/options.js';
import { summarizePlan, summarizeReplan } from './planning/summary.js';
import { resolveDescription } from './model/action-description.js';
import type { Pending, PendingApproval, PendingConfirmation, PendingRequest } from './model/pending.js';
import { replanDiff } from './model/replan-diff.js';

export interface StartOptions {
  readonly goal?: string;
  /** A plan (validated with `parsePlan`); without it the model plans (when `llm` is set). */
  readonly plan?: PlanInput;
  /** Wait in awaitingApproval until `approvePlan` (default false for a given plan). */
  readonly requireApproval?: boolean;
  /** This run's limits, over the supervisor's `budget`. */
  readonly budget?: Budget;
  readonly metadata?: Record<string, Json>;
}

export interface FanoutOptions {
  readonly prompt: string;
  /** Model names, or `{ model, baseURL?, apiKey?, label?, options? }`. */
  readonly targets: ReadonlyArray<string | FanoutTarget>;
  /** Times each target is asked (default 1). */
  readonly repeat?: number;
  /** Reduce the answers: `compare`, `summarize` or `best_of_n`, by `target` (default the first). */
  readonly reduce?: { readonly mode: ReduceMode; readonly target?: string | FanoutTarget };
  readonly budget?: Budget;
  readonly metadata?: Record<string, Json>;
}

export interface RunTrace {
  readonly run: RunView;
  /** Every event of the run, in order. */
  readonly events: TaskvisorEvent[];
  /** Only the `run.transition` and `step.transition` events. */
  readonly transitions: TaskvisorEvent[];
  /** Every attempt of every step, archived ones included, with outputs and errors. */
  readonly attempts: AttemptRow[];
  readonly requests: RequestRow[];
  readonly artifacts: ArtifactRow[];
  readonly usage: Usage;
  /** The run's rows of the hash-chained audit trail, oldest first. */
  readonly audit: AuditRow[];
  /** Every fan-out worker with all its attempts (archived ones included), by step. */
  readonly workers: Array<WorkerResult & { readonly stepId: string }>;
}

export interface PruneOptions {
  /** How long ago a run must have ended: ms, or a duration like `'30d'`, `'12h'`, `'90m'`. */
  readonly olderThan: number | string;
  /** Only runs in these phases (default completed, failed and cancelled; finished phases only). */
  readonly phases?: readonly RunPhase[];
}

export interface Health {
  readonly ok: boolean;
  readonly store: StoreState;
  readonly detail?: string;
}

export interface ListFilter {
  readonly phase?: RunPhase | RunPhase[];
  /** At most this many runs (default 50, at most 1000). */
  readonly limit?: number;
  /** Only runs older than this one: the last run of the previous page. */
  readonly before?: string;
}

/** How many runs `list()` returns when no limit is given. */
export const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 1000;

export interface Supervisor {
  start(options: StartOptions): Promise<RunHandle>;
  approvePlan(runId: string, options?: { by?: string; note?: string }): Promise<void>;
  rejectPlan(runId: string, options: { by?: string; reason: string }): Promise<void>;
  confirmStep(
    runId: string,
    stepId: string,
    options: { approved: boolean; decision?: 'skip' | 'fail'; by?: string; reason?: string },
  ): Promise<void>;
  answer(requestId: string, answer: Answer & { by?: string }): Promise<void>;
  control(runId: string, stepId: string, action: StepControlAction, options?: { by?: string }): Promise<void>;
  /** One prompt to several model targets (a one-step run), optionally reduced. */
  fanout(options: FanoutOptions): Promise<RunHandle>;
  /** One snapshot of a run for UIs: the view, fan-out workers, open requests, recent events. */
  monitor(runId: string, options?: { events?: number }): Promise<MonitorView<PendingRequest>>;
  /** New limits for a run (merged over its current ones); a run paused on its budget continues. */
  extendBudget(runId: string, budget: Budget, options?: { by?: string }): Promise<void>;
  cancel(runId: string, options?: { by?: string; reason?: string }): Promise<void>;
  get(runId: string): Promise<RunView | undefined>;
  /**
   * Runs newest first, a page at a time: at most `limit` (default 50, up to 1000); for the
   * next page pass `before: <the last run's id>`.
   */
  list(filter?: ListFilter): Promise<RunView[]>;
  pending(): Promise<Pending>;
  trace(runId: string): Promise<RunTrace>;
  /** Drives unfinished runs (all, or one) whose lease is free; returns the runs adopted. */
  resume(runId?: string): Promise<string[]>;
  /** Live events committed by this supervisor. */
  readonly events$: Observable<TaskvisorEvent>;
  /** The event log from `after` (default: the start), then live; with `runId`, one run's. */
  events(options?: { runId?: string; after?: number }): Observable<TaskvisorEvent>;
  /** Episodic memory: past delegation outcomes and run summaries (`memory.search(text, { limit })`). */
  readonly memory: EpisodicMemory;
  /** Checks every run's hash-chained audit trail: `{ ok: true }` or the first bad row. */
  verifyAudit(): Promise<AuditVerification>;
  /**
   * Whether the store can be written now: `{ ok, store: 'ok' | 'busy' | 'full' |
   * 'unavailable' | 'corrupt', detail? }` (`detail` names the file and what to do).
   */
  health(): Promise<Health>;
  /** A notice each time writing to the store starts to fail (or fails differently) and when it recovers. */
  readonly faults$: Observable<StoreFault>;
  /**
   * Deletes finished runs (default phases completed, failed, cancelled) that ended more than
   * `olderThan` ago (ms, or `'30d'`, `'12h'`, `'15m'`, `'45s'`) — each whole, its audit chain
   * included, so `verifyAudit()` stays ok; episodes are kept. Returns how many runs and events.
   */
  prune(options: PruneOptions): Promise<{ runs: number; events: number }>;
  /**
   * Stops taking work, persists, stops actors; unfinished runs resume on the next open (or
   * at once in another process). With `graceMs`, it first takes no new work (no claims, no
   * new attempts) and lets attempts in flight finish for up to `graceMs`.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** An inspection observer (object or function) as a function. */
function inspectorOf(observer: InspectObserver): (event: InspectionEvent) => void {
  return typeof observer === 'function' ? observer : (event) => observer.next?.(event);
}

function pendingRequest(row: RequestRow): PendingRequest {
  return {
    requestId: row.id,
    runId: row.runId,
    stepId: row.stepId,
    question: row.question,
    ...(row.options ? { options: row.options } : {}),
    openedAt: row.openedAt,
  };
}

function checkBudget(budget: unknown, method: string): Budget {
  const result = BudgetSchema.safeParse(budget);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const where = issue.path.map(String).join('.') || 'budget';
  throw new TaskvisorError(
    'INVALID_OPTION',
    `${method}: ${where === 'budget' ? 'budget' : `budget.${where}`}: ${issue.message} (a budget is { maxCostUsd?, maxTokens?, maxSteps? }, each a positive number), got ${JSON.stringify(budget)}.`,
    { option: where },
  );
}

function randomId(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString('base64url')}`;
}

function requireString(value: unknown, name: string, method: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `${method}: ${name} must be a non-empty string, got ${JSON.stringify(value)}.`,
      {
        [name]: value,
      },
    );
  }
  return value;
}

/**
 * Opens (or creates) a taskvisor database and returns a supervisor; unfinished runs found
 * there resume unless `resume: false`.
 *
 * @example
 * ```ts
 * const sv = await createSupervisor({ db: './runs.db', actions: { greet: async (input) => ({ output: `hi ${input.name}` }) } });
 * const run = await sv.start({ goal: 'say hi', plan: { steps: [{ id: 'hi', action: { kind: 'greet', name: 'Ada' } }] } });
 * console.log(await run.done); // { phase: 'completed', outputs: { hi: 'hi Ada' }, ... }
 * await sv.close();
 * ```
 */
export async function createSupervisor(options: SupervisorOptions = {}): Promise<Supervisor> {
  const invalid = invalidOptions(options);
  if (invalid) throw invalid;
  const clock = options.clock ?? systemClock;
  const { planContext: builtinPlanContext, ...builtinServices } = resolveBuiltinOptions(options);
  // Memory reads the store opened below, once steps run.
  const memory = createEpisodicMemory({
    searchEpisodes: (text, search) => store.records.searchEpisodes(text, search),
  });
  // Fan-out steps reach the runtime created below (only ever called once it exists).
  const live: { runtime?: Runtime } = {};
  const runtimeOf = (): Runtime => {
    if (!live.runtime) throw new TaskvisorError('SUPERVISOR_CLOSED', 'The supervisor is not open.');
    return live.runtime;
  };
  const fanout: FanoutServices = {
    clock,
    prices: options.prices ?? {},
    hasModel: modelConfigured(options),
    chatFor: (ctx) => runtimeOf().meter.chat(ctx.runId, ctx.stepId, ctx.signal),
    stage: (event) => runtimeOf().persistence.stageEvent(event),
    eventsOf: async (runId) => {
      const runtime = runtimeOf();
      await runtime.persistence.durable();
      return runtime.store.events.readEvents({ runId });
    },
    register: (runId, stepId, handle) => runtimeOf().fanouts.register(runId, stepId, handle),
    ...(options.inspect ? { inspect: inspectorOf(options.inspect) } : {}),
  };
  const builtins = createBuiltinActions({ clock, ...builtinServices, memory, fanout });
  for (const kind of Object.keys(options.actions ?? {})) {
    if (builtins.has(kind) || knownKinds().includes(kind)) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `actions.${kind}: "${kind}" is a built-in step kind; register your action under another name.`,
        { kind },
      );
    }
  }
  const actions = new Map<string, ActionFunction>([...builtins, ...Object.entries(options.actions ?? {})]);
  const planContext: PlanContext = { kinds: [...actions.keys()], ...builtinPlanContext };
  const given = options.store ?? (typeof options.db === 'object' ? options.db : undefined);
  const store =
    given ??
    (await openStore((options.db as string | undefined) ?? (process.env.TASKVISOR_DB || DEFAULT_DB_PATH), {
      durability: options.durability ?? 'normal',
    }));
  const confirmTiers = options.confirmTiers ?? DEFAULT_CONFIRM_TIERS;
  const auditKey = options.audit?.key ?? (process.env.TASKVISOR_AUDIT_KEY || undefined);
  let runtime: Runtime;
  try {
    await checkAuditKey(store, auditKey, clock.now());
    const model = resolveModel(options, {
      clock,
      planContext,
      confirmTiers,
      // Past runs and delegations like this goal, for the planning prompt.
      recall: async (goal) => (await memory.relevantEpisodes(goal, 2_000)) || undefined,
    });
    runtime = await Runtime.open(
      {
        store,
        ownsStore: given === undefined,
        ...(auditKey === undefined ? {} : { auditKey }),
        clock,
        actions,
        planContext,
        maxRuns: options.concurrency?.runs ?? 4,
        stepsPerRun: options.concurrency?.stepsPerRun ?? 4,
        maxReplans: options.maxReplans ?? 2,
        // A replan that adds steps above `read` waits for a human unless the embedder says otherwise.
        approveReplans: options.approveReplans ?? 'auto',
        budget: options.budget ?? {},
        ...(model ? { model } : {}),
        confirmTiers,
        leaseMs: options.leaseMs ?? 30_000,
        pollMs: options.pollMs ?? 100,
        drive: options.drive ?? 'own',
        storeRetryMs: options.storeRetryMs ?? 30_000,
        ...(options.inspect ? { inspect: options.inspect } : {}),
        newId: (prefix) =>
          (prefix === 'run' ? options.ids?.run?.() : options.ids?.request?.()) ?? randomId(prefix),
      },
      {
        resume: options.resume ?? true,
        onCreated: (created) => {
          live.runtime = created;
        },
      },
    );
  } catch (error) {
    if (given === undefined) await store.close();
    throw error;
  }
  return new SupervisorApi(runtime, clock, confirmTiers, auditKey);
}

/**
 * Keyed audit chains: the first open with a key records when keying began (MAC'd with the
 * key); a later open must bring the same key, and a keyed database is not written unkeyed.
 */
async function checkAuditKey(store: Store, key: string | undefined, now: number): Promise<void> {
  if (key === undefined) {
    if ((await store.auditLog.auditKeyRecord()) === undefined) return;
    throw new TaskvisorError(
      'INVALID_OPTION',
      "This database's audit chains are keyed: pass the same key as createSupervisor({ audit: { key } }) or in TASKVISOR_AUDIT_KEY.",
    );
  }
  const record = await store.auditLog.auditKeyRecord(auditKeyRecord(now, key));
  if (record !== undefined && keyedSince(record, key) === undefined) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      "audit.key is not the key this database's audit chains were written with; pass that key (TASKVISOR_AUDIT_KEY), or use another database.",
    );
  }
}

class SupervisorApi implements Supervisor {
  constructor(
    private readonly runtime: Runtime,
    private readonly clock: Clock,
    private readonly confirmTiers: readonly Tier[],
    private readonly auditKey: string | undefined,
  ) {}

  get events$(): Observable<TaskvisorEvent> {
    return this.runtime.bus.events$;
  }

  events(options: { runId?: string; after?: number } = {}): Observable<TaskvisorEvent> {
    return this.runtime.bus.replay(options);
  }

  async start(options: StartOptions): Promise<RunHandle> {
    if (typeof options !== 'object' || options === null) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `start() takes { goal, plan?, requireApproval?, budget?, metadata? }, got ${JSON.stringify(options)}.`,
      );
    }
    if (options.budget !== undefined) checkBudget(options.budget, 'start');
    return this.runtime.start(options);
  }

  async approvePlan(runId: string, options: { by?: string; note?: string } = {}): Promise<void> {
    requireString(runId, 'runId', 'approvePlan');
    await this.runtime.command({ kind: 'approvePlan', runId, ...options, at: this.clock.now() });
  }

  async rejectPlan(runId: string, options: { by?: string; reason: string }): Promise<void> {
    requireString(runId, 'runId', 'rejectPlan');
    requireString(options?.reason, 'reason', 'rejectPlan');
    await this.runtime.command({ kind: 'rejectPlan', runId, ...options, at: this.clock.now() });
  }

  async confirmStep(
    runId: string,
    stepId: string,
    options: { approved: boolean; decision?: 'skip' | 'fail'; by?: string; reason?: string },
  ): Promise<void> {
    requireString(runId, 'runId', 'confirmStep');
    requireString(stepId, 'stepId', 'confirmStep');
    if (typeof options?.approved !== 'boolean') {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `confirmStep: pass { approved: true } to run the step, or { approved: false, decision? } to stop it.`,
      );
    }
    if (options.decision !== undefined && options.decision !== 'skip' && options.decision !== 'fail') {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `confirmStep: decision must be "skip" or "fail", got ${JSON.stringify(options.decision)}.`,
      );
    }
    await this.runtime.command({ kind: 'confirmStep', runId, stepId, ...options, at: this.clock.now() });
  }

  async answer(requestId: string, answer: Answer & { by?: string }): Promise<void> {
    requireString(requestId, 'requestId', 'answer');
    const { by, ...fields } = answer ?? {};
    const parsed = AnswerSchema.strict().safeParse(fields);
    if (!parsed.success) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `answer(${requestId}): ${parsed.error.issues[0]?.message ?? 'bad answer'}; pass { text } or { optionId } or { answers }.`,
      );
    }
    const request = await this.runtime.store.inbox.findRequest({ id: requestId });
    if (!request) {
      throw new TaskvisorError(
        'UNKNOWN_REQUEST',
        `No request "${requestId}"; sv.pending().requests lists the open ones.`,
        { requestId },
      );
    }
    await this.runtime.command({
      kind: 'answer',
      runId: request.runId,
      stepId: request.stepId,
      requestId,
      answer: parsed.data,
      ...(by ? { by } : {}),
      at: this.clock.now(),
    });
  }

  async control(
    runId: string,
    stepId: string,
    action: StepControlAction,
    options: { by?: string } = {},
  ): Promise<void> {
    requireString(runId, 'runId', 'control');
    requireString(stepId, 'stepId', 'control');
    const actions = ['cancel', 'interrupt', 'retry', 'resume'];
    if (!actions.includes(action)) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `control: action must be one of ${actions.join(', ')}, got ${JSON.stringify(action)}${didYouMean(String(action), actions)}.`,
        { action },
      );
    }
    await this.runtime.command({ kind: 'control', runId, stepId, action, ...options, at: this.clock.now() });
  }

  async extendBudget(runId: string, budget: Budget, options: { by?: string } = {}): Promise<void> {
    requireString(runId, 'runId', 'extendBudget');
    const limits = checkBudget(budget, 'extendBudget');
    await this.runtime.command({
      kind: 'extendBudget',
      runId,
      budget: limits,
      ...(options.by ? { by: options.by } : {}),
      at: this.clock.now(),
    });
  }

  async cancel(runId: string, options: { by?: string; reason?: string } = {}): Promise<void> {
    requireString(runId, 'runId', 'cancel');
    await this.runtime.command({ kind: 'cancel', runId, ...options, at: this.clock.now() });
  }

  get(runId: string): Promise<RunView | undefined> {
    requireString(runId, 'runId', 'get');
    return this.runtime.view(runId);
  }

  async list(filter: ListFilter = {}): Promise<RunView[]> {
    const limit = filter.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `list: limit must be a whole number from 1 to ${MAX_LIST_LIMIT}, got ${JSON.stringify(filter.limit)}; page with { before: <last run id> }.`,
      );
    }
    if (
      filter.before !== undefined &&
      !(await this.runtime.store.runs.getRun(requireString(filter.before, 'before', 'list')))
    ) {
      throw unknownRun(filter.before);
    }
    for (const phase of filter.phase === undefined ? [] : [filter.phase].flat()) {
      if (!RunPhaseSchema.safeParse(phase).success) {
        throw new TaskvisorError(
          'INVALID_OPTION',
          `list: unknown phase ${JSON.stringify(phase)}; phases are ${RunPhaseSchema.options.join(', ')}.`,
        );
      }
    }
    const runs = await this.runtime.store.runs.listRuns({
      ...(filter.phase === undefined ? {} : { phase: filter.phase }),
      limit,
      ...(filter.before === undefined ? {} : { before: filter.before }),
    });
    const views: RunView[] = [];
    for (const run of runs) {
      const view = await this.runtime.view(run.id);
      if (view) views.push(view);
    }
    return views;
  }

  async pending(): Promise<Pending> {
    const store = this.runtime.store;
    const approvals: PendingApproval[] = [];
    const confirmations: PendingConfirmation[] = [];
    const open = await store.runs.listRuns({
      phase: ['awaitingApproval', 'running', 'replanning', 'paused'],
    });
    for (const run of open) {
      const view = await this.runtime.view(run.id);
      if (!view || isTerminalPhase(view.phase)) continue;
      if (view.phase === 'awaitingApproval' || view.phase === 'paused') {
        const steps = view.steps.map(({ id, title, kind, tier, dependsOn, action }) => ({
          id,
          title,
          kind,
          tier,
          dependsOn,
          ...(action ? { action } : {}),
        }));
        approvals.push({
          runId: view.id,
          kind: view.phase === 'paused' ? 'budget' : 'plan',
          goal: view.goal,
          ...(view.reason ? { reason: view.reason } : {}),
          steps,
          ...(view.proposal ? { proposal: view.proposal, diff: replanDiff(steps, view.proposal) } : {}),
          summary: view.proposal
            ? summarizeReplan(view.goal, steps, view.proposal, this.confirmTiers)
            : summarizePlan(view.goal, steps, this.confirmTiers),
        });
      }
      for (const step of view.steps) {
        if (step.state !== 'awaitingConfirmation') continue;
        const outputOf = (stepId: string) => view.steps.find((other) => other.id === stepId)?.output;
        confirmations.push({
          runId: view.id,
          stepId: step.id,
          title: step.title,
          kind: step.kind,
          tier: step.tier,
          ...(step.reason ? { reason: step.reason } : {}),
          ...(step.action ? { action: resolveDescription(step.action, outputOf) } : {}),
        });
      }
    }
    const requests = (await store.inbox.openRequests()).map(pendingRequest);
    return { approvals, confirmations, requests };
  }

  async trace(runId: string): Promise<RunTrace> {
    requireString(runId, 'runId', 'trace');
    const run = await this.runtime.view(runId);
    if (!run) throw unknownRun(runId);
    const store = this.runtime.store;
    const events = await store.events.readEvents({ runId });
    return {
      run,
      events,
      transitions: events.filter(
        (event) => event.type === 'run.transition' || event.type === 'step.transition',
      ),
      attempts: await store.records.attempts(runId),
      requests: await store.inbox.requests(runId),
      artifacts: await store.records.artifacts(runId),
      usage: run.usage,
      audit: await store.auditLog.audit({ runId }),
      workers: fanoutStatesOf(events).flatMap(({ stepId, state }) =>
        workerResults(state).map((worker) => ({ stepId, ...worker })),
      ),
    };
  }

  async monitor(runId: string, options: { events?: number } = {}): Promise<MonitorView<PendingRequest>> {
    requireString(runId, 'runId', 'monitor');
    const limit = options.events ?? 20;
    if (!Number.isInteger(limit) || limit < 0) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `monitor: events must be a whole number of recent events to include (0 or more), got ${JSON.stringify(options.events)}.`,
      );
    }
    const run = await this.runtime.view(runId);
    if (!run) throw unknownRun(runId);
    const store = this.runtime.store;
    const events = await store.events.readEvents({ runId });
    const openRequests = (await store.inbox.openRequests(runId)).map(pendingRequest);
    return monitorView({ run, fanouts: fanoutStatesOf(events), openRequests, events, limit });
  }

  fanout(options: FanoutOptions): Promise<RunHandle> {
    if (typeof options !== 'object' || options === null) {
      return Promise.reject(
        new TaskvisorError(
          'INVALID_OPTION',
          `fanout() takes { prompt, targets, repeat?, reduce? }, got ${JSON.stringify(options)}.`,
        ),
      );
    }
    const { prompt, targets, repeat, reduce, budget, metadata } = options;
    const short = typeof prompt === 'string' && prompt.length > 80 ? `${prompt.slice(0, 79)}…` : prompt;
    return this.start({
      goal: `Fan-out: ${short}`,
      plan: {
        steps: [
          {
            id: 'fanout',
            title: 'Fan-out',
            action: {
              kind: 'fanout',
              prompt,
              targets,
              ...(repeat === undefined ? {} : { repeat }),
              ...(reduce === undefined ? {} : { reduce }),
            },
          },
        ],
      } as PlanInput,
      ...(budget ? { budget } : {}),
      ...(metadata ? { metadata } : {}),
    });
  }

  private episodicMemory?: EpisodicMemory;

  get memory(): EpisodicMemory {
    this.episodicMemory ??= createEpisodicMemory(this.runtime.store.records);
    return this.episodicMemory;
  }

  get faults$(): Observable<StoreFault> {
    return this.runtime.faults.faults$;
  }

  async health(): Promise<Health> {
    const faults = this.runtime.faults;
    if (faults.active) {
      const error = faults.error;
      return {
        ok: false,
        store: storeStateOf(error),
        detail: error instanceof Error ? error.message : String(error),
      };
    }
    const checked = await this.runtime.store.check();
    return {
      ok: checked.state === 'ok',
      store: checked.state,
      ...(checked.detail ? { detail: checked.detail } : {}),
    };
  }

  verifyAudit(): Promise<AuditVerification> {
    return verifyAudit(this.runtime.store, this.auditKey);
  }

  resume(runId?: string): Promise<string[]> {
    return this.runtime.resume(runId);
  }

  async prune(options: PruneOptions): Promise<{ runs: number; events: number }> {
    if (typeof options !== 'object' || options === null) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `prune() takes { olderThan, phases? }, e.g. prune({ olderThan: '30d' }); got ${JSON.stringify(options)}.`,
      );
    }
    const age = parseDuration(options.olderThan, 'prune: olderThan');
    const phases = options.phases ?? [...TERMINAL_PHASES];
    if (!Array.isArray(phases) || phases.length === 0) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `prune: phases must be a non-empty list of finished phases (${[...TERMINAL_PHASES].join(', ')}), got ${JSON.stringify(options.phases)}.`,
      );
    }
    for (const phase of phases) {
      if (!TERMINAL_PHASES.has(phase)) {
        throw new TaskvisorError(
          'INVALID_OPTION',
          `prune: ${JSON.stringify(phase)} is not a finished phase; prune deletes only runs that ended (${[...TERMINAL_PHASES].join(', ')}) — cancel a run first to prune it.`,
          { phase },
        );
      }
    }
    const pruned = await this.runtime.store.runs.pruneRuns({ endedBefore: this.clock.now() - age, phases });
    for (const runId of pruned.runIds) this.runtime.readModel.drop(runId);
    return { runs: pruned.runIds.length, events: pruned.events };
  }

  close(options: { graceMs?: number } = {}): Promise<void> {
    if (
      options.graceMs !== undefined &&
      (typeof options.graceMs !== 'number' || !Number.isFinite(options.graceMs) || options.graceMs < 0)
    ) {
      return Promise.reject(
        new TaskvisorError(
          'INVALID_OPTION',
          `close: graceMs must be a number of milliseconds (0 or more), got ${JSON.stringify(options.graceMs)}.`,
        ),
      );
    }
    return this.runtime.close(options);
  }
}

export type { RunHandle } from './runtime/runtime.js';
export type { Pending, PendingApproval, PendingConfirmation, PendingRequest } from './model/pending.js';
export type { SupervisorOptions } from './supervisor-options.js';
export type { ActionContext, ActionFunction, Question } from './runtime/executor.js';
