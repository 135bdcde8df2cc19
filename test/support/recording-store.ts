/**
 * A `Store` that delegates to another and records the size of every batch committed
 * through it, for tests of what a transition costs.
 */
import type { Batch, CommitResult, Store } from '../../src/store/store.js';

export interface BatchSize {
  readonly actors: number;
  readonly events: number;
  /** The batch inserted a new run (its first commit, which writes every actor row once). */
  readonly createsRun: boolean;
}

export interface RecordingStore extends Store {
  readonly batches: BatchSize[];
}

export function recordingStore(inner: Store): RecordingStore {
  const batches: BatchSize[] = [];
  return {
    batches,
    runs: inner.runs,
    leases: inner.leases,
    events: inner.events,
    inbox: inner.inbox,
    records: inner.records,
    auditLog: inner.auditLog,
    commit: (batch: Batch): Promise<CommitResult> => {
      batches.push({
        actors: batch.actors.length,
        events: batch.events.length,
        createsRun: batch.runs.some((run) => run.type === 'insert'),
      });
      return inner.commit(batch);
    },
    check: () => inner.check(),
    close: () => inner.close(),
  };
}
