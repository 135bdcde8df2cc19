/**
 * The runtime: provides the machines with real actors, runs the actor system, persists
 * it (`Persistence`), adopts unfinished runs, applies commands from this and other
 * processes, and keeps its leases alive. `createSupervisor` wraps it in the public API.
 */
import { type Actor, createActor, fromPromise, type InspectionEvent, type Observer } from 'xstate';
import type {
  ExecuteActionInput,
  PlanRunInput,
  PlanRunOutput,
  ReplanRunInput,
  ReplanRunOutput,
  StepControlAction,
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
import type { Answer, TaskvisorEvent } from '../model/events.js';
import type { Json } from '../model/json.js';
import { type PlanContext, parsePlan } from '../model/parse-plan.js';
import type { PlanInput } from '../model/plan.js';
import { isTerminalPhase, type RunPhase } from '../model/states.js';
import type { Tier } from '../model/tier.js';
import { type RunResult, type RunView, resultOf } from '../model/views.js';
import type { LeaseClaim, Store } from '../store/store.js';
import type { FanoutHandle } from '../fanout/run-fanout.js';
import { checkCommand, type Command, commandEvents, toMachineCommand, workerOf } from './commands.js';
import {
  type ActionFunction,
  attemptKey,
  createExecuteAction,
  createWaitUntil,
  type Question,
  type RecordedOutcome,
  type RunModel,
} from './executor.js';
import type { ChatRequest, ChatResult } from '../llm/chat.js';
import type { LlmClient } from '../llm/client.js';
import { costOf, type Prices } from '../llm/prices.js';
import type { Budget } from '../model/budget.js';
import type { Planner } from '../planning/planner.js';
import { BudgetLedger } from './budgets.js';
import { deadHolder, ownerClaim } from './leases.js';
import { Persistence } from './persistence.js';
import { ReadModel } from './read-model.js';
import { assembleTask, stepOutline } from './snapshots.js';

export type InspectObserver = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/** The supervisor's model: a client, its prices and the planner that uses it. */
export interface RuntimeModel {
  readonly client: LlmClient;
  readonly prices: Prices;
  readonly planner: Planner;
  /** The most a call may write when it does not say (reserved against the budget). */
  readonly maxOutputTokens: number;
}

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
  readonly approveReplans: boolean;
  /** Every run's limits unless its start() says otherwise. */
  readonly budget: Budget;
  readonly model?: RuntimeModel;
  readonly confirmTiers: readonly Tier[];
  readonly leaseMs: number;
  readonly pollMs: number;
  readonly inspect?: InspectObserver;
  readonly newId: (prefix: 'run' | 'req') => string;
}

export interface StartRequest {
  readonly goal?: string;
  readonly plan?: PlanInput | unknown;
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
  readonly readModel = new ReadModel();
  readonly persistence: Persistence;
  readonly claim: LeaseClaim = ownerClaim();
  readonly budgets: BudgetLedger;
  private readonly root: Actor<typeof supervisorMachine>;
  private readonly doneWaiters = new Map<string, Array<Waiter<RunResult>>>();
  private readonly answerWaiters = new Map<string, Waiter<Answer>>();
  private readonly interrupted = new Set<string>();
  private readonly recorded = new Map<string, RecordedOutcome>();
  private closed = false;
  private fatal?: unknown;
  private leaseTimer?: unknown;
  private pollTimer?: ReturnType<typeof setInterval>;
  private polling = false;

