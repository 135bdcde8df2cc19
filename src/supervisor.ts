/**
 * `createSupervisor()`: the embedding API (see API.md). It validates options, opens the
 * store, starts the runtime and exposes runs, commands, the read model and the bus.
 */
import { randomBytes } from 'node:crypto';
import type { Observable } from 'rxjs/internal/Observable';
import type { StepControlAction } from '../machines/protocol.js';
import { type Clock, systemClock } from './clock.js';
import { TaskvisorError } from './errors.js';
import type { Answer, TaskvisorEvent } from './model/events.js';
import type { Json } from './model/json.js';
import { knownKinds, type PlanContext } from './model/parse-plan.js';
import type { PlanInput } from './model/plan.js';
import { isTerminalPhase, type RunPhase, TERMINAL_PHASES } from './model/states.js';
import { parseDuration } from './model/duration.js';
import {
  ANSWER_SHAPE,
  AnswerArgumentSchema,
  APPROVE_SHAPE,
  ApproveOptionsSchema,
  BUDGET_SHAPE,
  BudgetArgumentSchema,
  BY_SHAPE,
  ByOptionsSchema,
  CANCEL_SHAPE,
  CLOSE_SHAPE,
  CloseOptionsSchema,
  CancelOptionsSchema,
  checkGoal,
  checkMetadata,
  CONFIRM_SHAPE,
  ConfirmOptionsSchema,
  ControlActionArgumentSchema,
  EVENTS_SHAPE,
  EventsOptionsSchema,
  FANOUT_SHAPE,
  FanoutOptionsSchema,
  LIST_SHAPE,
  ListFilterSchema,
  MONITOR_SHAPE,
  MonitorOptionsSchema,
  OptionalRunIdSchema,
  PRUNE_SHAPE,
  PruneOptionsSchema,
  REJECT_SHAPE,
  RejectOptionsSchema,
  RequestIdArgumentSchema,
  RunIdArgumentSchema,
  SEARCH_SHAPE,
  SearchOptionsSchema,
  SearchTextSchema,
  START_SHAPE,
  StartOptionsSchema,
  StepIdArgumentSchema,
} from './model/api-arguments.js';
import { argumentError, checkArgument } from './model/argument-check.js';
import { checkOutput, type Limits, resolveLimits } from './model/limits.js';
import { checkPlanInSlices } from './time-slices.js';
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
import { FanoutActionSchema, type FanoutTarget, type ReduceMode } from './model/action.js';
import { resolveBuiltinOptions } from './actions/builtin-options.js';
import { auditKeyRecord, keyedSince } from './audit/hash-chain.js';
import { type AuditVerification, verifyAudit } from './audit/verify-audit.js';
import { createEpisodicMemory, type EpisodicMemory } from './memory/episodic-memory.js';
import { invalidOptions, type SupervisorOptions } from './supervisor-options.js';
import type { Budget } from './model/budget.js';
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

