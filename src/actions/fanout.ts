/**
 * `fanout`: one prompt to several targets (models or agents), each `repeat` times, as worker
 * actors the step spawns; the answers are optionally reduced. Every worker transition is
 * a `worker.transition` event carrying the worker's persisted snapshot, committed with the
 * rest of the run, so a fan-out resumed after a crash (or a retried step) keeps every
 * completed worker and asks again only what did not finish. Every model call goes through
 * the run's meter: it is checked against the budget and recorded as usage.
 */
import type { InspectionEvent } from 'xstate';
import type { Clock } from '../clock.js';
import { TaskvisorError } from '../errors.js';
import type { FanoutState, PersistedWorker } from '../fanout/fanout-state.js';
import { FANOUT_STATE_VERSION } from '../fanout/fanout-state.js';
import {
  type AgentTargetSpec,
  isAgentTarget,
  type ModelTargetSpec,
  normalizeTarget,
  type TargetInput,
  workerSlots,
} from '../fanout/labels.js';
import type { Reduction } from '../fanout/reduce.js';
import { type FanoutHandle, startFanout } from '../fanout/run-fanout.js';
import { fanoutFailure, fanoutOutput } from '../fanout/step-output.js';
import type { ChatRequest, ChatResult } from '../llm/chat.js';
import { createLlmClient, type LlmClient } from '../llm/client.js';
import type { Prices } from '../llm/prices.js';
import type { ReduceMode } from '../model/action.js';
import type { TaskvisorEvent, UnsequencedEvent } from '../model/events.js';
import type { Json } from '../model/json.js';
import type { ActionContext, ActionFunction } from '../runtime/executor.js';
import type { ResolvedSandbox } from '../sandbox/policy.js';
import type { AgentOption } from './agents.js';
import { fanoutAgent } from './fanout-agents.js';

/** What a fan-out step needs from the runtime (wired by `createSupervisor`). */
export interface FanoutServices {
  readonly clock: Clock;
  readonly prices: Prices;
  /** Whether the supervisor has a default model client (targets without `baseURL` use it). */
  readonly hasModel: boolean;
  /** Metered model calls of a step, through `via` or the supervisor's client. */
  readonly chatFor: (ctx: ActionContext) => (request: ChatRequest, via?: LlmClient) => Promise<ChatResult>;
  /** Stages an event in the run's next commit. */
  readonly stage: (event: UnsequencedEvent) => void;
  /** The run's committed events (a resumed fan-out finds its workers' snapshots there). */
  readonly eventsOf: (runId: string) => Promise<TaskvisorEvent[]>;
  /** Makes the live handle reachable by worker controls; returns its unregister function. */
  readonly register: (runId: string, stepId: string, handle: FanoutHandle) => () => void;
  /** Workers running at once in one fan-out (default 4). */
  readonly concurrency?: number;
  /** The supervisor's inspection observer: worker actors show up in the inspector too. */
  readonly inspect?: (event: InspectionEvent) => void;
  /** The supervisor's agents, for `{ agent }` targets. */
  readonly agents?: ReadonlyMap<string, AgentOption>;
  /** Where CLI agent targets run. */
  readonly sandbox?: ResolvedSandbox;
}

/** Every fan-out step's latest state in a run's events, workers in the order first seen. */
export function fanoutStatesOf(
  events: readonly TaskvisorEvent[],
): Array<{ stepId: string; state: FanoutState }> {
  const steps = new Map<string, { workers: Map<string, PersistedWorker>; reduction?: Reduction }>();
  for (const event of events) {
    if (event.type !== 'worker.transition' && event.type !== 'fanout.reduced') continue;
    let step = steps.get(event.stepId);
    if (!step) {
      step = { workers: new Map() };
      steps.set(event.stepId, step);
    }
    if (event.type === 'worker.transition') step.workers.set(event.label, event.snapshot as PersistedWorker);
    else step.reduction = event.reduction as unknown as Reduction;
  }
  return [...steps].map(([stepId, step]) => ({
    stepId,
    state: {
      version: FANOUT_STATE_VERSION,
      workers: [...step.workers].map(([label, snapshot]) => ({ label, snapshot })),
      ...(step.reduction ? { reduction: step.reduction } : {}),
    },
  }));
}

/**
 * The state a fan-out step resumes from: each worker's latest snapshot from its
 * `worker.transition` events, in target order (`labels`), and the reduction if one was
 * given; undefined unless the events hold exactly these workers.
 */
