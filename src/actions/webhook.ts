/**
 * Webhook delivery: POST a JSON body, retried with exponential backoff on the injected clock
 * when the endpoint is unreachable, times out, or answers 408, 429 or 5xx. A 2xx answer is a
 * delivery; any other answer fails at once (retrying would not change it).
 */
import { withDeadline } from '../abort.js';
import { type Clock, sleep } from '../clock.js';
import { TaskvisorError } from '../errors.js';
import type { Json } from '../model/json.js';

export interface WebhookOptions {
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Tries in all, the first included (default 4). */
  readonly maxAttempts?: number;
  /** Wait before the second try; doubled before each later one (default 1000). */
  readonly backoffMs?: number;
  /** Time one request may take (default 10 000). */
  readonly timeoutMs?: number;
}

export interface WebhookReceipt {
  readonly status: number;
  readonly attempts: number;
}

/** Longest wait between tries, whatever `Retry-After` asks. */
const MAX_BACKOFF_MS = 60_000;

/**
 * POSTs `body` as JSON to `options.url` until it is delivered (2xx) or the tries run out.
 * Throws `DELIVERY_FAILED` (with `attempts` and the last `status` in `details`), or `ABORTED`
 * when `signal` aborts.
 *
 * @example
 * ```ts
 * await postWebhook({ url: 'https://hooks.example.com/x' }, { text: 'done' }, { clock: systemClock, idempotencyKey: 'run/step' });
 * ```
 */
export async function postWebhook(
  options: WebhookOptions,
  body: Json,
  context: { readonly clock: Clock; readonly signal?: AbortSignal; readonly idempotencyKey?: string },
): Promise<WebhookReceipt> {
  const { clock, signal } = context;
  const maxAttempts = options.maxAttempts ?? 4;
  const backoffMs = options.backoffMs ?? 1000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const payload = JSON.stringify(body);
  let last: { status?: number; message: string } = { message: 'not tried' };
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (signal?.aborted) throw aborted(options.url, signal.reason);
    const timed = withDeadline(
      clock,
      signal,
      clock.now() + timeoutMs,
      () => new Error(`no answer within ${timeoutMs} ms`),
    );
    let retryAfterMs: number | undefined;
    try {
      const response = await fetch(options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(context.idempotencyKey ? { 'idempotency-key': context.idempotencyKey } : {}),
          ...options.headers,
        },
        body: payload,
        signal: timed.signal,
      });
      // Drain the body so the connection is released.
      const text = await response.text().catch(() => '');
      if (response.status >= 200 && response.status < 300)
        return { status: response.status, attempts: attempt };
      last = {
        status: response.status,
        message: `HTTP ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`,
      };
      if (!retryableStatus(response.status)) {
        throw new TaskvisorError(
          'DELIVERY_FAILED',
          `Webhook ${options.url} refused the message with ${last.message}; not retried (only 408, 429 and 5xx are). Check the URL and its headers.`,
          { url: options.url, status: response.status, attempts: attempt, retryable: false },
        );
      }
      retryAfterMs = retryAfter(response.headers.get('retry-after'));
    } catch (error) {
      if (error instanceof TaskvisorError) throw error;
      if (signal?.aborted) throw aborted(options.url, signal.reason);
      const reason = timed.timeout?.aborted ? timed.timeout.reason : error;
      last = { message: describe(reason) };
    } finally {
      timed.clear();
    }
    if (attempt < maxAttempts) {
      const wait = Math.min(MAX_BACKOFF_MS, Math.max(backoffMs * 2 ** (attempt - 1), retryAfterMs ?? 0));
      try {
        await sleep(clock, wait, signal);
      } catch (error) {
        throw aborted(options.url, error);
      }
    }
  }
  throw new TaskvisorError(
    'DELIVERY_FAILED',
    `Webhook ${options.url} was not delivered after ${maxAttempts} tries; the last one got ${last.message}.`,
    {
      url: options.url,
      attempts: maxAttempts,
      ...(last.status === undefined ? {} : { status: last.status }),
    },
  );
}

function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function retryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function aborted(url: string, reason: unknown): TaskvisorError {
  return new TaskvisorError(
    'ABORTED',
    `Webhook delivery to ${url} was stopped${reasonText(reason)}.`,
    { url },
    { cause: reason },
  );
}

function reasonText(reason: unknown): string {
  const text = describe(reason);
  return text ? ` (${text})` : '';
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error && cause.message ? `${error.message}: ${cause.message}` : error.message;
  }
  return error === undefined ? '' : String(error);
}
