/**
 * Which model-API failures are worth another attempt, how long to wait before it, and how
 * to describe a failure to a human. Pure: the client performs the waits.
 *
 * Retried: HTTP 429 (except `insufficient_quota`), HTTP 5xx and connection failures.
 * Never retried: other 4xx, aborts and `insufficient_quota`.
 */
import type { APIError } from 'openai';

/**
 * Whether `value` is an instance of a class named `name` (the `openai` SDK's error classes,
 * recognised without importing the SDK, which is loaded only when a model is called).
 */
export function isInstanceNamed(value: unknown, name: string): boolean {
  for (
    let proto = value === null || typeof value !== 'object' ? null : Object.getPrototypeOf(value);
    proto;
    proto = Object.getPrototypeOf(proto)
  ) {
    if ((proto as { constructor?: { name?: string } }).constructor?.name === name) return true;
  }
  return false;
}

export interface LlmFailure {
  /** `http`: the server answered with an error status; `stream`: an error event inside a stream. */
  kind: 'http' | 'connection' | 'stream' | 'other';
  status: number | undefined;
  code: string | undefined;
  type: string | undefined;
  /** The server's own error message (or the network error's). */
  serverMessage: string;
  /** True for 429 / 5xx / connection failures: another attempt (now or later) may succeed. */
  retryable: boolean;
  /** The wait the server asked for (`retry-after-ms` / `retry-after`), if any. */
  retryAfterMs: number | undefined;
}

const NETWORK_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EAI_AGAIN',
]);

function isApiError(error: unknown): error is APIError {
  return isInstanceNamed(error, 'APIError');
}

/** Classifies an error thrown by the `openai` client (or by reading its stream). */
export function classifyFailure(error: unknown, now: number): LlmFailure {
  if (isInstanceNamed(error, 'APIConnectionError') || isNetworkFailure(error)) {
    return {
      kind: 'connection',
      status: undefined,
      code: undefined,
      type: undefined,
      serverMessage: networkMessage(error),
      retryable: true,
      retryAfterMs: undefined,
    };
  }
  if (isApiError(error)) {
    const code = error.code ?? undefined;
    const type = error.type ?? undefined;
    const serverMessage = serverMessageOf(error);
    const quotaExhausted = code === 'insufficient_quota' || type === 'insufficient_quota';
    if (error.status === undefined) {
      // An `error` event inside an SSE stream: only a server-side fault is worth retrying.
      return {
        kind: 'stream',
        status: undefined,
        code,
        type,
        serverMessage,
        retryable: !quotaExhausted && (type === 'server_error' || code === 'rate_limit_exceeded'),
        retryAfterMs: undefined,
      };
    }
    const retryable = error.status >= 500 || (error.status === 429 && !quotaExhausted);
    return {
      kind: 'http',
      status: error.status,
      code,
      type,
      serverMessage,
      retryable,
      retryAfterMs: retryAfterMs(error.headers, now),
    };
  }
  return {
    kind: 'other',
    status: undefined,
    code: undefined,
    type: undefined,
    serverMessage: error instanceof Error ? error.message : String(error),
    retryable: false,
    retryAfterMs: undefined,
  };
}

/** undici reports a connection cut mid-body as `TypeError: terminated` with a socket-error cause. */
function isNetworkFailure(error: unknown): boolean {
  if (!(error instanceof TypeError)) return false;
  if (error.message === 'terminated' || error.message === 'fetch failed') return true;
  const code = causeCode(error);
  return code !== undefined && (code.startsWith('UND_ERR') || NETWORK_ERROR_CODES.has(code));
}

function causeCode(error: Error): string | undefined {
  const cause: unknown = error.cause;
  if (typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string') {
    return cause.code;
  }
  return undefined;
}

function networkMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  const causeText = cause instanceof Error ? cause.message : undefined;
  return causeText && causeText !== error.message ? `${error.message} (${causeText})` : error.message;
}

function serverMessageOf(error: APIError): string {
  const body: unknown = error.error;
  if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string') {
    return body.message;
  }
  // The SDK's message is "<status> <message>"; drop the status we report separately.
  return error.status !== undefined
    ? error.message.replace(new RegExp(`^${error.status} `), '')
    : error.message;
}

/**
 * The wait a server asked for: `retry-after-ms` (OpenAI's), else `retry-after` in seconds or
 * as an HTTP date. `undefined` when absent or unreadable.
 */
export function retryAfterMs(headers: Headers | undefined, now: number): number | undefined {
  const milliseconds = headers?.get('retry-after-ms');
  if (milliseconds) {
    const value = Number(milliseconds);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const retryAfter = headers?.get('retry-after')?.trim();
  if (!retryAfter) return undefined;
  const seconds = Number(retryAfter);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export interface BackoffInput {
  /** 1 for the wait before the second attempt, 2 before the third, ... */
  retry: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A number in [0, 1). */
  random: () => number;
  /** The server's requested wait, which wins when present. */
  retryAfterMs?: number | undefined;
}

/** Exponential backoff with full jitter: `random() * min(max, base * 2^(retry-1))`, or the server's wait. */
export function backoffDelayMs(input: BackoffInput): number {
  if (input.retryAfterMs !== undefined) return input.retryAfterMs;
  const ceiling = Math.min(input.maxDelayMs, input.baseDelayMs * 2 ** (input.retry - 1));
  return Math.floor(input.random() * ceiling);
}

/** The message of the error surfaced to the caller: what failed, what the server said, attempts, what to do. */
export function describeFailure(failure: LlmFailure, attempts: number, model: string): string {
  const what =
    failure.kind === 'http'
      ? `HTTP ${failure.status}`
      : failure.kind === 'connection'
        ? 'connection error'
        : failure.kind === 'stream'
          ? 'error event in the stream'
          : 'unexpected error';
  const labels = [failure.type && `type ${failure.type}`, failure.code && `code ${failure.code}`].filter(
    Boolean,
  );
  const said = `${JSON.stringify(failure.serverMessage)}${labels.length > 0 ? ` (${labels.join(', ')})` : ''}`;
  const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
  return `Model call to ${JSON.stringify(model)} failed with ${what}: ${said} after ${tries}; ${hintFor(failure)}`;
}

function hintFor(failure: LlmFailure): string {
  if (failure.code === 'insufficient_quota' || failure.type === 'insufficient_quota') {
    return 'the account has no quota left: add credit or use another API key';
  }
  if (failure.retryable) {
    return failure.kind === 'connection'
      ? 'check that the server at the base URL (baseURL / OPENAI_BASE_URL) is reachable, then retry later'
      : 'the service is failing or rate-limiting: retry later or raise maxRetries';
  }
  switch (failure.status) {
    case 401:
      return 'check the API key (apiKey / OPENAI_API_KEY)';
    case 403:
      return 'the API key is not allowed to use this model or endpoint';
    case 404:
      return 'check the model name (model / TASKVISOR_MODEL) and the base URL (baseURL / OPENAI_BASE_URL)';
    default:
      return 'the request was rejected as sent: fix it according to the server message (not retried)';
  }
}