  private constructor(private readonly config: RuntimeConfig) {
    this.bus = new EventBus(config.store);
    this.persistence = new Persistence({
      store: config.store,
      clock: config.clock,
      onCommitted: (events) => this.onCommitted(events),
      onLost: (runIds) => this.onLost(runIds),
      onFatal: (error) => this.onFatal(error),
    });
    const executeAction = createExecuteAction({
      clock: config.clock,
      persistence: this.persistence,
      actions: config.actions,
      outputOf: (runId, stepId) =>
        this.persistence.outputOf(runId, stepId) ?? this.readModel.outputOf(runId, stepId),
      yieldNow: () => this.yieldNow(),
      interrupted: this.interrupted,
      recorded: this.recorded,
      ask: (input, question, signal) => this.ask(input, question, signal),
      ...(config.model
        ? { modelFor: (input, signal) => this.runModel(input.runId, input.stepId, signal) }
        : {}),
    });
    this.budgets = new BudgetLedger((runId, { limit, detail }) =>
      this.root.send({
        type: 'run.command',
        runId,
        command: { type: 'budget.exhausted', limit, detail, at: config.clock.now() },
      }),
    );
    const step = stepMachine.provide({ actors: { executeAction, waitUntil: createWaitUntil(config.clock) } });
    const task = taskMachine.provide({
      actors: {
        stepPool: createStepPool(step),
        planRun: fromPromise<PlanRunOutput, PlanRunInput>(async ({ input, signal }) => {
          const model = config.model ?? noModel();
          const plan = await model.planner.plan(this.runModel(input.runId, undefined, signal), input.goal);
          return { plan, at: config.clock.now() };
        }),
        replanRun: fromPromise<ReplanRunOutput, ReplanRunInput>(async ({ input, signal }) => {
          const model = config.model ?? noModel();
          const steps = await model.planner.replan(
            this.runModel(input.runId, undefined, signal),
            this.replanRequest(input),
          );
          return { steps, at: config.clock.now() };
        }),
      },
    });
    const supervisor = supervisorMachine.provide({ actors: { task: restorable(task) } });
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

  static async open(config: RuntimeConfig, options: { resume: boolean }): Promise<Runtime> {
    const runtime = new Runtime(config);
    runtime.root.start();
    if (options.resume) await runtime.resume();
    runtime.startTimers(options.resume);
    return runtime;
  }

  // ------------------------------------------------------------------------------------
  // Runs

  async start(request: StartRequest): Promise<RunHandle> {
    this.assertOpen();
    const plan = request.plan === undefined ? undefined : parsePlan(request.plan, this.config.planContext);
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
    this.budgets.track(runId, budget);
    this.persistence.stageNewRun(
      {
        id: runId,
        goal,
        phase: 'queued',
        createdAt: at,
        updatedAt: at,
        planVersion: plan ? 1 : 0,
        ...(request.metadata ? { metadata: request.metadata } : {}),
      },
      { ...this.claim, expiresAt: at + this.config.leaseMs, fence: 1 },
      plan,
      {
        type: 'run.created',
        at,
        runId,
        goal,
        steps: plan ? plan.steps.map(stepOutline) : [],
        requireApproval,
        ...(request.metadata ? { metadata: request.metadata } : {}),
      },
    );
    const handle = this.handle(runId);
    this.root.send({ type: 'run.create', runId, input, at });
    await this.persistence.durable();
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
  // Fan-outs

  private readonly fanouts = new Map<string, Map<string, FanoutHandle>>();

  /** A fan-out step's live handle, for worker controls; returns its unregister function. */
  registerFanout(runId: string, stepId: string, handle: FanoutHandle): () => void {
    const steps = this.fanouts.get(runId) ?? new Map<string, FanoutHandle>();
    steps.set(stepId, handle);
    this.fanouts.set(runId, steps);
    return () => {
      if (steps.get(stepId) !== handle) return;
      steps.delete(stepId);
      if (steps.size === 0) this.fanouts.delete(runId);
    };
  }

  private controlWorker(
    runId: string,
    stepId: string,
    label: string,
    action: StepControlAction,
    by: string | undefined,
  ): TaskvisorError | undefined {
    const handle = this.fanouts.get(runId)?.get(stepId);
    if (!handle) {
      return new TaskvisorError(
        'INVALID_STATE',
        `The fan-out of step ${stepId} in run ${runId} is not running here, so worker "${label}" cannot be controlled; control the step instead.`,
        { runId, stepId, label, action },
      );
    }
    try {
      handle.control(label, action, by === undefined ? {} : { by });
      return undefined;
    } catch (error) {
      if (error instanceof TaskvisorError) return error;
      throw error;
    }
  }

  // ------------------------------------------------------------------------------------
  // The model

  /** The supervisor's model bound to a run: budget-checked first, usage recorded after. */
  private runModel(runId: string, stepId: string | undefined, signal: AbortSignal): RunModel {
    const model = this.config.model ?? noModel();
    return { model: model.client.model, chat: this.meteredChat(runId, stepId, signal) };
  }

  /**
   * Model calls for a run through `via` (default: the supervisor's client): each reserves
   * its worst case against the run's budget first, and records its usage after.
   */
  meteredChat(
    runId: string,
    stepId: string | undefined,
    signal: AbortSignal,
  ): (request: ChatRequest, via?: LlmClient) => Promise<ChatResult> {
    const prices = this.config.model?.prices ?? {};
    const maxOutputTokens = this.config.model?.maxOutputTokens ?? 4096;
    return async (request, via) => {
      const client = via ?? this.config.model?.client ?? noModel();
      const maxTokens = request.maxTokens ?? maxOutputTokens;
      const name = request.model ?? client.model;
      const promptTokens = estimateTokens(request.messages);
      const estimate = {
        tokens: promptTokens + maxTokens,
        costUsd: costOf({ inputTokens: promptTokens, outputTokens: maxTokens }, name, prices).costUsd,
      };
      const callSignal = request.signal ?? signal;
      const release = await this.budgets.reserve(runId, estimate, callSignal);
      try {
        return await client.chat({
          ...request,
          maxTokens,
          signal: callSignal,
          onUsage: (usage) => {
            request.onUsage?.(usage);
            this.recordUsage(runId, stepId, usage);
          },
        });
      } finally {
        release();
      }
    };
  }

  private recordUsage(
    runId: string,
    stepId: string | undefined,
    usage: { model: string; inputTokens: number; outputTokens: number },
  ): void {
    const prices = this.config.model?.prices ?? {};
    const { costUsd } = costOf(usage, usage.model, prices);
    this.budgets.record(runId, { tokens: usage.inputTokens + usage.outputTokens, costUsd });
    this.persistence.stageEvent({
      type: 'usage.recorded',
      at: this.config.clock.now(),
      runId,
      ...(stepId === undefined ? {} : { stepId }),
      model: usage.model,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      costUsd,
    });
  }

  /** What the replanner sees: the plan, every succeeded step's output, the failed steps' errors. */
  private replanRequest(input: ReplanRunInput) {
    const task = this.persistence.factsFor(input.runId, 'task');
    const plan = task?.kind === 'task' ? task.plan : undefined;
    if (!plan) throw new TaskvisorError('INVALID_STATE', `Run ${input.runId} has no plan to replan.`);
    const completed = [];
    const failed = [];
    const failing = new Set(input.failed);
    for (const step of plan.steps) {
      const facts = this.persistence.factsFor(input.runId, step.id);
      if (facts?.kind !== 'step') continue;
      if (facts.state === 'succeeded')
        completed.push({ id: step.id, title: step.title, output: facts.output });
      else if (failing.has(step.id)) {
        failed.push({
          id: step.id,
          title: step.title,
          action: step.action,
          error: facts.error?.message ?? facts.reason ?? 'failed',
        });
      }
    }
    return { goal: input.goal, plan, completed, failed, attempt: input.attempt };
  }

  // ------------------------------------------------------------------------------------
  // Resume

  /** Adopts every unfinished run (or just `runId`) whose lease is free; returns those adopted. */
  async resume(runId?: string): Promise<string[]> {
    this.assertOpen();
    const candidates =
      runId !== undefined
        ? [runId]
        : (
            await this.config.store.listRuns({
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
    const run = await store.getRun(runId);
    if (!run || isTerminalPhase(run.phase)) return false;
    const now = this.config.clock.now();
    const fence = await store.acquireLease(runId, this.claim, {
      now,
      ttlMs: this.config.leaseMs,
      ...(deadHolder(run.lease, this.claim) ? { deadHolder: deadHolder(run.lease, this.claim)! } : {}),
    });
    if (fence === undefined) return false;
    const loaded = await store.loadRun(runId);
    const taskRow = loaded?.actors.find((row) => row.kind === 'task');
    if (!loaded || !taskRow) return false;
    const stepRows = loaded.actors.filter((row) => row.kind === 'step');
    await this.readModel.sync(runId, store);
    // Attempts in flight when the last process stopped: reuse a journaled outcome, or
    // report the attempt as interrupted (the step machine decides what that means).
    for (const row of stepRows) {
      if (row.state !== 'running' && row.state !== 'awaitingInput') continue;
      const attempt = (row.snapshot as { context: { attempt: number } }).context.attempt;
      const journal = (await store.attempts(runId, row.actorId)).find((entry) => entry.attempt === attempt);
      const key = attemptKey(runId, row.actorId, attempt);
      if (journal?.status === 'succeeded') this.recorded.set(key, { output: journal.output ?? null });
      else if (journal?.status === 'failed' && journal.error) {
        this.recorded.set(key, {
          error: {
            message: journal.error.message,
            ...(journal.error.code ? { code: journal.error.code } : {}),
            retryable: journal.error.retryable !== false,
            at: journal.endedAt ?? now,
          },
        });
      } else this.interrupted.add(key);
    }
    this.persistence.own(runId, fence);
    const context = (taskRow.snapshot as { context?: { budget?: Budget } }).context;
    const usage = this.readModel.view(runId)?.usage;
    this.budgets.track(
      runId,
      context?.budget ?? {},
      { tokens: (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0), costUsd: usage?.costUsd ?? 0 },
      taskRow.state === 'paused',
    );
    for (const request of await store.openRequests(runId)) this.persistence.trackRequest(request);
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
      await this.oneAtATime(command.runId, async () => {
        const error = await this.applyOwned(command);
        if (error) throw error;
        await this.persistence.durable();
      });
      return;
    }
    const view = await this.readModel.sync(command.runId, this.config.store);
    if (!view) throw unknownRun(command.runId);
    const request =
      command.kind === 'answer' ? await this.config.store.findRequest({ id: command.requestId }) : undefined;
    const error = checkCommand(view, command, request);
    if (error) throw error;
    await this.config.store.addCommand(command.runId, command as unknown as Json, this.config.clock.now());
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
      command.kind === 'answer' ? await this.config.store.findRequest({ id: command.requestId }) : undefined;
    const view = this.readModel.view(command.runId);
    const error = view ? checkCommand(view, command, request) : unknownRun(command.runId);
    if (error || !view) {
      if (inboxId !== undefined) this.persistence.stageCommandApplied(inboxId, error?.message);
      return error;
    }
    const worker = command.kind === 'control' ? workerOf(view, command.stepId) : undefined;
    if (worker && command.kind === 'control') {
      const error = this.controlWorker(
        command.runId,
        worker.stepId,
        worker.label,
        command.action,
        command.by,
      );
      if (inboxId !== undefined) this.persistence.stageCommandApplied(inboxId, error?.message);
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
        id: command.requestId,
        answer: command.answer as Json,
        at: command.at,
        ...(command.by ? { by: command.by } : {}),
      });
    }
    if (inboxId !== undefined) this.persistence.stageCommandApplied(inboxId);
    this.root.send({ type: 'run.command', runId: command.runId, command: toMachineCommand(command) });
    if (command.kind === 'extendBudget') this.budgets.extend(command.runId, command.budget);
    if (command.kind === 'answer') {
      const waiter = this.answerWaiters.get(command.requestId);
      this.answerWaiters.delete(command.requestId);
      waiter?.resolve(command.answer);
    }
    return undefined;
  }

  /** Applies commands other processes stored for runs driven here. */
  async pollCommands(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      for (const row of await this.config.store.pendingCommands()) {
        if (this.closed) return;
        if (this.persistence.owns(row.runId)) {
          await this.oneAtATime(row.runId, async () => {
            await this.applyOwned(row.command as unknown as Command, row.id);
            await this.persistence.durable();
          });
          continue;
        }
        const run = await this.config.store.getRun(row.runId);
        if (!run) this.persistence.stageCommandApplied(row.id, `no run "${row.runId}"`);
        else if (isTerminalPhase(run.phase))
          this.persistence.stageCommandApplied(row.id, `run ${run.id} had ended (${run.phase})`);
        // Otherwise another process drives the run (or none yet): the command waits for it.
      }
    } catch (error) {
      if (!this.closed) this.onFatal(error);
    } finally {
      this.polling = false;
    }
  }

  // ------------------------------------------------------------------------------------
  // Questions (`ctx.ask`)

  private async ask(input: ExecuteActionInput, question: Question, signal: AbortSignal): Promise<Answer> {
    if (
      !question ||
      typeof question.key !== 'string' ||
      question.key === '' ||
      typeof question.question !== 'string'
    ) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `ctx.ask() needs { key, question } (strings; key is stable within the step), got ${JSON.stringify(question)}.`,
        { retryable: false },
      );
    }
    const store = this.config.store;
    const existing = await store.findRequest({ runId: input.runId, stepId: input.stepId, key: question.key });
    if (existing?.answer !== undefined) return existing.answer as Answer;
    if (signal.aborted) throw signal.reason;
    const at = this.config.clock.now();
    const requestId = existing?.id ?? this.config.newId('req');
    if (existing) {
      // Asked again (a new attempt after a retry, a crash or a resume): the same request.
      this.persistence.stageRequestOpen(existing, existing.closedAt !== undefined);
      if (existing.closedAt !== undefined) {
        this.persistence.stageEvent({
          type: 'request.opened',
          at,
          runId: input.runId,
          stepId: input.stepId,
          requestId,
          key: existing.key,
          question: existing.question,
          ...(existing.options ? { options: [...existing.options] } : {}),
        });
      }
    } else {
      const options = question.options?.map((option) => ({
        id: String(option.id),
        label: String(option.label),
      }));
      this.persistence.stageRequestOpen({
        id: requestId,
        runId: input.runId,
        stepId: input.stepId,
        key: question.key,
        question: question.question,
        ...(options ? { options } : {}),
        openedAt: at,
      });
      this.persistence.stageEvent({
        type: 'request.opened',
        at,
        runId: input.runId,
        stepId: input.stepId,
        requestId,
        key: question.key,
        question: question.question,
        ...(options ? { options } : {}),
      });
    }
    const answered = new Promise<Answer>((resolve, reject) => {
      this.answerWaiters.set(requestId, { resolve, reject });
      signal.addEventListener(
        'abort',
        () => {
          this.answerWaiters.delete(requestId);
          reject(signal.reason);
        },
        { once: true },
      );
    });
    this.root.send({
      type: 'run.command',
      runId: input.runId,
      command: {
        type: 'step.command',
        stepId: input.stepId,
        command: { type: 'input.requested', requestId, at },
      },
    });
    return answered;
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
      this.budgets.forget(event.runId);
    }
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

  private lastYield = performance.now();

  /** Gives the event loop a turn every few milliseconds of uninterrupted work. */
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
      this.config.store
        .renewLeases(this.claim.owner, clock.now() + leaseMs)
        .then(() => (adopt && !this.closed ? this.resume() : undefined))
        .catch((error: unknown) => {
          if (!this.closed) this.onFatal(error);
        });
      this.leaseTimer = clock.setTimeout(renew, every);
    };
    this.leaseTimer = clock.setTimeout(renew, every);
    this.pollTimer = setInterval(() => void this.pollCommands(), this.config.pollMs);
    this.pollTimer.unref?.();
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
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
    for (const waiter of this.answerWaiters.values()) waiter.reject(closedError);
    this.answerWaiters.clear();
    try {
      await this.config.store.releaseLeases(this.claim.owner);
    } finally {
      this.bus.complete();
      if (this.config.ownsStore) await this.config.store.close();
    }
  }
}

export function unknownRun(runId: string): TaskvisorError {
  return new TaskvisorError(
    'UNKNOWN_RUN',
    `No run "${runId}" in this database; list the runs with sv.list() (or \`taskvisor ls\`).`,
    { runId },
  );
}

function noModel(): never {
  throw new TaskvisorError(
    'INVALID_OPTION',
    'No model is configured; pass llm to createSupervisor (or set TASKVISOR_MODEL).',
    { retryable: false },
  );
}

/** About four characters a token, plus a few tokens a message: an estimate, rounded up. */
function estimateTokens(messages: ReadonlyArray<{ content?: string | null }>): number {
  let chars = 0;
  for (const message of messages) chars += (message.content ?? '').length + 16;
  return Math.ceil(chars / 4);
}
