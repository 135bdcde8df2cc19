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
    commit: (batch: Batch): Promise<CommitResult> => {
      batches.push({
        actors: batch.actors.length,
        events: batch.events.length,
        createsRun: batch.runs.some((run) => run.type === 'insert'),
      });
      return inner.commit(batch);
    },
    getRun: (runId) => inner.getRun(runId),
    listRuns: (filter) => inner.listRuns(filter),
    loadRun: (runId) => inner.loadRun(runId),
    acquireLease: (runId, claim, options) => inner.acquireLease(runId, claim, options),
    renewLeases: (owner, expiresAt) => inner.renewLeases(owner, expiresAt),
    releaseLeases: (owner) => inner.releaseLeases(owner),
    readEvents: (query) => inner.readEvents(query),
    lastSeq: () => inner.lastSeq(),
    attempts: (runId, stepId) => inner.attempts(runId, stepId),
    findRequest: (query) => inner.findRequest(query),
    openRequests: (runId) => inner.openRequests(runId),
    requests: (runId) => inner.requests(runId),
    artifacts: (runId) => inner.artifacts(runId),
    audit: (query) => inner.audit(query),
    verifyAudit: () => inner.verifyAudit(),
    searchEpisodes: (text, options) => inner.searchEpisodes(text, options),
    addCommand: (runId, command, at) => inner.addCommand(runId, command, at),
    pendingCommands: () => inner.pendingCommands(),
    close: () => inner.close(),
  };
}
