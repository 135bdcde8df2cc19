/**
 * The read model: run views folded from committed events, in an `@xstate/store` so UIs
 * can subscribe. Each run has a `RunProjection` (O(1) per event); the store's context
 * indexes them and counts revisions, so a subscriber learns which runs changed.
 */
import { createStore } from '@xstate/store';
import type { TaskvisorEvent } from '../model/events.js';
import type { Json } from '../model/json.js';
import { RunProjection, type RunView } from '../model/views.js';
import type { Store } from '../store/store.js';

export interface ReadModelContext {
  /** Projections by run id (the map is the model's index, updated in place). */
  readonly runs: ReadonlyMap<string, RunProjection>;
  /** Bumped once per committed batch. */
  readonly revision: number;
  /** Runs the last batch changed. */
  readonly changed: readonly string[];
}

export class ReadModel {
  private readonly runs = new Map<string, RunProjection>();
  readonly store = createStore({
    context: { runs: this.runs, revision: 0, changed: [] } as ReadModelContext,
    on: {
      folded: (context, event: { changed: readonly string[] }) => ({
        runs: context.runs,
        revision: context.revision + 1,
        changed: event.changed,
      }),
    },
  });

  /** Folds committed events in (ignoring any already folded). */
  apply(events: readonly TaskvisorEvent[]): void {
    const changed = new Set<string>();
    for (const event of events) {
      let projection = this.runs.get(event.runId);
      if (!projection) {
        if (event.type !== 'run.created') continue;
        projection = new RunProjection();
        this.runs.set(event.runId, projection);
      }
      if (projection.apply(event)) changed.add(event.runId);
    }
    if (changed.size > 0) this.store.trigger.folded({ changed: [...changed] });
  }

  has(runId: string): boolean {
    return this.runs.get(runId)?.runId !== undefined;
  }

  view(runId: string): RunView | undefined {
    const projection = this.runs.get(runId);
    return projection?.runId === undefined ? undefined : projection.view();
  }

  projection(runId: string): RunProjection | undefined {
    return this.runs.get(runId);
  }

  outputOf(runId: string, stepId: string): Json | undefined {
    return this.runs.get(runId)?.outputOf(stepId);
  }

  /** Catches a run's projection up with the event log (e.g. a run another process drives). */
  async sync(runId: string, store: Store): Promise<RunView | undefined> {
    let projection = this.runs.get(runId);
    const after = projection?.seq ?? 0;
    const events = await store.events.readEvents({ runId, after });
    if (events.length > 0) {
      if (!projection) {
        projection = new RunProjection();
        this.runs.set(runId, projection);
      }
      for (const event of events) projection.apply(event);
      this.store.trigger.folded({ changed: [runId] });
    }
    return this.view(runId);
  }

  /** Forgets a run (it is driven elsewhere now). */
  drop(runId: string): void {
    this.runs.delete(runId);
  }
}
