/**
 * The `callModel` actor the worker machine invokes: one attempt of the worker's target — a
 * chat call to a model target, or a run of an agent target (`FanoutAgent`) — aborted when
 * the worker leaves `running` (interrupt, cancel, fan-out stopped) or when its deadline
 * passes on the injected clock (`WORKER_TIMEOUT`). Resolves with the answer's text and
 * usage priced in dollars; rejects with a JSON `CallModelError`.
 */
import { fromPromise } from 'xstate';
import {
  type CallModelError,
  type CallModelInput,
  type CallModelOutput,
  NO_WORKER_USAGE,
  type WorkerUsage,
} from '../../machines/worker.machine.js';
import { ATTEMPT_INTERRUPTED } from '../../machines/protocol.js';
import { whenAborted, withDeadline } from '../abort.js';
import type { Clock } from '../clock.js';
import { isTaskvisorError, quote, TaskvisorError } from '../errors.js';
import type { ChatMessage, ChatRequest, ChatResult, TokenUsage } from '../llm/chat.js';
import { costOf, type Prices } from '../llm/prices.js';
import type { ModelTargetSpec } from './labels.js';

/** What a fan-out needs of a model client: `LlmClient` fits. */
export interface FanoutClient {
  chat(request: ChatRequest): Promise<ChatResult>;
}

/** One model call's usage, reported as soon as the answer arrives. */
export interface FanoutUsageReport extends WorkerUsage {
  /** The worker label, or `reduce` for the reducer. */
  readonly label: string;
  readonly model: string;
  readonly role: 'worker' | 'reducer';
}

/** Target `options` a fan-out understands; anything else is rejected when the fan-out starts. */
const TARGET_OPTIONS = ['system', 'temperature', 'maxTokens'] as const;

/** The chat request of a worker: the target's optional system message, then the prompt. */
export function workerRequest(prompt: string, target: ModelTargetSpec): Omit<ChatRequest, 'signal'> {
  const options = target.options ?? {};
  for (const key of Object.keys(options)) {
    if (!(TARGET_OPTIONS as readonly string[]).includes(key)) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `Unknown fan-out target option ${quote(key)} for model ${quote(target.model)}; ` +
          `supported options are ${TARGET_OPTIONS.map((name) => quote(name)).join(', ')}`,
        { option: `options.${key}` },
      );
    }
  }
  const { system, temperature, maxTokens } = options;
  const expect = (name: string, value: unknown, type: 'string' | 'number') => {
    if (value !== undefined && typeof value !== type) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `Expected fan-out target option \`${name}\` to be a ${type}, got ${quote(value)} (model ${quote(target.model)})`,
        { option: `options.${name}` },
      );
    }
  };
  expect('system', system, 'string');
  expect('temperature', temperature, 'number');
  expect('maxTokens', maxTokens, 'number');
  const messages: ChatMessage[] = [];
  if (typeof system === 'string') messages.push({ role: 'system', content: system });
  messages.push({ role: 'user', content: prompt });
  return {
    model: target.model,
    messages,
    ...(typeof temperature === 'number' ? { temperature } : {}),
    ...(typeof maxTokens === 'number' ? { maxTokens } : {}),
  };
}

/** Tokens priced in dollars. */
export function pricedUsage(usage: TokenUsage, model: string, prices: Prices): WorkerUsage {
  return {
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    costUsd: costOf(usage, model, prices).costUsd,
  };
}

/** Why a worker's attempt is being stopped by a control: SIGINT for `interrupt`, a kill for `cancel`. */
export type StopIntent = 'interrupt' | 'cancel';

/** One attempt of an agent worker: the fan-out's prompt is the agent's spec. */
export interface AgentAttempt {
  readonly label: string;
  readonly attempt: number;
  readonly prompt: string;
  /** Aborts when the worker leaves `running` or its deadline passes. */
  readonly signal: AbortSignal;
  /** Set by a control just before `signal` aborts: which control stopped the attempt. */
  readonly stopIntent: () => StopIntent | undefined;
}

