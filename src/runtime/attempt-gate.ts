/**
 * Where step attempts begin, for a worker that stops gracefully: while it drains, no new
 * attempt begins (it waits, unstarted and unjournaled, until close() aborts it; the run is
 * then resumed elsewhere, where the attempt starts for the first time), and the attempts
 * already running are counted so the worker can wait for them up to its grace period.
 */
import { whenAborted } from '../abort.js';
import type { Clock } from '../clock.js';

export class AttemptGate {
  private running = 0;
  private draining = false;
  private idle: Array<() => void> = [];

  constructor(private readonly clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>) {}

  /** Whether new attempts are held (the process is stopping). */
  get closing(): boolean {
    return this.draining;
  }

  get inFlight(): number {
    return this.running;
  }

  /**
   * Lets an attempt begin now (undefined), or, while draining, returns a promise that only
   * rejects, when `signal` aborts: the attempt is never started here.
   */
  enter(signal: AbortSignal): Promise<never> | undefined {
    if (this.draining) return whenAborted(signal);
    this.running += 1;
    return undefined;
  }

  /** An attempt that entered has ended. */
  leave(): void {
    this.running -= 1;
    if (this.running === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  /**
   * Holds new attempts from now on and resolves when the running ones have ended, or
   * after `graceMs`, whichever comes first; returns how many were still running.
   */
  async drain(graceMs: number): Promise<number> {
    this.draining = true;
    if (this.running > 0 && graceMs > 0) {
      let timer: unknown;
      await Promise.race([
        new Promise<void>((resolve) => this.idle.push(resolve)),
        new Promise<void>((resolve) => {
          timer = this.clock.setTimeout(resolve, graceMs);
        }),
      ]);
      this.clock.clearTimeout(timer);
    }
    return this.running;
  }
}
