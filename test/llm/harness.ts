/** Shared set-up for the LLM adapter tests: a client wired to the local server and a manual clock. */
import { ManualClock } from '../../src/clock.js';
import { createLlmClient, type LlmClientOptions, type UsageReport } from '../../src/llm/client.js';
import type { OpenAiServer } from '../support/openai-server.js';

export function clientFor(server: OpenAiServer, options: LlmClientOptions = {}) {
  const clock = new ManualClock(0);
  const usage: UsageReport[] = [];
  const llm = createLlmClient({
    baseURL: server.baseURL,
    apiKey: 'test-key',
    model: 'test-model',
    clock,
    random: () => 0.5,
    env: {},
    onUsage: (report) => usage.push(report),
    ...options,
  });
  return { llm, clock, usage };
}

/**
 * Resolves once the client is waiting on the clock (a backoff), by letting I/O run across
 * `setImmediate` turns. The wall-clock bound only turns a hang into a clear failure.
 */
export async function untilSleeping(clock: ManualClock): Promise<void> {
  const giveUpAt = performance.now() + 5_000;
  while (clock.pending === 0) {
    if (performance.now() > giveUpAt) throw new Error('the client never started a backoff wait');
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Asserts the pending backoff lasts exactly `ms` on the clock, then lets it end. */
export function expectBackoff(clock: ManualClock, ms: number): void {
  const pending = (): number => clock.pending;
  if (ms > 0) clock.advance(ms - 1);
  if (pending() !== 1) throw new Error(`the backoff ended before ${ms} ms (at ${clock.now()} ms)`);
  clock.advance(1);
  if (pending() !== 0) throw new Error(`the backoff lasted longer than ${ms} ms`);
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Captures a promise's outcome at once, so a rejection is never reported as unhandled. */
export function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** The error of a settled promise that must have rejected. */
export function rejection<T>(outcome: Settled<T>): unknown {
  if (outcome.ok) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  return outcome.error;
}
