/**
 * The runtime: provides the machines with real actors, runs the actor system, persists
 * it (`Persistence`), adopts unfinished runs, applies commands from this and other
 * processes, and keeps its leases alive. `createSupervisor` wraps it in the public API.
 */
import { type Actor, createActor, fromPromise, type InspectionEvent, type Observer } from 'xstate';
import type {
  PlanRunInput,
  PlanRunOutput,
  ReplanRunInput,
  ReplanRunOutput,
  TaskInput,
} from '../../machines/protocol.js';
import { restorable } from '../../machines/restorable.js';
import { createStepPool } from '../../machines/step-pool.js';
import { stepMachine } from '../../machines/step.machine.js';
import { supervisorMachine } from '../../machines/supervisor.machine.js';
import { taskMachine } from '../../machines/task.machine.js';
import type { Observable } from 'rxjs/internal/Observable';
import { EventBus } from '../bus/event-bus.js';
import type { Clock } from '../clock.js';
import { TaskvisorError } from '../errors.js';
import type { TaskvisorEvent, UnsequencedEvent } from '../model/events.js';
import type { Json } from '../model/json.js';
import type { PlanContext } from '../model/parse-plan.js';
import { isIdempotentStep, type ApproveReplans, type Plan } from '../model/plan.js';
import { isTerminalPhase, type RunPhase } from '../model/states.js';
import type { Tier } from '../model/tier.js';
import { type RunResult, type RunView, resultOf } from '../model/views.js';
import type { LeaseClaim, RunRow } from '../store/rows.js';
import type { Store } from '../store/store.js';
import { checkCommand, type Command, commandEvents, toMachineCommand, workerOf } from './commands.js';
import {
  type ActionFunction,
  attemptKey,
  createExecuteAction,
  createWaitUntil,
  type RecordedOutcome,
} from './executor.js';
import type { Budget } from '../model/budget.js';
import { BudgetLedger } from './budgets.js';
import { FanoutRegistry } from './fanout-registry.js';
import { ModelMeter, noModel, type RuntimeModel } from './model-meter.js';

export type { RuntimeModel } from './model-meter.js';
import { Questions } from './questions.js';
import { replanRequestOf } from './replan-request.js';
import { AttemptGate } from './attempt-gate.js';
import { deadHolder, isProcessAlive, ownerClaim } from './leases.js';
import { Persistence } from './persistence.js';
import { isTransientStoreError } from '../store/store-errors.js';
import { StoreFaults } from './store-faults.js';
import { ReadModel } from './read-model.js';
import { assembleTask, stepOutline } from './snapshots.js';
import { readCommand } from './command-schema.js';
import { mapInSlices, SLICED_PLAN_STEPS } from '../time-slices.js';

export type InspectObserver = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

export interface RuntimeConfig {
  readonly store: Store;
  /** Close the store on close() (it was opened for this supervisor). */
  readonly ownsStore: boolean;
  readonly clock: Clock;
  readonly actions: ReadonlyMap<string, ActionFunction>;
  readonly planContext: PlanContext;
  readonly maxRuns: number;
  readonly stepsPerRun: number;
  readonly maxReplans: number;
  readonly approveReplans: ApproveReplans;
  /** Every run's limits unless its start() says otherwise. */
  readonly budget: Budget;
  readonly model?: RuntimeModel;
  readonly confirmTiers: readonly Tier[];
  readonly leaseMs: number;
  readonly pollMs: number;
  readonly inspect?: InspectObserver;
  readonly newId: (prefix: 'run' | 'req') => string;
  /** The audit key (HMAC), kept outside the database. */
  readonly auditKey?: string;
  /**
   * Which runs this process drives: `own` — the runs it starts, plus unfinished runs nobody
   * drives (at open, and as their drivers go away); `all` — a worker: also claims every run
   * that needs a driver as it appears, up to `maxRuns` at a time; `none` — a client: starts
   * runs and sends commands, drives nothing, and follows runs that others drive.
   */
  readonly drive: DriveMode;
  /** How long a call waits for a failing store before it is told (writing goes on being retried). */
  readonly storeRetryMs: number;
}

export type DriveMode = 'own' | 'all' | 'none';