export function fanoutStateFromEvents(
  events: readonly TaskvisorEvent[],
  stepId: string,
  labels: readonly string[],
): FanoutState | undefined {
  const stored = fanoutStatesOf(events).find((fanout) => fanout.stepId === stepId)?.state;
  if (!stored || stored.workers.length !== labels.length) return undefined;
  const byLabel = new Map(stored.workers.map((worker) => [worker.label, worker.snapshot]));
  if (labels.some((label) => !byLabel.has(label))) return undefined;
  return { ...stored, workers: labels.map((label) => ({ label, snapshot: byLabel.get(label)! })) };
}

export function createFanoutAction(services: FanoutServices): ActionFunction {
  return async (input, ctx) => {
    const targets = input.targets as TargetInput[];
    const repeat = (input.repeat as number | undefined) ?? 1;
    const reduce = input.reduce as { mode: ReduceMode; target?: string | ModelTargetSpec } | undefined;
    const labels = workerSlots(targets, repeat).map((slot) => slot.label);
    const chat = services.chatFor(ctx);
    const clients = new Map<string, LlmClient>();
    const clientFor = (target: ModelTargetSpec) => {
      if (target.baseURL === undefined && target.apiKey === undefined) {
        if (!services.hasModel) {
          throw new TaskvisorError(
            'INVALID_OPTION',
            `Fan-out target "${target.model}" has no baseURL and no llm is configured: give the target a baseURL (and apiKey), or pass llm to createSupervisor.`,
            { retryable: false, model: target.model },
          );
        }
        return { chat: (request: ChatRequest) => chat({ ...request, model: request.model ?? target.model }) };
      }
      const key = `${target.baseURL ?? ''}\u0000${target.apiKey ?? ''}\u0000${target.model}`;
      let via = clients.get(key);
      if (!via) {
        via = createLlmClient({
          model: target.model,
          clock: services.clock,
          ...(target.baseURL === undefined ? {} : { baseURL: target.baseURL }),
          ...(target.apiKey === undefined ? {} : { apiKey: target.apiKey }),
        });
        clients.set(key, via);
      }
      const client = via;
      return { chat: (request: ChatRequest) => chat(request, client) };
    };
    const agentServices = {
      clock: services.clock,
      prices: services.prices,
      agents: services.agents ?? new Map<string, AgentOption>(),
      ...(services.sandbox ? { sandbox: services.sandbox } : {}),
    };
    const agentFor = (target: AgentTargetSpec) => fanoutAgent(target.agent, ctx, agentServices);
    // Fail fast on a target nobody can call, before any worker starts.
    for (const target of targets.map(normalizeTarget)) {
      if (isAgentTarget(target)) agentFor(target);
      else clientFor(target);
    }

    const stored = fanoutStateFromEvents(await services.eventsOf(ctx.runId), ctx.stepId, labels);
    const base = { runId: ctx.runId, stepId: ctx.stepId };
    const handle = startFanout(
      {
        prompt: String(input.prompt),
        targets,
        repeat,
        ...(reduce ? { reduce } : {}),
        ...(services.concurrency ? { concurrency: services.concurrency } : {}),
      },
      {
        clientFor,
        agentFor,
        ...(ctx.llm ? { defaultReducer: { model: ctx.llm.model } } : {}),
        clock: services.clock,
        signal: ctx.signal,
        prices: services.prices,
        ...(services.inspect ? { inspect: services.inspect } : {}),
        ...(stored ? { restore: stored, retryFailed: ctx.attempt > 1 } : {}),
        onWorkerTransition: (transition) => {
          const context = transition.snapshot.context;
          services.stage({
            ...base,
            type: 'worker.transition',
            at: transition.at,
            label: transition.label,
            model: context.model,
            from: transition.from,
            to: transition.to,
            attempt: transition.attempt,
            ...(context.reason === undefined ? {} : { reason: context.reason }),
            ...(context.error === undefined ? {} : { error: context.error.message }),
            snapshot: JSON.parse(JSON.stringify(transition.snapshot)) as Json,
          });
        },
        onReduction: (reduction) => {
          services.stage({
            ...base,
            type: 'fanout.reduced',
            at: services.clock.now(),
            mode: reduction.mode,
            model: reduction.model,
            reduction: JSON.parse(JSON.stringify(reduction)) as Json,
          });
          ctx.artifact('fanout', `${reduction.mode} reduction`, {
            markdown: reduction.markdown,
            json: JSON.parse(JSON.stringify(reduction.json ?? null)) as Json,
          });
        },
      },
    );
    const unregister = services.register(ctx.runId, ctx.stepId, handle);
    try {
      const result = await handle.done;
      const failure = fanoutFailure(result);
      if (failure) throw failure;
      return { output: fanoutOutput(result) };
    } finally {
      unregister();
    }
  };
}
