/**
 * The monitor snapshot's `workers` part, built from stored fan-out states: state, attempts,
 * usage over every attempt, and the controls that fit each worker now.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { monitorView, workerViews } from '../../src/fanout/monitor.js';
import { startFanout } from '../../src/fanout/run-fanout.js';
import type { TaskvisorEvent } from '../../src/model/events.js';
import type { RunView } from '../../src/model/views.js';
import { until } from '../support/until.js';
import { reply, startFanoutWorld } from './harness.js';

type World = Awaited<ReturnType<typeof startFanoutWorld>>;
let world: World | undefined;
afterEach(async () => {
  await world?.server.close();
  world = undefined;
});

const run: RunView = {
  id: 'run-1',
  goal: 'fan out',
  phase: 'running',
  steps: [],
  usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
  replans: 0,
  createdAt: 500,
  updatedAt: 900,
  seq: 3,
};

const events: TaskvisorEvent[] = [1, 2, 3].map((seq) => ({
  seq,
  at: 800 + seq,
  runId: 'run-1',
  type: 'run.transition',
  from: 'queued',
  to: 'running',
}));

describe('the monitor view of fan-out workers', () => {
  it('shows every worker with its state, attempts, usage and the controls that fit it', async () => {
    world = await startFanoutWorld((call) => {
      if (call.model === 'o3-mini') return { status: 400, error: { message: 'no' } };
      if (call.model === 'gpt-4o' && call.n === 1) return reply('gpt-4o says 7', 100, 20);
      return new Promise(() => {});
    });
    const w = world;
    const handle = startFanout(
      {
        prompt: 'Name a prime.',
        targets: ['gpt-4o', 'o3-mini', 'llama3.2', 'gpt-4o'],
        concurrency: 3,
        workerTimeoutMs: 60_000,
      },
      w.deps(),
    );
    await until(
      () => handle.workers().filter((x) => x.state === 'completed' || x.state === 'failed').length === 2,
      { what: 'two workers settled' },
    );
    await until(() => w.calls.length === 4, { what: 'the fourth request' });
    handle.control('llama3.2', 'interrupt', { by: 'ops' });

    const views = workerViews('ask', handle.state());
    expect(
      views.map((v) => ({
        label: v.label,
        state: v.state,
        attempt: v.attempt,
        controls: v.controls,
        usage: v.usage,
        preview: v.preview ?? null,
        error: v.error ?? null,
        deadline: v.deadline ?? null,
      })),
    ).toEqual([
      {
        label: 'gpt-4o#1',
        state: 'completed',
        attempt: 1,
        controls: [],
        usage: { inputTokens: 100, outputTokens: 20, costUsd: 0.00045 },
        preview: 'gpt-4o says 7',
        error: null,
        deadline: null,
      },
      {
        label: 'o3-mini',
        state: 'failed',
        attempt: 1,
        controls: ['retry'],
        usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
        preview: null,
        error: expect.stringContaining('400'),
        deadline: null,
      },
      {
        label: 'llama3.2',
        state: 'interrupted',
        attempt: 1,
        controls: ['cancel', 'resume'],
        usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
        preview: null,
        error: null,
        deadline: null,
      },
      {
        label: 'gpt-4o#2',
        state: 'running',
        attempt: 1,
        controls: ['cancel', 'interrupt'],
        usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
        preview: null,
        error: null,
        deadline: 61_000,
      },
    ]);
    expect(views.every((v) => v.stepId === 'ask')).toBe(true);

    const monitor = monitorView({
      run,
      fanouts: [{ stepId: 'ask', state: handle.state() }],
      openRequests: [{ id: 'q1' }],
      events,
      limit: 2,
    });
    expect(monitor.workers).toEqual(views);
    expect(monitor.recentEvents.map((e) => e.seq)).toEqual([2, 3]);
    expect(monitor.openRequests).toEqual([{ id: 'q1' }]);
    expect(monitor.updatedAt).toBe(1_000); // the workers' latest time beats the run's 900 and the events' 803
    handle.control('llama3.2', 'cancel');
    handle.control('gpt-4o#2', 'cancel');
    await handle.done;
  });
});