export interface StartRequest {
  readonly goal?: string;
  /** A plan `parsePlan` (or `planChecks`) validated against this runtime's plan context. */
  readonly plan?: Plan;
  readonly requireApproval?: boolean;
  readonly budget?: Budget;
  readonly metadata?: Record<string, Json>;
}

/** A run started by this supervisor. */
export interface RunHandle {
  readonly id: string;
  /** The run as this process last committed it. */
  view(): RunView;
  /** The run's events, from its first, then live. */
  readonly events$: Observable<TaskvisorEvent>;
  /** Settles when the run is completed, failed or cancelled. */
  readonly done: Promise<RunResult>;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

export class Runtime {
  readonly bus: EventBus;
  /** Which store operations are failing now, for health() and faults$. */
  readonly faults: StoreFaults;
  readonly readModel = new ReadModel();
  readonly persistence: Persistence;
  readonly claim: LeaseClaim = ownerClaim();
  readonly budgets: BudgetLedger;
  /** Every model call of a run: budget first, usage after. */
  readonly meter: ModelMeter;
  /** Live fan-outs, for worker controls. */
  readonly fanouts = new FanoutRegistry();
  private readonly root: Actor<typeof supervisorMachine>;
  private readonly doneWaiters = new Map<string, Array<Waiter<RunResult>>>();
  private readonly questions: Questions;
  private readonly interrupted = new Set<string>();
  /** Runs taken over from a holder that left its lease behind: attempts are journaled first. */
  private readonly journalFirst = new Set<string>();
  private lastYield = 0;
  private readonly recorded = new Map<string, RecordedOutcome>();
  private closed = false;
  private fatal?: unknown;
  private leaseTimer?: unknown;
  private pollTimer?: ReturnType<typeof setInterval>;
  private polling = false;
  /** Where attempts begin (held while the process drains before close). */
  readonly gate: AttemptGate;
  /** The task logic the root spawns runs with (a client builds a run's first snapshot with it). */
  private readonly taskLogic: ReturnType<typeof restorable<typeof taskMachine>>;
  /** Runs this process waits on (`done`) while other processes drive them. */
  private readonly followed = new Set<string>();
  private stopFollowing?: () => void;
  private stopSignals: Array<() => void> = [];
  private claiming = false;
  private claimAgain = false;

  private constructor(private readonly config: RuntimeConfig) {
    this.bus = new EventBus(config.store, { pollMs: config.pollMs });
    this.gate = new AttemptGate(config.clock);
    this.faults = new StoreFaults(config.clock);
    this.persistence = new Persistence({
      faults: this.faults,
      store: config.store,
      clock: config.clock,
      onCommitted: (events) => this.onCommitted(events),
      onLost: (runIds) => this.onLost(runIds),
      onFatal: (error) => this.onFatal(error),
      ...(config.auditKey === undefined ? {} : { auditKey: config.auditKey }),
    });
    const executeAction = createExecuteAction({
      clock: config.clock,
      persistence: this.persistence,
      gate: this.gate,
      actions: config.actions,
      outputOf: (runId, stepId) =>
        this.persistence.outputOf(runId, stepId) ?? this.readModel.outputOf(runId, stepId),
      interrupted: this.interrupted,
      recorded: this.recorded,
      journalFirst: (runId) => this.journalFirst.has(runId),
      yieldNow: () => this.yieldNow(),
      ask: (input, question, signal) => this.questions.ask(input, question, signal),
      ...(config.model
        ? { modelFor: (input, signal) => this.meter.runModel(input.runId, input.stepId, signal) }
        : {}),
    });
    this.budgets = new BudgetLedger((runId, { limit, detail }) =>
      this.root.send({
        type: 'run.command',
        runId,
        command: { type: 'budget.exhausted', limit, detail, at: config.clock.now() },
      }),
    );
    this.questions = new Questions({
      store: config.store,
      clock: config.clock,
      persistence: this.persistence,
      newId: config.newId,
      send: (runId, command) => this.root.send({ type: 'run.command', runId, command }),
    });
    this.meter = new ModelMeter({
      ...(config.model ? { model: config.model } : {}),
      budgets: this.budgets,
      persistence: this.persistence,
      clock: config.clock,
    });
    const step = stepMachine.provide({ actors: { executeAction, waitUntil: createWaitUntil(config.clock) } });
    const task = taskMachine.provide({
      actors: {
        stepPool: createStepPool(step),
        planRun: fromPromise<PlanRunOutput, PlanRunInput>(async ({ input, signal }) => {
          const model = config.model ?? noModel();
          const plan = await model.planner.plan(
            this.meter.runModel(input.runId, undefined, signal),
            input.goal,
          );
          return { plan, at: config.clock.now() };
        }),
        replanRun: fromPromise<ReplanRunOutput, ReplanRunInput>(async ({ input, signal }) => {
          const model = config.model ?? noModel();
          const steps = await model.planner.replan(
            this.meter.runModel(input.runId, undefined, signal),
            replanRequestOf(input, (runId, actorId) => this.persistence.factsFor(runId, actorId)),
          );
          return { steps, at: config.clock.now() };
        }),
      },
    });
    this.taskLogic = restorable(task);
    const supervisor = supervisorMachine.provide({ actors: { task: this.taskLogic } });
    const user = config.inspect;
    this.root = createActor(supervisor, {
      input: { maxRuns: config.maxRuns },
      inspect: (event) => {
        this.persistence.observe(event);
        if (typeof user === 'function') user(event);
        else user?.next?.(event);
      },
    });
  }

