/**
 * The RxJS bus. `events$` carries this process's committed events live; `replay()`
 * reads the log from the database and then continues live, with no gap and no
 * duplicate: it listens before it reads, de-duplicates by `seq`, and fills any gap (events
 * another process committed) from the database.
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
  /** Also poll the database this often (ms), to see events committed by other processes. */
  readonly pollMs?: number;
}

const PAGE = 1000;

export class EventBus {
  private readonly subject = new Subject<TaskvisorEvent>();
  /** Live events committed by this process. */
  readonly events$: Observable<TaskvisorEvent> = this.subject.asObservable();

  constructor(private readonly store: Store) {}

  publish(events: readonly TaskvisorEvent[]): void {
    for (const event of events) this.subject.next(event);
  }

  complete(): void {
    this.subject.complete();
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
      // Listen first, then read: nothing committed in between is lost.
      const live = this.subject.subscribe({
        next: (event) =>
          run(async () => {
            // A jump in seq means another process committed in between (only visible unfiltered).
            if (options.runId === undefined && event.seq > last + 1) await catchUp(event.seq);
            emit(event);
          }),
        complete: () => run(() => subscriber.complete()),
      });
      run(() => catchUp());
      let timer: ReturnType<typeof setInterval> | undefined;
      if (options.pollMs !== undefined) {
        timer = setInterval(() => run(() => catchUp()), options.pollMs);
        timer.unref?.();
      }
      return () => {
        closed = true;
        live.unsubscribe();
        if (timer) clearInterval(timer);
      };
    });
  }
}
