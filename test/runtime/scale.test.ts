/**
 * O(1) per transition: a run of 2,000 steps completes, and what a commit writes does not
 * grow with the plan. The store is wrapped to record every batch (createSupervisor({ store })).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite-open.js';
import { type BatchSize, recordingStore } from '../support/recording-store.js';
import { useSupervisorHarness } from '../support/supervisor-harness.js';

const harness = useSupervisorHarness();

type Kind = 'relay' | 'note';

/** A chain s0 → s1 → ... of `count` steps of `kind`. */
function chain(count: number, kind: Kind) {
  return Array.from({ length: count }, (_, index) => ({
    id: `s${index}`,
    ...(index === 0 ? {} : { dependsOn: [`s${index - 1}`] }),
    action: kind === 'relay' ? { kind: 'relay', index } : { kind: 'note', output: index },
  }));
}

/** Runs a chain to its end on a recording store and returns every batch's size. */
async function runChain(
  count: number,
  kind: Kind,
): Promise<{ batches: BatchSize[]; outputs: Record<string, unknown> }> {
  const store = recordingStore(openSqliteStore(path.join(harness.tempDir(), 'scale.db')));
  harness.defer(() => store.close());
  // A relay is a custom (execute-tier, non-idempotent) action: each attempt waits for its
  // intent to be durable, so every step start is its own commit.
  const sv = await harness.open({ store, actions: { relay: async (input) => ({ output: input.index }) } });
  const run = await sv.start({ goal: `a chain of ${count}`, plan: { steps: chain(count, kind) } });
  const result = await run.done;
  expect(result.phase).toBe('completed');
  await sv.close();
  return { batches: store.batches, outputs: result.outputs };
}

const max = (values: number[]) => Math.max(...values);

describe('the cost of a transition', () => {
  it('completes a chain of 2,000 steps writing no more actor rows or events per commit than a chain of 50', async () => {
    const small = await runChain(50, 'relay');
    const large = await runChain(2000, 'relay');

    expect(Object.keys(large.outputs)).toHaveLength(2000);
    expect(large.outputs.s1999).toBe(1999);

    // The first commit creates the run: every actor row once (the task and each step).
    for (const [count, { batches }] of [
      [50, small],
      [2000, large],
    ] as const) {
      const creating = batches.filter((batch) => batch.createsRun);
      expect(creating).toHaveLength(1);
      expect(creating[0]?.actors).toBe(count + 1);
    }

    const later = (batches: BatchSize[]) => batches.filter((batch) => !batch.createsRun);
    const smallActors = max(later(small.batches).map((batch) => batch.actors));
    const largeActors = max(later(large.batches).map((batch) => batch.actors));
    const smallEvents = max(later(small.batches).map((batch) => batch.events));
    const largeEvents = max(later(large.batches).map((batch) => batch.events));
    expect(largeActors).toBeLessThanOrEqual(smallActors);
    expect(largeEvents).toBeLessThanOrEqual(smallEvents);
    expect(largeActors).toBeLessThanOrEqual(4);
  }, 120_000);

  it('writes each step of a 2,000-step chain of notes a bounded number of times in all', async () => {
    const { batches, outputs } = await runChain(2000, 'note');
    expect(outputs.s1999).toBe(1999);
    const later = batches.filter((batch) => !batch.createsRun);
    const rows = later.reduce((sum, batch) => sum + batch.actors, 0);
    // Each step changes a few times (pending → running → succeeded); the task once per commit at most.
    expect(rows).toBeLessThanOrEqual(3 * 2000 + later.length);
  }, 120_000);
});
