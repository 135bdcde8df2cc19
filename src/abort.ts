import type { Clock } from './clock.js';

/** Rejects with the signal's reason when `signal` aborts, so work that ignores its signal cannot hold its caller. */
export function whenAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** `signal` (if any), also aborted with `reason()` when the injected clock reaches `deadline`. */
export interface DeadlineSignal {
  readonly signal: AbortSignal;
  /** Aborted (with the deadline's reason) when the deadline passes; absent without a deadline. */
  readonly timeout?: AbortSignal;
  /** Disarms the deadline's timer (call it when the work ends). */
  readonly clear: () => void;
}

/**
 * Arms `deadline` (epoch ms on `clock`; none when undefined) over `signal`: one timer on the
 * injected clock, so tests advance it by hand and a restored deadline fires on time.
 */
export function withDeadline(
  clock: Pick<Clock, 'now' | 'setTimeout' | 'clearTimeout'>,
  signal: AbortSignal | undefined,
  deadline: number | undefined,
  reason: () => unknown,
): DeadlineSignal {
  if (deadline === undefined) return { signal: signal ?? new AbortController().signal, clear: () => {} };
  const timeout = new AbortController();
  const timer = clock.setTimeout(() => timeout.abort(reason()), Math.max(0, deadline - clock.now()));
  return {
    signal: signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal,
    timeout: timeout.signal,
    clear: () => clock.clearTimeout(timer),
  };
}
