/**
 * The RxJS bus. `events$` carries every event committed to the database, in `seq` order:
 * this process's as soon as they commit, other processes' as this one learns of them
 * (the store's wake-ups — LISTEN/NOTIFY on PostgreSQL — or polling every `pollMs`).
 * `replay()` reads the log from the database and then continues live, with no gap and no
 * duplicate.
 *
 * Following other processes costs reads, so it happens only while someone watches (a
 * subscriber of `events$` or of a replay, or the runtime following runs it does not drive).
 * When watching begins, the feed starts at the log's last seq; from then on it delivers
 * every event once: its own commits directly when they continue the sequence, anything
 * else (other processes' commits, a gap) read from the database from its cursor.
 */
// The exported internal paths load only what is used (the 'rxjs' index loads every operator);
// under Node they are the very modules the index re-exports, so the classes are the same.
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import type { TaskvisorEvent } from '../model/events.js';
import type { Store } from '../store/store.js';

export interface ReplayOptions {
  /** Only this run's events. */
  readonly runId?: string;
  /** Start after this `seq` (0: from the first event). */
  readonly after?: number;
}

export interface EventBusOptions {
  /** How often to look for other processes' events while watching, ms. */
  readonly pollMs: number;
}

const PAGE = 1000;
/** With wake-ups from the store, polling is only a safety net. */
const SIGNALLED_POLL_MS = 2_000;

export class EventBus {
  private readonly subject = new Subject<TaskvisorEvent>();
  /** The last seq delivered on the feed. */
  private cursor = 0;
  private watchers = 0;
  private readyPromise: Promise<void> = Promise.resolve();
  private readied = true;
  private fetching = false;
  private fetchAgain = false;
  private stopWatching?: () => void;
  private completed = false;

  /** Every committed event, live, in seq order. */
  readonly events$: Observable<TaskvisorEvent> = new Observable<TaskvisorEvent>((subscriber) => {
    const release = this.watch();
    const subscription = this.subject.subscribe(subscriber);
    return () => {
      subscription.unsubscribe();
      release();
    };
  });

  constructor(
    private readonly store: Store,
    private readonly options: EventBusOptions = { pollMs: 100 },
  ) {}

  /** Events this process committed (in seq order). */
  publish(events: readonly TaskvisorEvent[]): void {
    if (events.length === 0) return;
    // Nobody follows other processes, or the feed is only now finding its start: this
    // process's own commits are delivered as they come.
    if (this.watchers === 0 || !this.readied || (!this.fetching && events[0]!.seq === this.cursor + 1)) {
      for (const event of events) this.deliver(event);
      return;
    }
    // Behind (another process committed in between, or a read is under way): read it.
    void this.fetch();
  }

  complete(): void {
    this.completed = true;
    this.stopWatching?.();
    this.subject.complete();
  }

  /** Resolves once the feed knows where it starts (after `watch()`). */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /**
   * Follows other processes' commits until the returned function is called (counted:
   * the feed runs while anyone watches).
   */
  watch(): () => void {
    let released = false;
    this.watchers += 1;
    if (this.watchers === 1 && !this.completed) this.begin();
    return () => {
      if (released) return;
      released = true;
      this.watchers -= 1;
      if (this.watchers === 0) this.stopWatching?.();
    };
  }

  replay(options: ReplayOptions = {}): Observable<TaskvisorEvent> {
    return new Observable<TaskvisorEvent>((subscriber) => {
      let last = options.after ?? 0;
      let closed = false;
      let chain = Promise.resolve();
      const matches = (event: TaskvisorEvent) => options.runId === undefined || event.runId === options.runId;
      const emit = (event: TaskvisorEvent) => {
        if (event.seq <= last || !matches(event)) return;
        last = event.seq;
        subscriber.next(event);
      };
      /** Everything after `last` up to (not including) `before`, from the database. */
      const catchUp = async (before = Number.POSITIVE_INFINITY) => {
        for (;;) {
          const page = await this.store.events.readEvents({
            after: last,
            ...(options.runId === undefined ? {} : { runId: options.runId }),
            limit: PAGE,
          });
          for (const event of page) {
            if (closed || event.seq >= before) return;
            emit(event);
          }
          if (page.length < PAGE) return;
        }
      };
      const run = (task: () => Promise<void> | void) => {
        chain = chain.then(async () => {
          if (!closed) await task();
        });
        chain.catch((error: unknown) => {
          if (!closed) subscriber.error(error);
        });
      };
      // Watch first, then read: nothing committed in between is lost.
      const release = this.watch();
      const live = this.subject.subscribe({
        next: (event) =>
          run(async () => {
            if (options.runId === undefined && event.seq > last + 1) await catchUp(event.seq);
            emit(event);
          }),
        complete: () => run(() => subscriber.complete()),
      });
      run(async () => {
        await this.readyPromise;
        await catchUp();
      });
      return () => {
        closed = true;
        live.unsubscribe();
        release();
      };
    });
  }

  private deliver(event: TaskvisorEvent): void {
    if (event.seq <= this.cursor) return;
    this.cursor = event.seq;
    this.subject.next(event);
  }

  private begin(): void {
    this.readied = false;
    this.readyPromise = (async () => {
      try {
        const last = await this.store.events.lastSeq();
        if (last > this.cursor) this.cursor = last;
      } catch {
        // The store is failing: start from what was delivered; the next read catches up.
      } finally {
        this.readied = true;
      }
    })();
    const signals = this.store.signals;
    const stopSignal = signals?.on('events', (lastSeq) => {
      if (lastSeq === undefined || lastSeq > this.cursor) void this.fetch();
    });
    const timer = setInterval(
      () => void this.fetch(),
      signals ? Math.max(this.options.pollMs, SIGNALLED_POLL_MS) : this.options.pollMs,
    );
    timer.unref?.();
    this.stopWatching = () => {
      clearInterval(timer);
      stopSignal?.();
      this.stopWatching = undefined;
    };
  }

  /** Reads and delivers everything after the cursor (one read at a time; asked again, reads again). */
  private async fetch(): Promise<void> {
    if (this.fetching) {
      this.fetchAgain = true;
      return;
    }
    this.fetching = true;
    try {
      await this.readyPromise;
      do {
        this.fetchAgain = false;
        for (;;) {
          if (this.watchers === 0 || this.completed) return;
          const page = await this.store.events.readEvents({ after: this.cursor, limit: PAGE });
          for (const event of page) this.deliver(event);
          if (page.length < PAGE) break;
        }
      } while (this.fetchAgain);
    } catch {
      // The store is failing (its faults are reported where it is written): the next wake-up
      // or poll reads from the same cursor.
    } finally {
      this.fetching = false;
    }
  }
}
