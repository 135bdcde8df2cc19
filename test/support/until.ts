/**
 * Waiting for asynchronous state without sleeping: a condition is polled once per
 * `setImmediate` turn (so I/O callbacks, commits and timers get their turn in between),
 * up to a bound in wall time. Nothing here waits for a timer to fire.
 */

/** Resolves after one turn of the event loop (I/O and `setImmediate` callbacks included). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Lets `count` turns of the event loop pass. */
export async function turns(count: number): Promise<void> {
  for (let index = 0; index < count; index++) await nextTurn();
}

export interface UntilOptions {
  /** Give up after this long (ms of wall time, default 5000). */
  readonly withinMs?: number;
  /** What was awaited, for the failure message. */
  readonly what?: string;
}

/**
 * Polls `condition` across `setImmediate` turns until it returns something truthy, and
 * returns that value; throws when `withinMs` passes first.
 *
 * @example
 * ```ts
 * await until(() => run.view().steps[0]?.state === 'retrying', { what: 'step a retrying' });
 * ```
 */
export async function until<T>(
  condition: () => T | Promise<T>,
  options: UntilOptions = {},
): Promise<Exclude<T, false | 0 | '' | null | undefined>> {
  const deadline = performance.now() + (options.withinMs ?? 5000);
  for (;;) {
    const value = await condition();
    if (value) return value as Exclude<T, false | 0 | '' | null | undefined>;
    if (performance.now() > deadline) {
      throw new Error(
        `until: gave up after ${options.withinMs ?? 5000} ms waiting for ${options.what ?? 'a condition'}`,
      );
    }
    await nextTurn();
  }
}