  static async open(
    config: RuntimeConfig,
    options: { resume: boolean; onCreated?: (runtime: Runtime) => void },
  ): Promise<Runtime> {
    const runtime = new Runtime(config);
    // Before any run resumes: a resumed step's action may already reach the runtime.
    options.onCreated?.(runtime);
    runtime.root.start();
    if (config.drive === 'all') await runtime.claimWork();
    else if (options.resume && config.drive === 'own') await runtime.adoptWhatIsFree();
    runtime.startTimers(options.resume && config.drive === 'own');
    runtime.listen();
    return runtime;
  }

  // ------------------------------------------------------------------------------------
  // Runs

  async start(request: StartRequest): Promise<RunHandle> {
    this.assertOpen();
    this.assertWritable();
    const plan = request.plan;
    const goal = request.goal ?? plan?.goal;
    if (goal === undefined || goal.trim() === '') {
      throw new TaskvisorError(
        'INVALID_OPTION',
        'start() needs a goal: pass { goal } (or a plan that has a "goal").',
        {},
      );
    }
    if (!plan && !this.config.model) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `start({ goal: ${JSON.stringify(goal)} }) has no plan and no model is configured to write one; pass a plan, or an llm to createSupervisor (or set TASKVISOR_MODEL).`,
        { goal },
      );
    }
    // A big plan's outlines are built in slices (the event loop turns); a small one's at once,
    // so that runs started together in one turn are committed together.
    const outlines =
      plan === undefined
        ? []
        : plan.steps.length > SLICED_PLAN_STEPS
          ? await mapInSlices(plan.steps, stepOutline)
          : plan.steps.map(stepOutline);
    this.assertOpen();
    const runId = this.config.newId('run');
    const at = this.config.clock.now();
    // A plan the model wrote waits for a human unless the caller says otherwise.
    const requireApproval = request.requireApproval ?? plan === undefined;
    const budget: Budget = { ...this.config.budget, ...request.budget };
    const input: TaskInput = {
      runId,
      goal,
      ...(plan ? { plan } : {}),
      requireApproval,
      approveReplans: this.config.approveReplans,
      // Without a model there is nobody to replan with.
      maxReplans: this.config.model ? this.config.maxReplans : 0,
      stepsPerRun: this.config.stepsPerRun,
      confirmTiers: this.config.confirmTiers,
      ...(Object.keys(budget).length > 0 ? { budget } : {}),
    };
    const row = {
      id: runId,
      goal,
      phase: 'queued' as const,
      createdAt: at,
      updatedAt: at,
      planVersion: plan ? 1 : 0,
      ...(request.metadata ? { metadata: request.metadata } : {}),
    };
    const created = {
      type: 'run.created' as const,
      at,
      runId,
      goal,
      steps: outlines,
      requireApproval,
      ...(request.metadata ? { metadata: request.metadata } : {}),
    };
    if (this.config.drive === 'none') return this.startForOthers(row, plan, created, input);
    this.budgets.track(runId, budget);
    this.persistence.stageNewRun(
      row,
      { ...this.claim, expiresAt: at + this.config.leaseMs, fence: 1 },
      plan,
      created,
    );
    const handle = this.handle(runId);
    this.root.send({ type: 'run.create', runId, input, at });
    await this.persistence.durable({ boundMs: this.config.storeRetryMs });
    return handle;
  }

  private handle(runId: string): RunHandle {
    const done = new Promise<RunResult>((resolve, reject) => {
      const waiters = this.doneWaiters.get(runId) ?? [];
      waiters.push({ resolve, reject });
      this.doneWaiters.set(runId, waiters);
    });
    // A handle whose `done` nobody awaits must not crash the process when it rejects.
    done.catch(() => {});
    return {
      id: runId,
      view: () => {
        const view = this.readModel.view(runId);
        if (!view)
          throw new TaskvisorError('UNKNOWN_RUN', `Run ${runId} is not in this supervisor's read model.`, {
            runId,
          });
        return view;
      },
      events$: this.bus.replay({ runId }),
      done,
    };
  }

  /** The run's view: live for runs driven here, read from the event log otherwise. */
  async view(runId: string): Promise<RunView | undefined> {
    if (this.persistence.owns(runId)) return this.readModel.view(runId);
    return this.readModel.sync(runId, this.config.store);
  }

  // ------------------------------------------------------------------------------------
  // Resume

  /** Adopts every unfinished run (or just `runId`) whose lease is free; returns those adopted. */
  async resume(runId?: string): Promise<string[]> {
    this.assertOpen();
    if (this.config.drive === 'none') {
      throw new TaskvisorError(
        'INVALID_STATE',
        "This supervisor was opened with drive: 'none' (a client): it drives no runs. Open one with drive: 'own' or 'all' (or run `taskvisor worker`) to resume runs.",
        { drive: 'none' },
      );
    }
    const candidates =
      runId !== undefined
        ? [runId]
        : (
            await this.config.store.runs.listRuns({
              phase: ['queued', 'planning', 'awaitingApproval', 'running', 'replanning', 'paused'],
            })
          )
            .reverse()
            .map((run) => run.id);
    const adopted: string[] = [];
    for (const id of candidates) if (await this.adopt(id)) adopted.push(id);
    if (adopted.length > 0) await this.pollCommands();
    return adopted;
  }

  private async adopt(runId: string): Promise<boolean> {
    const store = this.config.store;
    if (this.persistence.owns(runId)) return true;
    const run = await store.runs.getRun(runId);
    if (!run || isTerminalPhase(run.phase)) return false;
    const now = this.config.clock.now();
    const fence = await store.leases.acquireLease(runId, this.claim, {
      now,
      ttlMs: this.config.leaseMs,
      ...(deadHolder(run.lease, this.claim) ? { deadHolder: deadHolder(run.lease, this.claim)! } : {}),
    });
    if (fence === undefined) return false;
    return this.restore(runId, fence, run.lease !== undefined && run.lease.owner !== this.claim.owner);
  }

  /** Restores a run whose lease this process now holds (with `fence`) and drives it. */
  private async restore(runId: string, fence: number, takenOver: boolean): Promise<boolean> {
    const store = this.config.store;
    const now = this.config.clock.now();
    const loaded = await store.runs.loadRun(runId);
    const taskRow = loaded?.actors.find((row) => row.kind === 'task');
    if (!loaded || !taskRow) return false;
    if (takenOver) this.journalFirst.add(runId);
    const stepRows = loaded.actors.filter((row) => row.kind === 'step');
    await this.readModel.sync(runId, store);
    // Attempts in flight when the last process stopped: reuse a journaled outcome, or
    // report the attempt as interrupted (the step machine decides what that means).
    for (const row of stepRows) {
      if (row.state !== 'running' && row.state !== 'awaitingInput') continue;
      const attempt = (row.snapshot as { context: { attempt: number } }).context.attempt;
      const journal = (await store.records.attempts(runId, row.actorId)).find(
        (entry) => entry.attempt === attempt,
      );
      const key = attemptKey(runId, row.actorId, attempt);
      if (journal?.status === 'succeeded') this.recorded.set(key, { output: journal.output ?? null });
      else if (journal === undefined && row.state === 'running' && beganNever(loaded.plan, row.actorId)) {
        // No intent journaled: the attempt never began (a step with side effects runs only
        // once its intent is durable; a draining worker held it), so it starts now, once.
      } else if (journal?.status === 'failed' && journal.error) {
        this.recorded.set(key, {
          error: {
            message: journal.error.message,
            code: journal.error.code ?? 'ACTION_FAILED',
            retryable: journal.error.retryable !== false,
            at: journal.endedAt ?? now,
          },
        });
      } else this.interrupted.add(key);
    }
    this.persistence.own(runId, fence, { goal: loaded.run.goal, head: loaded.auditHead });
    const context = (taskRow.snapshot as { context?: { budget?: Budget } }).context;
    const usage = this.readModel.view(runId)?.usage;
    this.budgets.track(
      runId,
      context?.budget ?? {},
      { tokens: (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0), costUsd: usage?.costUsd ?? 0 },
      taskRow.state === 'paused',
    );
    for (const request of await store.inbox.openRequests(runId)) this.persistence.trackRequest(request);
    this.persistence.seedRow(taskRow, loaded.plan);
    for (const row of stepRows) this.persistence.seedRow(row);
    this.root.send({
      type: 'run.adopt',
      runId,
      snapshot: assembleTask(taskRow, loaded.plan, stepRows),
      phase: taskRow.state as RunPhase,
      at: now,
    });
    this.root.send({ type: 'run.command', runId, command: { type: 'run.resumed', at: now } });
    return true;
  }

  // ------------------------------------------------------------------------------------
  // Commands

  /** Applies a command to a run driven here, or stores it for the process that drives it. */
  async command(command: Command): Promise<void> {
    this.assertOpen();
    if (this.persistence.owns(command.runId)) {
      this.assertWritable();
      await this.oneAtATime(command.runId, async () => {
        const error = await this.applyOwned(command);
        if (error) throw error;
        await this.persistence.durable({ boundMs: this.config.storeRetryMs });
      });
      return;
    }
    const view = await this.readModel.sync(command.runId, this.config.store);
    if (!view) throw unknownRun(command.runId);
    const request =
      command.kind === 'answer'
        ? await this.config.store.inbox.findRequest({ id: command.requestId })
        : undefined;
    const error = checkCommand(view, command, request);
    if (error) throw error;
    await this.config.store.inbox.addCommand(
      command.runId,
      command as unknown as Json,
      this.config.clock.now(),
    );
  }

  private readonly commandQueues = new Map<string, Promise<unknown>>();

  /**
   * Runs a run's commands one after another, each once the previous one is durable: a
   * command is checked against the committed state, so two concurrent approvals (or
   * answers) cannot both pass.
   */
  private oneAtATime<T>(runId: string, task: () => Promise<T>): Promise<T> {
    const previous = this.commandQueues.get(runId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(task);
    const tail = next.catch(() => undefined);
    this.commandQueues.set(runId, tail);
    void tail.then(() => {
      if (this.commandQueues.get(runId) === tail) this.commandQueues.delete(runId);
    });
    return next;
  }

  /** Checks `command` against the committed view and applies it (staging its events). */
  private async applyOwned(command: Command, inboxId?: number): Promise<TaskvisorError | undefined> {
    const request =
      command.kind === 'answer'
        ? await this.config.store.inbox.findRequest({ id: command.requestId })
        : undefined;
    const view = this.readModel.view(command.runId);
    const error = view ? checkCommand(view, command, request) : unknownRun(command.runId);
    if (error || !view) {
      if (inboxId !== undefined)
        this.persistence.stageCommandApplied({ id: inboxId, runId: command.runId }, error?.message);
      return error;
    }
    const worker = command.kind === 'control' ? workerOf(view, command.stepId) : undefined;
    if (worker && command.kind === 'control') {
      const error = this.fanouts.control(
        command.runId,
        worker.stepId,
        worker.label,
        command.action,
        command.by,
      );
      if (inboxId !== undefined)
        this.persistence.stageCommandApplied({ id: inboxId, runId: command.runId }, error?.message);
      if (error) return error;
      this.persistence.stageEvent({
        type: 'control.applied',
        at: command.at,
        runId: command.runId,
        stepId: worker.stepId,
        label: worker.label,
        action: command.action,
        ...(command.by ? { by: command.by } : {}),
      });
      return undefined;
    }
    for (const event of commandEvents(command, view)) this.persistence.stageEvent(event);
    if (command.kind === 'answer') {
      this.persistence.stageRequest({
        type: 'answer',
        runId: command.runId,
        id: command.requestId,
        answer: command.answer as Json,
        at: command.at,
        ...(command.by ? { by: command.by } : {}),
      });
    }
    if (inboxId !== undefined) this.persistence.stageCommandApplied({ id: inboxId, runId: command.runId });
    this.root.send({ type: 'run.command', runId: command.runId, command: toMachineCommand(command) });
    if (command.kind === 'extendBudget') this.budgets.extend(command.runId, command.budget);
    if (command.kind === 'answer') {
      this.questions.answered(command.requestId, command.answer);
    }
    return undefined;
  }

  /** Applies commands other processes stored for runs driven here. */
  async pollCommands(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      for (const row of await this.config.store.inbox.pendingCommands()) {
        if (this.closed) return;
        if (this.persistence.owns(row.runId)) {
          // Written by another process: checked, never cast and trusted.
          const read = readCommand(row.command);
          if ('problem' in read) {
            this.persistence.stageCommandApplied(row, read.problem);
            continue;
          }
          await this.oneAtATime(row.runId, async () => {
            await this.applyOwned(read.command, row.id);
            await this.persistence.durable();
          });
          continue;
        }
        const run = await this.config.store.runs.getRun(row.runId);
        if (!run) this.persistence.stageCommandApplied(row, `no run "${row.runId}"`, true);
        else if (isTerminalPhase(run.phase))
          this.persistence.stageCommandApplied(row, `run ${run.id} had ended (${run.phase})`, true);
        // Otherwise another process drives the run (or none yet): the command waits for it.
      }
      this.faults.succeed('commands');
    } catch (error) {
      if (this.closed) return;
      if (isTransientStoreError(error)) this.faults.fail('commands', error);
      else this.onFatal(error);
    } finally {
      this.polling = false;
    }
  }

  // ------------------------------------------------------------------------------------
  // Persistence callbacks

  private onCommitted(events: readonly TaskvisorEvent[]): void {
    this.readModel.apply(events);
    this.bus.publish(events);
    for (const event of events) {
      if (event.type !== 'run.transition' || !isTerminalPhase(event.to)) continue;
      const view = this.readModel.view(event.runId);
      const waiters = this.doneWaiters.get(event.runId) ?? [];
      this.doneWaiters.delete(event.runId);
      if (view) for (const waiter of waiters) waiter.resolve(resultOf(view));
      this.persistence.disown(event.runId);
      this.journalFirst.delete(event.runId);
      this.budgets.forget(event.runId);
    }
    // A worker with room again takes more.
    if (
      this.config.drive === 'all' &&
      events.some((event) => event.type === 'run.transition' && isTerminalPhase(event.to))
    )
      void this.claimWork();
  }

  private onLost(runIds: readonly string[]): void {
    for (const runId of runIds) {
      this.root.send({ type: 'run.release', runId });
      this.readModel.drop(runId);
      this.budgets.forget(runId);
      const error = new TaskvisorError(
        'LEASE_LOST',
        `Another process took over run ${runId} (its lease expired here); it goes on there.`,
        { runId },
      );
      for (const waiter of this.doneWaiters.get(runId) ?? []) waiter.reject(error);
      this.doneWaiters.delete(runId);
    }
  }

  private onFatal(error: unknown): void {
    if (this.fatal) return;
    this.fatal = error;
    for (const waiters of this.doneWaiters.values()) for (const waiter of waiters) waiter.reject(error);
    this.doneWaiters.clear();
  }

  /** Resolves at once, or after an event-loop turn when none was taken for 4 ms. */
  private yieldNow(): Promise<void> {
    const now = performance.now();
    if (now - this.lastYield < 4) return Promise.resolve();
    return new Promise((resolve) =>
      setImmediate(() => {
        this.lastYield = performance.now();
        resolve();
      }),
    );
  }

  // ------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Keeps this process's leases alive every leaseMs/3; with `adopt`, also takes over
   * unfinished runs whose holder is gone or whose lease expired.
   */
  private startTimers(adopt: boolean): void {
    const { clock, leaseMs } = this.config;
    const every = Math.max(1, Math.floor(leaseMs / 3));
    const renew = () => {
      if (this.closed) return;
      this.config.store.leases.renewLeases(this.claim.owner, clock.now() + leaseMs).then(
        () => {
          this.faults.succeed('leases');
          return adopt && !this.closed ? this.adoptWhatIsFree() : undefined;
        },
        (error: unknown) => {
          if (this.closed) return;
          // A busy or full store: the next renewal tries again (leases outlast a few misses).
          if (isTransientStoreError(error)) this.faults.fail('leases', error);
          else this.onFatal(error);
        },
      );
      this.leaseTimer = clock.setTimeout(renew, every);
    };
    this.leaseTimer = clock.setTimeout(renew, every);
    if (this.config.drive === 'none') return;
    this.pollTimer = setInterval(() => {
      void this.pollCommands();
      if (this.config.drive === 'all') void this.claimWork();
    }, this.config.pollMs);
    this.pollTimer.unref?.();
  }

  /**
   * Takes over what it can now; a store that fails transiently is reported and tried again
   * at the next lease renewal (used on open and by the timer, where nobody awaits it).
   */
  private async adoptWhatIsFree(): Promise<void> {
    try {
      await this.resume();
      this.faults.succeed('adopt');
    } catch (error) {
      if (this.closed) return;
      if (isTransientStoreError(error)) this.faults.fail('adopt', error);
      else this.onFatal(error);
    }
  }

  /** Refuses a write at once while the store is failing: nothing is staged that could land later. */
  private assertWritable(): void {
    const error = this.faults.error;
    if (this.faults.active && error !== undefined) throw error;
  }

  private assertOpen(): void {
    if (this.closed)
      throw new TaskvisorError(
        'SUPERVISOR_CLOSED',
        'This supervisor was closed; create a new one with createSupervisor().',
        {},
      );
    if (this.fatal) throw this.fatal;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get store(): Store {
    return this.config.store;
  }

  /**
   * Stops: with `graceMs`, first takes no new work (no claims, no new attempts) and waits up
   * to `graceMs` for the attempts in flight to end; then persists what is staged, stops the
   * actors (an attempt still running is aborted: it resumes elsewhere under the durability
   * rules) and releases this process's leases.
   */
  async close(options: { readonly graceMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    if (options.graceMs !== undefined) {
      await this.gate.drain(options.graceMs);
      await this.persistence.durable().catch(() => undefined);
    }
    if (this.closed) return;
    this.closed = true;
    for (const stop of this.stopSignals.splice(0)) stop();
    this.stopFollowing?.();
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.leaseTimer !== undefined) this.config.clock.clearTimeout(this.leaseTimer);
    try {
      await this.persistence.flushNow();
    } catch {
      // The store already failed; nothing more can be saved.
    }
    this.persistence.stop();
    this.root.stop();
    const closedError = new TaskvisorError(
      'SUPERVISOR_CLOSED',
      'The supervisor closed before this run finished; it resumes when a supervisor opens the database again.',
      {},
    );
    for (const waiters of this.doneWaiters.values()) for (const waiter of waiters) waiter.reject(closedError);
    this.doneWaiters.clear();
    this.questions.rejectAll(closedError);
    try {
      await this.config.store.leases.releaseLeases(this.claim.owner);
    } catch (error) {
      // A failing store keeps the leases until they expire; others take the runs over then.
      if (!isTransientStoreError(error)) throw error;
    } finally {
      this.bus.complete();
      this.faults.complete();
      if (this.config.ownsStore) await this.config.store.close();
    }
  }

  // ------------------------------------------------------------------------------------
  // Drive modes: workers claim runs, clients start runs for others and follow them

  /** Wake-ups from other processes: a stored command, leases released (more work). */
  private listen(): void {
    const signals = this.config.store.signals;
    if (!signals || this.config.drive === 'none') return;
    this.stopSignals.push(signals.on('commands', () => this.wakeCommands()));
    if (this.config.drive === 'all') this.stopSignals.push(signals.on('runs', () => void this.claimWork()));
  }

  private commandsAgain = false;

  /** Applies stored commands now (again once the poll under way ends, if one is). */
  private wakeCommands(): void {
    if (this.polling) {
      this.commandsAgain = true;
      return;
    }
    void this.pollCommands().then(() => {
      if (!this.commandsAgain) return;
      this.commandsAgain = false;
      this.wakeCommands();
    });
  }

  /**
   * A worker (`drive: 'all'`) takes runs that need a driver — no lease, an expired one, or
   * one whose holder on this host is gone — while it drives fewer than `maxRuns`.
   */
  async claimWork(): Promise<void> {
    if (this.config.drive !== 'all' || this.closed || this.gate.closing || this.fatal) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claiming = true;
    const { store, clock } = this.config;
    try {
      do {
        this.claimAgain = false;
        const room = this.config.maxRuns - this.persistence.ownedRuns.length;
        if (room <= 0) break;
        const now = clock.now();
        const holders = await store.leases.leaseHolders(this.claim.host, now);
        const dead = holders
          .filter((holder) => holder.owner !== this.claim.owner && !isProcessAlive(holder.pid))
          .map((holder) => holder.owner);
        const claimed = await store.leases.claimRuns(this.claim, {
          now,
          ttlMs: this.config.leaseMs,
          limit: room,
          ...(dead.length > 0 ? { deadHolders: dead } : {}),
        });
        for (const { runId, fence, takenOver } of claimed) {
          if (this.closed) return;
          await this.restore(runId, fence, takenOver);
        }
        if (claimed.length > 0) this.wakeCommands();
      } while (this.claimAgain && !this.closed && !this.gate.closing);
      this.faults.succeed('adopt');
    } catch (error) {
      // A store that fails for a while is reported; the next poll or wake-up claims again.
      if (this.closed) return;
      if (isTransientStoreError(error)) this.faults.fail('adopt', error);
      else this.onFatal(error);
    } finally {
      this.claiming = false;
    }
  }

  /**
   * A client (`drive: 'none'`) creates the run for others to drive: its row, plan, first
   * event and its task's first snapshot (a task actor that is created, never started, and
   * seen by the persistence loop like every new actor), with a lease that has already
   * expired — then frees it, which wakes the workers. The handle follows the run.
   */
  private async startForOthers(
    row: Omit<RunRow, 'lease'>,
    plan: Plan | undefined,
    created: UnsequencedEvent,
    input: TaskInput,
  ): Promise<RunHandle> {
    const runId = row.id;
    const handle = this.handle(runId);
    this.follow(runId);
    // The feed must know where it starts before the run exists: no event of it is missed.
    await this.bus.ready();
    this.persistence.stageNewRun(row, { ...this.claim, expiresAt: row.createdAt, fence: 1 }, plan, created);
    createActor(this.taskLogic, {
      id: runId,
      src: 'task',
      input: { create: input },
      inspect: (event) => this.persistence.observe(event),
    });
    try {
      await this.persistence.durable();
    } finally {
      this.persistence.disown(runId);
    }
    await this.config.store.leases.releaseLeases(this.claim.owner);
    return handle;
  }

  /** Follows a run others drive: its events feed the read model, its end settles `done`. */
  private follow(runId: string): void {
    this.followed.add(runId);
    if (this.stopFollowing) return;
    const subscription = this.bus.events$.subscribe((event) => this.onFollowed(event));
    this.stopFollowing = () => {
      subscription.unsubscribe();
      this.stopFollowing = undefined;
    };
  }

  private onFollowed(event: TaskvisorEvent): void {
    if (!this.followed.has(event.runId) || this.persistence.owns(event.runId)) return;
    this.readModel.apply([event]);
    if (event.type !== 'run.transition' || !isTerminalPhase(event.to)) return;
    this.followed.delete(event.runId);
    const view = this.readModel.view(event.runId);
    const waiters = this.doneWaiters.get(event.runId) ?? [];
    this.doneWaiters.delete(event.runId);
    if (view) for (const waiter of waiters) waiter.resolve(resultOf(view));
    if (this.followed.size === 0) this.stopFollowing?.();
  }
}

/** Whether a restored step's attempt with no journaled intent certainly never began. */
function beganNever(plan: Plan | undefined, stepId: string): boolean {
  const step = plan?.steps.find((candidate) => candidate.id === stepId);
  // Only a step with side effects waits for its intent to be durable before it runs.
  return step !== undefined && !isIdempotentStep(step);
}

export function unknownRun(runId: string): TaskvisorError {
  return new TaskvisorError(
    'UNKNOWN_RUN',
    `No run "${runId}" in this database; list the runs with sv.list() (or \`taskvisor ls\`).`,
    { runId },
  );
}
