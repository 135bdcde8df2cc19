/**
 * The store's faults as this process sees them: which of its store operations are failing
 * now (the commit, lease renewal, the command inbox, taking runs over) and why. A transient
 * fault (busy, full, unavailable) is retried by whoever hit it; this keeps the state for
 * `health()` and tells `faults$` when writing starts to fall behind and when it recovers.
 */
// The two classes only: the rxjs index would load all of rxjs at import time.
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import type { Clock } from '../clock.js';
import { TaskvisorError } from '../errors.js';
import type { StoreState } from '../store/store.js';

/** What `faults$` tells: the store began failing (or failed differently), or recovered. */
export interface StoreFault {
  readonly type: 'store.fault';
  readonly state: 'failing' | 'recovered';
  /** `busy`, `full`, `unavailable` or `corrupt` while failing; `ok` once recovered. */
  readonly store: StoreState;
  /** The error's message (it names the file and what to do); absent once recovered. */
  readonly detail?: string;
  /** When the fault began. */
  readonly since: number;
  readonly at: number;
}

export type FaultSource = 'commit' | 'leases' | 'commands' | 'adopt';

const STATE_OF: Readonly<Record<string, StoreState>> = {
  STORE_BUSY: 'busy',
  STORE_FULL: 'full',
  STORE_UNAVAILABLE: 'unavailable',
  STORE_CORRUPT: 'corrupt',
};

/** The store state an error means (`unavailable` for anything unexpected). */
export function storeStateOf(error: unknown): StoreState {
  return (error instanceof TaskvisorError && STATE_OF[error.code]) || 'unavailable';
}

export class StoreFaults {
  private readonly failing = new Map<FaultSource, unknown>();
  private since = 0;
  private readonly notices = new Subject<StoreFault>();

  constructor(private readonly clock: Clock) {}

  /** The notices; a subscriber that comes while the store is failing is told so first. */
  get faults$(): Observable<StoreFault> {
    return new Observable<StoreFault>((subscriber) => {
      if (this.active) subscriber.next(this.notice('failing'));
      return this.notices.subscribe(subscriber);
    });
  }

  /** The first error of the current fault, when the store is failing. */
  get error(): unknown {
    return this.failing.get('commit') ?? this.failing.values().next().value;
  }

  get active(): boolean {
    return this.failing.size > 0;
  }

  /** When the current fault began (0 when none). */
  get startedAt(): number {
    return this.active ? this.since : 0;
  }

  /** `source` failed with `error` (a transient store error, or a fatal one). */
  fail(source: FaultSource, error: unknown): void {
    const before = this.error;
    const was = this.active;
    this.failing.set(source, error);
    if (!was) this.since = this.clock.now();
    if (!was || storeStateOf(before) !== storeStateOf(this.error)) this.emit('failing');
  }

  /** `source` worked again. */
  succeed(source: FaultSource): void {
    if (!this.failing.delete(source) || this.active) return;
    this.emit('recovered');
  }

  complete(): void {
    this.notices.complete();
  }

  private emit(state: StoreFault['state']): void {
    this.notices.next(this.notice(state));
  }

  private notice(state: StoreFault['state']): StoreFault {
    const error = this.error;
    return {
      type: 'store.fault',
      state,
      store: state === 'recovered' ? 'ok' : storeStateOf(error),
      ...(state === 'failing' ? { detail: error instanceof Error ? error.message : String(error) } : {}),
      since: this.since,
      at: this.clock.now(),
    };
  }
}