/** An agent target as a fan-out runs it (wired by the `fanout` action). */
export interface FanoutAgent {
  run(attempt: AgentAttempt): Promise<{ readonly text: string; readonly usage?: WorkerUsage }>;
  /**
   * Whether a run always settles soon after its signal aborts (a CLI agent: its process group
   * is killed). The fan-out then ends only once such runs have settled, so what they record
   * on the way out (their artifacts) is committed with the step.
   */
  readonly settlesOnAbort?: boolean;
}

export interface CallModelDeps {
  readonly clock: Clock;
  readonly prices: Prices;
  /** The fan-out's prompt (an agent's spec). */
  readonly prompt: string;
  /** The request for a model target (see `workerRequest`); undefined for an agent target. */
  readonly requestFor: (targetIndex: number) => Omit<ChatRequest, 'signal'> | undefined;
  readonly clientFor: (targetIndex: number) => FanoutClient;
  /** The agent of an agent target; undefined for a model target. */
  readonly agentFor?: (targetIndex: number) => FanoutAgent | undefined;
  /** What the last control did to a worker's running attempt. */
  readonly stopIntentOf?: (label: string) => StopIntent | undefined;
  /** Told of each run of an agent that `settlesOnAbort`, to wait for it before the fan-out ends. */
  readonly track?: (run: Promise<unknown>) => void;
  /** Attempts in flight when the last process stopped, as `label#attempt`: they reject at once. */
  readonly lostAttempts: Set<string>;
  readonly onUsage?: (report: FanoutUsageReport) => void;
}

export function lostAttemptKey(label: string, attempt: number): string {
  return `${label}#${attempt}`;
}

function failure(error: unknown, at: number, usage: WorkerUsage = NO_WORKER_USAGE): CallModelError {
  if (isTaskvisorError(error)) {
    const retryable =
      typeof error.details.retryable === 'boolean' ? error.details.retryable : error.code !== 'ABORTED';
    return { message: error.message, code: error.code, retryable, at, usage };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message, code: 'LLM_ERROR', retryable: true, at, usage };
}

export function createCallModel(deps: CallModelDeps) {
  return fromPromise<CallModelOutput, CallModelInput>(async ({ input, signal }) => {
    const { clock } = deps;
    if (deps.lostAttempts.delete(lostAttemptKey(input.label, input.attempt))) {
      throw {
        message: `attempt ${input.attempt} of ${input.label} was running when the process stopped; it runs again`,
        code: ATTEMPT_INTERRUPTED,
        retryable: true,
        at: clock.now(),
      } satisfies CallModelError;
    }
    const deadline = input.deadline;
    const timed = withDeadline(
      clock,
      signal,
      deadline,
      () =>
        new TaskvisorError(
          'WORKER_TIMEOUT',
          `fan-out worker ${quote(input.label)} timed out at its deadline (attempt ${input.attempt}); ` +
            'retry it, or give the fan-out a longer workerTimeoutMs',
          { label: input.label, deadline, retryable: true },
        ),
    );
    const combined = timed.signal;
    try {
      const agent = deps.agentFor?.(input.targetIndex);
      if (agent) {
        const running = agent.run({
          label: input.label,
          attempt: input.attempt,
          prompt: deps.prompt,
          signal: combined,
          stopIntent: () => deps.stopIntentOf?.(input.label),
        });
        if (agent.settlesOnAbort) deps.track?.(running);
        const result = await Promise.race([running, whenAborted(combined)]);
        const usage = result.usage ?? NO_WORKER_USAGE;
        if (result.usage)
          deps.onUsage?.({ label: input.label, model: input.model, role: 'worker', ...usage });
        return { text: result.text, usage, at: clock.now() };
      }
      const request = { ...deps.requestFor(input.targetIndex)!, signal: combined };
      const result = await Promise.race([
        deps.clientFor(input.targetIndex).chat(request),
        whenAborted(combined),
      ]);
      const usage = pricedUsage(result.usage, input.model, deps.prices);
      deps.onUsage?.({ label: input.label, model: input.model, role: 'worker', ...usage });
      return { text: result.text, usage, at: clock.now() };
    } catch (error) {
      if (timed.timeout?.aborted) throw failure(timed.timeout.reason, clock.now());
      throw failure(error, clock.now());
    } finally {
      timed.clear();
    }
  });
}
