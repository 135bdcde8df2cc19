/**
 * The model-API adapter: one `chat()` over the `openai` client (any OpenAI-compatible server),
 * with its own retries on the injected clock so backoff is testable and abortable.
 */
import type OpenAI from 'openai';
import { isInstanceNamed } from './retry-policy.js';
import { type Clock, sleep, systemClock } from '../clock.js';
import { isTaskvisorError, quote, TaskvisorError } from '../errors.js';
import {
  type ChatRequest,
  type ChatResult,
  type MaxTokensField,
  type TokenUsage,
  resultFromCompletion,
  toCompletionParams,
  usageOf,
} from './chat.js';
import { backoffDelayMs, classifyFailure, describeFailure } from './retry-policy.js';
import { addChunk, emptyAssembly, resultFromAssembly } from './stream-assembly.js';

/** What one model response cost in tokens, reported to `onUsage`. */
export interface UsageReport extends TokenUsage {
  /** The model asked for (the key a price table uses), not the snapshot name the server answers with. */
  model: string;
}

export interface LlmClientOptions {
  /** Defaults to `OPENAI_BASE_URL`, then OpenAI's own API. Not allowed together with `client`. */
  baseURL?: string;
  /** Defaults to `OPENAI_API_KEY`. A local server usually accepts any value, e.g. `'local'`. */
  apiKey?: string;
  /** The default model; defaults to `TASKVISOR_MODEL`. A request may name another. */
  model?: string;
  /** A ready `OpenAI` instance (its own retries are switched off per request). */
  client?: OpenAI;
  clock?: Clock;
  /** A number in [0, 1) for backoff jitter; inject a constant in tests. */
  random?: () => number;
  /** Retries after the first attempt (default 3). */
  maxRetries?: number;
  /** Backoff ceiling before the first retry (default 500 ms), doubling each retry. */
  baseDelayMs?: number;
  /** Backoff ceiling cap (default 20 000 ms). A server's `retry-after` is honoured as sent. */
  maxDelayMs?: number;
  /** Where `OPENAI_BASE_URL`, `OPENAI_API_KEY`, `TASKVISOR_MODEL` are read (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Called once per model response that carried usage, including attempts that later failed. */
  onUsage?: (usage: UsageReport) => void;
  /** The request field for `maxTokens` (default `max_completion_tokens`; some servers want `max_tokens`). */
  maxTokensField?: MaxTokensField;
  /** Per-attempt HTTP timeout when `client` is not given (the SDK default is 10 minutes). */
  timeoutMs?: number;
}

export interface LlmClient {
  /** The default model. */
  readonly model: string;
  chat(request: ChatRequest): Promise<ChatResult>;
}

/**
 * Creates a model client for OpenAI or any OpenAI-compatible server. HTTP 429 (except
 * `insufficient_quota`), 5xx and connection failures are retried with exponential backoff and
 * full jitter, honouring `retry-after`; other failures reject at once with
 * `TaskvisorError('LLM_ERROR')` whose `details` hold `{ status, code, type, attempts, retryable }`.
 * An aborted `signal` rejects with `TaskvisorError('ABORTED')`, also during a backoff wait.
 *
 * @example
 * ```ts
 * const llm = createLlmClient({ baseURL: 'http://127.0.0.1:11434/v1', apiKey: 'local', model: 'llama3.2' });
 * const { text, usage } = await llm.chat({
 *   messages: [{ role: 'user', content: 'Say hi' }],
 *   stream: true,
 * });
 * ```
 */
