/**
 * A fan-out resumed from its stored `FanoutState` after its process stopped part-way:
 * completed workers are not asked again, the attempt in flight runs again as a new attempt
 * (the lost one archived), failed workers are retried on request, and a finished reduction
 * is reused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  FANOUT_STATE_VERSION,
  type FanoutState,
  type PersistedWorker,
} from '../../src/fanout/fanout-state.js';
import { type FanoutSpec, runFanout, startFanout } from '../../src/fanout/run-fanout.js';
import { until } from '../support/until.js';
import { reply, startFanoutWorld, sumReports } from './harness.js';

type World = Awaited<ReturnType<typeof startFanoutWorld>>;
const worlds: World[] = [];
afterEach(async () => {
  for (const world of worlds.splice(0)) await world.server.close();
});

const spec: FanoutSpec = {
  prompt: 'Name a prime.',
  targets: ['gpt-4o', 'o3-mini', 'gpt-4o'],
  reduce: { mode: 'best_of_n' },
};

const verdict = (winner: string) =>
  JSON.stringify({
    summary: 'All name 7.',
    winner_label: winner,
    rationale: 'Clearest.',
    recommended_next_step: 'Use it.',
  });

/** What the runtime would store: each worker's latest persisted snapshot, as JSON. */
function storedState(world: World, labels: readonly string[]): FanoutState {
  const latest = new Map<string, PersistedWorker>();
  for (const transition of world.transitions) latest.set(transition.label, transition.snapshot);
  return JSON.parse(
    JSON.stringify({
      version: FANOUT_STATE_VERSION,
      workers: labels.map((label) => ({ label, snapshot: latest.get(label) })),
    }),
  ) as FanoutState;
}

describe('resuming a fan-out from its stored state', () => {
  it('keeps completed workers, re-runs the lost attempt and retries the failed worker', async () => {
    // First process: one gpt-4o worker completes, o3-mini fails, the other gpt-4o worker is in flight.
    const first = await startFanoutWorld((call) => {
      if (call.model === 'o3-mini') return { status: 400, error: { message: 'bad request' } };
      if (call.n === 1) return reply('gpt-4o says 7', 100, 20);
      return new Promise(() => {});
    });
    worlds.push(first);
    const crash = new AbortController();
    const handle = startFanout(spec, first.deps({ signal: crash.signal }));
    await until(
      () =>
        handle.workers().filter((w) => w.state === 'completed').length === 1 &&
        handle.workers().some((w) => w.state === 'failed') &&
        first.calls.length === 3,
      { what: 'one completed, one failed, one in flight' },
    );
    crash.abort(new Error('the process died'));
    await expect(handle.done).rejects.toMatchObject({ code: 'ABORTED' });
    const stored = storedState(first, handle.labels);
    const completedLabel = stored.workers.find((w) => w.snapshot.value === 'completed')!.label;
    const lostLabel = stored.workers.find((w) => w.snapshot.value === 'running')!.label;
    expect([completedLabel, lostLabel].sort()).toEqual(['gpt-4o#1', 'gpt-4o#2']);

    // Second process.
    const second = await startFanoutWorld((call) => {
      if (call.reducer) return reply(verdict(lostLabel), 300, 40);
      return reply(`${call.model} says 7 again`, 100, 20);
    });
    worlds.push(second);
    const result = await runFanout(spec, second.deps({ restore: stored, retryFailed: true }));

    expect(
      second.calls
        .filter((c) => !c.reducer)
        .map((c) => c.model)
        .sort(),
      'only the lost and the failed worker call again',
    ).toEqual(['gpt-4o', 'o3-mini']);
    const byLabel = new Map(result.results.map((r) => [r.label, r]));
    expect(byLabel.get(completedLabel)!.attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'completed'],
    ]);
    expect(byLabel.get(completedLabel)!.text).toBe('gpt-4o says 7');
    expect(
      byLabel
        .get(lostLabel)!
        .attempts.map((a) => [a.attempt, a.outcome, a.error?.code ?? null, a.reason ?? null]),
    ).toEqual([
      [1, 'interrupted', 'ATTEMPT_INTERRUPTED', 'the process stopped during this attempt'],
      [2, 'completed', null, null],
    ]);
    expect(byLabel.get('o3-mini')!.attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'failed'],
      [2, 'completed'],
    ]);
    expect(result.reduction!.verdict).toMatchObject({ winner_label: lostLabel });
    // Totals cover both processes: the stored completed attempt and everything after.
    expect(result.totals).toEqual(sumReports([...first.usage, ...second.usage]));
    expect(second.log().filter((line) => line.startsWith(lostLabel))).toEqual([
      `${lostLabel}: running → queued (attempt 1)`,
      `${lostLabel}: queued → running (attempt 2)`,
      `${lostLabel}: running → completed (attempt 2)`,
    ]);
  });

  it('repeats nothing when every worker and the reduction were done', async () => {
    const first = await startFanoutWorld((call) =>
      call.reducer ? reply(verdict('o3-mini'), 300, 40) : reply(`${call.model} says 7`, 100, 20),
    );
    worlds.push(first);
    const done = await runFanout(spec, first.deps());

    const second = await startFanoutWorld(() => ({ status: 500, error: { message: 'must not be called' } }));
    worlds.push(second);
    const again = await runFanout(spec, second.deps({ restore: JSON.parse(JSON.stringify(done.state)) }));
    expect(second.calls).toEqual([]);
    expect(again.results).toEqual(done.results);
    expect(again.reduction).toEqual(done.reduction);
    expect(again.totals).toEqual(done.totals);
  });

  it('refuses a stored state that does not fit the fan-out, saying how to fix it', async () => {
    const world = await startFanoutWorld(() => reply('7', 1, 1));
    worlds.push(world);
    const done = await runFanout(spec, world.deps());
    expect(() => startFanout({ ...spec, repeat: 2 }, world.deps({ restore: done.state }))).toThrowError(
      /does not fit this fan-out.*resume it with the same targets and repeat/,
    );
  });
});
