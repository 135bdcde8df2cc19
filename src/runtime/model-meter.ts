/**
 * Every model call a run makes goes through its meter: the call reserves its worst case
 * against the run's budget first (waiting while the run is paused), and its usage is
 * recorded after as a `usage.recorded` event priced from the supervisor's `prices`.
 */
import type { Clock } from '../clock.js';
import { TaskvisorError } from '../errors.js';
import type { ChatRequest, ChatResult } from '../llm/chat.js';
import type { LlmClient } from '../llm/client.js';
import { costOf, type Prices } from '../llm/prices.js';
import type { Planner } from '../planning/planner.js';
import type { BudgetLedger } from './budgets.js';
import type { RunModel } from './executor.js';
import type { Persistence } from './persistence.js';

/** The supervisor's model: a client, its prices and the planner that uses it. */
export interface RuntimeModel {
  readonly client: LlmClient;
  readonly prices: Prices;
  readonly planner: Planner;
  /** The most a call may write when it does not say (reserved against the budget). */
  readonly maxOutputTokens: number;
}

export interface ModelMeterDeps {
  readonly model?: RuntimeModel;
  readonly budgets: BudgetLedger;
  readonly persistence: Persistence;
  readonly clock: Clock;
}

export class ModelMeter {
  constructor(private readonly deps: ModelMeterDeps) {}

  /** The supervisor's model bound to a run (and step): metered, and aborted with `signal`. */
  runModel(runId: string, stepId: string | undefined, signal: AbortSignal): RunModel {
    const model = this.deps.model ?? noModel();
    return { model: model.client.model, chat: this.chat(runId, stepId, signal) };
  }

  /** Metered calls for a run through `via` (default: the supervisor's client). */
  chat(
    runId: string,
    stepId: string | undefined,
    signal: AbortSignal,
  ): (request: ChatRequest, via?: LlmClient) => Promise<ChatResult> {
    const { model, budgets } = this.deps;
    const prices = model?.prices ?? {};
    const maxOutputTokens = model?.maxOutputTokens ?? 4096;
    return async (request, via) => {
      const client = via ?? model?.client ?? noModel();
      const maxTokens = request.maxTokens ?? maxOutputTokens;
      const name = request.model ?? client.model;
      const promptTokens = estimateTokens(request.messages);
      const estimate = {
        tokens: promptTokens + maxTokens,
        costUsd: costOf({ inputTokens: promptTokens, outputTokens: maxTokens }, name, prices).costUsd,
      };
      const callSignal = request.signal ?? signal;
      const release = await budgets.reserve(runId, estimate, callSignal);
      try {
        return await client.chat({
          ...request,
          maxTokens,
          signal: callSignal,
          onUsage: (usage) => {
            request.onUsage?.(usage);
            this.record(runId, stepId, usage);
          },
        });
      } finally {
        release();
      }
    };
  }

  private record(
    runId: string,
    stepId: string | undefined,
    usage: { model: string; inputTokens: number; outputTokens: number },
  ): void {
    const { costUsd, priced } = costOf(usage, usage.model, this.deps.model?.prices ?? {});
    this.deps.budgets.record(runId, { tokens: usage.inputTokens + usage.outputTokens, costUsd });
    this.deps.persistence.stageEvent({
      type: 'usage.recorded',
      at: this.deps.clock.now(),
      runId,
      ...(stepId === undefined ? {} : { stepId }),
      model: usage.model,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      costUsd,
      ...(priced ? {} : { priced: false }),
    });
  }
}

export function noModel(): never {
  throw new TaskvisorError(
    'INVALID_OPTION',
    'No model is configured; pass llm to createSupervisor (or set TASKVISOR_MODEL).',
    { retryable: false },
  );
}

/** About four characters a token, plus a few tokens a message: an estimate, rounded up. */
export function estimateTokens(messages: ReadonlyArray<{ content?: string | null }>): number {
  let chars = 0;
  for (const message of messages) chars += (message.content ?? '').length + 16;
  return Math.ceil(chars / 4);
}