function randomId(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString('base64url')}`;
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
  const limits = resolveLimits(options.limits);
  const custom = Object.entries(options.actions ?? {}).map(
    ([kind, action]) => [kind, withOutputLimit(action, limits)] as const,
  );
  const actions = new Map<string, ActionFunction>([...builtins, ...custom]);
  const planContext: PlanContext = {
    kinds: [...actions.keys()],
    ...builtinPlanContext,
    limits: { planSteps: limits.planSteps, stepBytes: limits.stepBytes, jsonDepth: limits.jsonDepth },
  };
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
  return new SupervisorApi(runtime, clock, confirmTiers, auditKey, limits, planContext);
}

/**
 * A custom action whose output is checked against the limits before it is stored: JSON
 * (nothing coerced), at most `limits.jsonDepth` deep and `limits.outputBytes` big; over
 * them, the step fails (not retried) with an error naming the path or the limit.
 */
function withOutputLimit(action: ActionFunction, limits: Limits): ActionFunction {
  return async (input, ctx) => {
    const result = await action(input, ctx);
    checkOutput(result?.output, limits);
    return result;
  };
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

/** What every method of a closed supervisor throws. */
function closedError(): TaskvisorError {
  return new TaskvisorError(
    'SUPERVISOR_CLOSED',
    'This supervisor was closed; create a new one with createSupervisor().',
    {},
  );
}

class SupervisorApi implements Supervisor {
  constructor(
    private readonly runtime: Runtime,
    private readonly clock: Clock,
    private readonly confirmTiers: readonly Tier[],
    private readonly auditKey: string | undefined,
    private readonly limits: Limits,
    private readonly planContext: PlanContext,
  ) {}

  /** The runtime, or SUPERVISOR_CLOSED once close() has begun: the first check of every method. */
  private live(): Runtime {
    if (this.runtime.isClosed) throw closedError();
    return this.runtime;
  }

  get events$(): Observable<TaskvisorEvent> {
    return this.live().bus.events$;
  }

  events(options?: { runId?: string; after?: number }): Observable<TaskvisorEvent> {
    const runtime = this.live();
    const checked = checkArgument(EventsOptionsSchema, options, {
      method: 'events',
      name: 'options',
      shape: EVENTS_SHAPE,
    });
    return runtime.bus.replay(checked);
  }

  async start(options: StartOptions): Promise<RunHandle> {
    const runtime = this.live();
    const checked = checkArgument(StartOptionsSchema, options, {
      method: 'start',
      name: 'options',
      shape: START_SHAPE,
    });
    if (checked.goal !== undefined) checkGoal(checked.goal, this.limits, 'start');
    if (checked.metadata !== undefined) checkMetadata(checked.metadata, this.limits, 'start');
    // Validated in slices: a plan of limits.planSteps steps does not hold the event loop.
    const plan =
      checked.plan === undefined ? undefined : await checkPlanInSlices(checked.plan, this.planContext);
    if (checked.goal === undefined && plan?.goal !== undefined) checkGoal(plan.goal, this.limits, 'start');
    const { metadata, plan: _input, ...request } = checked;
    return runtime.start({
      ...request,
      ...(plan ? { plan } : {}),
      // A plain copy: what is stored is what was checked, whatever the caller changes later.
      ...(metadata === undefined
        ? {}
        : { metadata: JSON.parse(JSON.stringify(metadata)) as Record<string, Json> }),
    });
  }

  async approvePlan(runId: string, options?: { by?: string; note?: string }): Promise<void> {
    const runtime = this.live();
    const id = checkArgument(RunIdArgumentSchema, runId, { method: 'approvePlan', name: 'runId' });
    const checked = checkArgument(ApproveOptionsSchema, options, {
      method: 'approvePlan',
      name: 'options',
      shape: APPROVE_SHAPE,
    });
    await runtime.command({ kind: 'approvePlan', runId: id, ...checked, at: this.clock.now() });
  }

  async rejectPlan(runId: string, options: { by?: string; reason: string }): Promise<void> {
    const runtime = this.live();
    const id = checkArgument(RunIdArgumentSchema, runId, { method: 'rejectPlan', name: 'runId' });
    const checked = checkArgument(RejectOptionsSchema, options, {
      method: 'rejectPlan',
      name: 'options',
      shape: REJECT_SHAPE,
    });
    await runtime.command({ kind: 'rejectPlan', runId: id, ...checked, at: this.clock.now() });
  }

  async confirmStep(
    runId: string,
    stepId: string,
    options: { approved: boolean; decision?: 'skip' | 'fail'; by?: string; reason?: string },
  ): Promise<void> {
    const runtime = this.live();
    const id = checkArgument(RunIdArgumentSchema, runId, { method: 'confirmStep', name: 'runId' });
    const step = checkArgument(StepIdArgumentSchema, stepId, { method: 'confirmStep', name: 'stepId' });
    const checked = checkArgument(ConfirmOptionsSchema, options, {
      method: 'confirmStep',
      name: 'options',
      shape: CONFIRM_SHAPE,
    });
    await runtime.command({ kind: 'confirmStep', runId: id, stepId: step, ...checked, at: this.clock.now() });
  }

  async answer(requestId: string, answer: Answer & { by?: string }): Promise<void> {
    const runtime = this.live();
    const id = checkArgument(RequestIdArgumentSchema, requestId, { method: 'answer', name: 'requestId' });
    const { by, ...fields } = checkArgument(AnswerArgumentSchema, answer, {
      method: 'answer',
      name: 'answer',
      shape: ANSWER_SHAPE,
    });
    const request = await runtime.store.inbox.findRequest({ id });
    if (!request) {
      throw new TaskvisorError(
        'UNKNOWN_REQUEST',
        `No request "${id}"; sv.pending().requests lists the open ones.`,
        { requestId: id },
      );
    }
    await runtime.command({
      kind: 'answer',
      runId: request.runId,
      stepId: request.stepId,
      requestId: id,
      answer: fields,
      ...(by ? { by } : {}),
      at: this.clock.now(),
    });
  }

  async control(
    runId: string,
    stepId: string,
    action: StepControlAction,
    options?: { by?: string },
  ): Promise<void> {
    const runtime = this.live();
    const id = checkArgument(RunIdArgumentSchema, runId, { method: 'control', name: 'runId' });
    const step = checkArgument(StepIdArgumentSchema, stepId, { method: 'control', name: 'stepId' });
    const checkedAction = checkArgument(ControlActionArgumentSchema, action, {
      method: 'control',
      name: 'action',
    });
    const checked = checkArgument(ByOptionsSchema, options, {
      method: 'control',
      name: 'options',
      shape: BY_SHAPE,
    });
    await runtime.command({
      kind: 'control',
      runId: id,
      stepId: step,
      action: checkedAction,
      ...checked,
      at: this.clock.now(),
    });
  }

  async extendBudget(runId: string, budget: Budget, options?: { by?: string }): Promise<void> {
    const runtime = this.live();
    const id = checkArgument(RunIdArgumentSchema, runId, { method: 'extendBudget', name: 'runId' });
    const limits = checkArgument(BudgetArgumentSchema, budget, {
      method: 'extendBudget',
      name: 'budget',
      shape: BUDGET_SHAPE,
    });
    const checked = checkArgument(ByOptionsSchema, options, {
      method: 'extendBudget',
      name: 'options',
      shape: BY_SHAPE,
    });
    await runtime.command({
      kind: 'extendBudget',
      runId: id,
      budget: limits,
      ...checked,
      at: this.clock.now(),
    });
  }

  async cancel(runId: string, options?: { by?: string; reason?: string }): Promise<void> {
    const runtime = this.live();
    const id = checkArgument(RunIdArgumentSchema, runId, { method: 'cancel', name: 'runId' });
    const checked = checkArgument(CancelOptionsSchema, options, {
      method: 'cancel',
      name: 'options',
      shape: CANCEL_SHAPE,
    });
    await runtime.command({ kind: 'cancel', runId: id, ...checked, at: this.clock.now() });
  }

  async get(runId: string): Promise<RunView | undefined> {
    const runtime = this.live();
    return runtime.view(checkArgument(RunIdArgumentSchema, runId, { method: 'get', name: 'runId' }));
  }

  async list(filter?: ListFilter): Promise<RunView[]> {
    const runtime = this.live();
    const checked =
      checkArgument(ListFilterSchema, filter, { method: 'list', name: 'filter', shape: LIST_SHAPE }) ?? {};
    if (checked.before !== undefined && !(await runtime.store.runs.getRun(checked.before))) {
      throw unknownRun(checked.before);
    }
    const runs = await runtime.store.runs.listRuns({
      ...(checked.phase === undefined ? {} : { phase: checked.phase }),
      limit: checked.limit ?? DEFAULT_LIST_LIMIT,
      ...(checked.before === undefined ? {} : { before: checked.before }),
    });
    const views: RunView[] = [];
    for (const run of runs) {
      const view = await runtime.view(run.id);
      if (view) views.push(view);
    }
    return views;
  }

  async pending(): Promise<Pending> {
    const runtime = this.live();
    const store = runtime.store;
    const approvals: PendingApproval[] = [];
    const confirmations: PendingConfirmation[] = [];
    const open = await store.runs.listRuns({
      phase: ['awaitingApproval', 'running', 'replanning', 'paused'],
    });
    for (const run of open) {
      const view = await runtime.view(run.id);
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
    const runtime = this.live();
    const id = checkArgument(RunIdArgumentSchema, runId, { method: 'trace', name: 'runId' });
    const run = await runtime.view(id);
    if (!run) throw unknownRun(id);
    const store = runtime.store;
    const events = await store.events.readEvents({ runId: id });
    return {
      run,
      events,
      transitions: events.filter(
        (event) => event.type === 'run.transition' || event.type === 'step.transition',
      ),
      attempts: await store.records.attempts(id),
      requests: await store.inbox.requests(id),
      artifacts: await store.records.artifacts(id),
      usage: run.usage,
      audit: await store.auditLog.audit({ runId: id }),
      workers: fanoutStatesOf(events).flatMap(({ stepId, state }) =>
        workerResults(state).map((worker) => ({ stepId, ...worker })),
      ),
    };
  }

  async monitor(runId: string, options?: { events?: number }): Promise<MonitorView<PendingRequest>> {
    const runtime = this.live();
    const id = checkArgument(RunIdArgumentSchema, runId, { method: 'monitor', name: 'runId' });
    const checked = checkArgument(MonitorOptionsSchema, options, {
      method: 'monitor',
      name: 'options',
      shape: MONITOR_SHAPE,
    });
    const run = await runtime.view(id);
    if (!run) throw unknownRun(id);
    const store = runtime.store;
    const events = await store.events.readEvents({ runId: id });
    const openRequests = (await store.inbox.openRequests(id)).map(pendingRequest);
    return monitorView({
      run,
      fanouts: fanoutStatesOf(events),
      openRequests,
      events,
      limit: checked?.events ?? 20,
    });
  }

  async fanout(options: FanoutOptions): Promise<RunHandle> {
    this.live();
    const site = { method: 'fanout', name: 'options', shape: FANOUT_SHAPE };
    const { prompt, targets, repeat, reduce, budget, metadata } = checkArgument(
      FanoutOptionsSchema,
      options,
      site,
    );
    // The fan-out action's own schema checks targets, repeat and reduce, named as options.<field>.
    const action = {
      kind: 'fanout',
      prompt,
      targets,
      ...(repeat === undefined ? {} : { repeat }),
      ...(reduce === undefined ? {} : { reduce }),
    };
    const parsed = FanoutActionSchema.safeParse(action);
    if (!parsed.success) throw argumentError(site, parsed.error.issues[0]!, action);
    const short = prompt.length > 80 ? `${prompt.slice(0, 79)}…` : prompt;
    return this.start({
      goal: `Fan-out: ${short}`,
      plan: { steps: [{ id: 'fanout', title: 'Fan-out', action }] } as PlanInput,
      ...(budget ? { budget } : {}),
      ...(metadata === undefined ? {} : { metadata: metadata as Record<string, Json> }),
    });
  }

  private episodicMemory?: EpisodicMemory;

  /** `memory.search(text, { limit? })`, checked (and refused once closed) like every method. */
  get memory(): EpisodicMemory {
    this.episodicMemory ??= this.checkedMemory();
    return this.episodicMemory;
  }

  private checkedMemory(): EpisodicMemory {
    const inner = createEpisodicMemory(this.runtime.store.records);
    return {
      search: async (text, options) => {
        this.live();
        const words = checkArgument(SearchTextSchema, text, { method: 'memory.search', name: 'text' });
        const checked = checkArgument(SearchOptionsSchema, options, {
          method: 'memory.search',
          name: 'options',
          shape: SEARCH_SHAPE,
        });
        return inner.search(words, checked);
      },
      relevantEpisodes: async (text, budgetChars) => {
        this.live();
        return inner.relevantEpisodes(text, budgetChars);
      },
    };
  }

  get faults$(): Observable<StoreFault> {
    return this.live().faults.faults$;
  }

  async health(): Promise<Health> {
    const runtime = this.live();
    const faults = runtime.faults;
    if (faults.active) {
      const error = faults.error;
      return {
        ok: false,
        store: storeStateOf(error),
        detail: error instanceof Error ? error.message : String(error),
      };
    }
    const checked = await runtime.store.check();
    return {
      ok: checked.state === 'ok',
      store: checked.state,
      ...(checked.detail ? { detail: checked.detail } : {}),
    };
  }

  async verifyAudit(): Promise<AuditVerification> {
    return verifyAudit(this.live().store, this.auditKey);
  }

  async resume(runId?: string): Promise<string[]> {
    const runtime = this.live();
    return runtime.resume(checkArgument(OptionalRunIdSchema, runId, { method: 'resume', name: 'runId' }));
  }

  async prune(options: PruneOptions): Promise<{ runs: number; events: number }> {
    const runtime = this.live();
    const checked = checkArgument(PruneOptionsSchema, options, {
      method: 'prune',
      name: 'options',
      shape: PRUNE_SHAPE,
    });
    const age = parseDuration(checked.olderThan, 'prune: options.olderThan');
    const phases = (checked.phases ?? [...TERMINAL_PHASES]) as RunPhase[];
    for (const phase of phases) {
      if (!TERMINAL_PHASES.has(phase)) {
        throw new TaskvisorError(
          'INVALID_OPTION',
          `prune: ${JSON.stringify(phase)} is not a finished phase; prune deletes only runs that ended (${[...TERMINAL_PHASES].join(', ')}) — cancel a run first to prune it.`,
          { phase },
        );
      }
    }
    const pruned = await runtime.store.runs.pruneRuns({ endedBefore: this.clock.now() - age, phases });
    for (const runId of pruned.runIds) runtime.readModel.drop(runId);
    return { runs: pruned.runIds.length, events: pruned.events };
  }

  /** Idempotent: closing a closed supervisor does nothing. */
  close(options?: { graceMs?: number }): Promise<void> {
    try {
      const checked = checkArgument(CloseOptionsSchema, options, {
        method: 'close',
        name: 'options',
        shape: CLOSE_SHAPE,
      });
      return this.runtime.close(checked ?? {});
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }
}

export type { RunHandle } from './runtime/runtime.js';
export type { Pending, PendingApproval, PendingConfirmation, PendingRequest } from './model/pending.js';
export type { SupervisorOptions } from './supervisor-options.js';
export type { ActionContext, ActionFunction, Question } from './runtime/executor.js';