export function createLlmClient(options: LlmClientOptions = {}): LlmClient {
  const env = options.env ?? process.env;
  const maxRetries = checkCount('maxRetries', options.maxRetries ?? 3);
  const baseDelayMs = checkCount('baseDelayMs', options.baseDelayMs ?? 500);
  const maxDelayMs = checkCount('maxDelayMs', options.maxDelayMs ?? 20_000);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const maxTokensField = options.maxTokensField ?? 'max_completion_tokens';

  const defaultModel = options.model ?? nonEmpty(env['TASKVISOR_MODEL']);
  if (!defaultModel) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      'No model is configured for the LLM client: pass `model` to createLlmClient ' +
        '(e.g. { model: "gpt-4o-mini" }) or set the TASKVISOR_MODEL environment variable',
      { option: 'model' },
    );
  }
  const fallbackModel: string = defaultModel;
  if (options.client && (options.baseURL !== undefined || options.apiKey !== undefined)) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      '`client` cannot be combined with `baseURL` or `apiKey`: configure the OpenAI instance you pass, ' +
        'or leave `client` out and let createLlmClient build one',
      { option: 'client' },
    );
  }
  // The SDK is loaded on the first call: a supervisor that never calls a model does not pay
  // for importing it.
  const connect = options.client ? () => Promise.resolve(options.client!) : buildOpenAi(options, env);
  let sdk: Promise<OpenAI> | undefined;
  const openaiClient = () => (sdk ??= connect());

  function report(request: ChatRequest, usage: TokenUsage, model: string): void {
    const report = { model, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens };
    options.onUsage?.(report);
    request.onUsage?.({ ...report });
  }

  async function attempt(request: ChatRequest, model: string): Promise<ChatResult> {
    const params = toCompletionParams(request, model, maxTokensField);
    const requestOptions = { signal: request.signal ?? null, maxRetries: 0 };
    const openai = await openaiClient();
    if (!request.stream) {
      const completion = await openai.chat.completions.create({ ...params, stream: false }, requestOptions);
      const usage = usageOf(completion.usage);
      if (usage) report(request, usage, model);
      return resultFromCompletion(completion, model);
    }
    const stream = await openai.chat.completions.create(
      { ...params, stream: true, stream_options: { include_usage: true } },
      requestOptions,
    );
    const assembly = emptyAssembly(model);
    try {
      for await (const chunk of stream) addChunk(assembly, chunk);
    } finally {
      if (assembly.usage) report(request, assembly.usage, model);
    }
    // The SDK ends a stream quietly when its signal aborts; a cut-short answer is not a result.
    if (request.signal?.aborted) throw new StreamAborted();
    return resultFromAssembly(assembly);
  }

  async function chat(request: ChatRequest): Promise<ChatResult> {
    const model = request.model ?? fallbackModel;
    if (request.messages.length === 0) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `A chat request needs at least one message, got none (model ${quote(model)})`,
        { option: 'messages' },
      );
    }
    for (let attempts = 1; ; attempts++) {
      if (request.signal?.aborted) throw abortedError(model, attempts - 1, request.signal);
      try {
        return await attempt(request, model);
      } catch (error) {
        if (isTaskvisorError(error)) throw error;
        if (
          request.signal?.aborted ||
          error instanceof StreamAborted ||
          isInstanceNamed(error, 'APIUserAbortError')
        ) {
          throw abortedError(model, attempts, request.signal, error);
        }
        const failure = classifyFailure(error, clock.now());
        if (!failure.retryable || attempts > maxRetries) {
          const { status, code, type, retryable } = failure;
          throw new TaskvisorError(
            'LLM_ERROR',
            describeFailure(failure, attempts, model),
            { model, status, code, type, attempts, retryable },
            { cause: error },
          );
        }
        const delay = backoffDelayMs({
          retry: attempts,
          baseDelayMs,
          maxDelayMs,
          random,
          retryAfterMs: failure.retryAfterMs,
        });
        try {
          await sleep(clock, delay, request.signal);
        } catch (reason) {
          throw abortedError(model, attempts, request.signal, reason);
        }
      }
    }
  }

  return { model: fallbackModel, chat };
}

/** A stream the SDK ended quietly because its signal aborted. */
class StreamAborted extends Error {
  constructor() {
    super('the model call was aborted');
  }
}

/** Checks the options now; returns how to build the SDK client (imported on first use). */
function buildOpenAi(
  options: LlmClientOptions,
  env: Record<string, string | undefined>,
): () => Promise<OpenAI> {
  const apiKey = options.apiKey ?? nonEmpty(env['OPENAI_API_KEY']);
  if (!apiKey) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      'No API key for the model API: pass `apiKey` to createLlmClient or set OPENAI_API_KEY. ' +
        "A local OpenAI-compatible server (Ollama, vLLM, llama.cpp) accepts any value, e.g. apiKey: 'local'",
      { option: 'apiKey' },
    );
  }
  const timeout = options.timeoutMs !== undefined ? checkCount('timeoutMs', options.timeoutMs) : undefined;
  return async () => {
    const { default: OpenAISdk } = await import('openai');
    return new OpenAISdk({
      apiKey,
      // Passed explicitly so the SDK does not read process.env behind an injected `env`.
      baseURL: options.baseURL ?? nonEmpty(env['OPENAI_BASE_URL']) ?? 'https://api.openai.com/v1',
      organization: nonEmpty(env['OPENAI_ORG_ID']) ?? null,
      project: nonEmpty(env['OPENAI_PROJECT_ID']) ?? null,
      webhookSecret: null,
      maxRetries: 0,
      ...(timeout !== undefined ? { timeout } : {}),
    });
  };
}

function abortedError(model: string, attempts: number, signal: AbortSignal | undefined, cause?: unknown) {
  return new TaskvisorError(
    'ABORTED',
    `Model call to ${quote(model)} was aborted after ${attempts} attempt${attempts === 1 ? '' : 's'}`,
    { model, attempts, retryable: false },
    { cause: signal?.reason ?? cause },
  );
}

function checkCount(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || !Number.isInteger(value)) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `Expected \`${name}\` to be a non-negative integer, got ${quote(value)} (${typeof value})`,
      { option: name, value },
    );
  }
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
