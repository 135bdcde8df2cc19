/**
 * Actions that block until the test lets them go, and that honour their AbortSignal the
 * way a well-behaved action must.
 */

/** A promise the test resolves by hand. */
export interface Gate<T = void> {
  readonly promise: Promise<T>;
  open(value: T): void;
  readonly opened: boolean;
}

export function createGate<T = void>(): Gate<T> {
  let resolve!: (value: T) => void;
  let opened = false;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return {
    promise,
    open: (value: T) => {
      opened = true;
      resolve(value);
    },
    get opened() {
      return opened;
    },
  };
}

/** Waits for `promise`, or rejects with the signal's reason as soon as it aborts. */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Never settles on its own: rejects with the signal's reason when it aborts. */
export function untilAborted(signal: AbortSignal): Promise<never> {
  return unlessAborted(new Promise<never>(() => {}), signal);
}
