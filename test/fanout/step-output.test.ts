/**
 * A finished fan-out as a step's output, or as the error that fails the step.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runFanout } from '../../src/fanout/run-fanout.js';
import { fanoutFailure, fanoutOutput } from '../../src/fanout/step-output.js';
import { reply, startFanoutWorld } from './harness.js';

type World = Awaited<ReturnType<typeof startFanoutWorld>>;
let world: World | undefined;
afterEach(async () => {
  await world?.server.close();
  world = undefined;
});

describe('a fan-out step output', () => {
  it('lists workers in target order with the reduction and totals, as JSON', async () => {
    world = await startFanoutWorld((call) => {
      if (call.reducer) {
        return reply('{"summary": "s", "synthesis": "7 and 11", "highlights": ["both prime"]}', 50, 10);
      }
      if (call.model === 'o3-mini') return { status: 400, error: { message: 'nope' } };
      return reply('7', 10, 1);
    });
    const result = await runFanout(
      { prompt: 'Name a prime.', targets: ['gpt-4o', 'o3-mini'], reduce: { mode: 'summarize' } },
      world.deps(),
    );
    expect(fanoutFailure(result)).toBeUndefined();
    expect(fanoutOutput(result)).toEqual({
      results: [
        {
          label: 'gpt-4o',
          model: 'gpt-4o',
          state: 'completed',
          text: '7',
          usage: { inputTokens: 10, outputTokens: 1 },
          costUsd: 0.000035,
          attempts: 1,
        },
        {
          label: 'o3-mini',
          model: 'o3-mini',
          state: 'failed',
          error: expect.stringContaining('400'),
          usage: { inputTokens: 0, outputTokens: 0 },
          costUsd: 0,
          attempts: 1,
        },
      ],
      reduction: {
        mode: 'summarize',
        model: 'gpt-4o',
        verdict: { summary: 's', synthesis: '7 and 11', highlights: ['both prime'] },
        markdown: '## Summary\n\ns\n\n### Synthesis\n\n7 and 11\n\n### Highlights\n\n- both prime\n',
        calls: 1,
        usage: { inputTokens: 50, outputTokens: 10, costUsd: 0.000225 },
      },
      totals: { inputTokens: 60, outputTokens: 11, costUsd: 0.00026 },
    });
  });

  it('fails the step when no worker completed, naming each worker state', async () => {
    world = await startFanoutWorld(() => ({ status: 400, error: { message: 'nope' } }));
    const result = await runFanout(
      { prompt: 'Name a prime.', targets: ['gpt-4o', 'o3-mini'], reduce: { mode: 'compare' } },
      world.deps(),
    );
    expect(result.reductionError?.message).toBe(
      'A compare reduction needs at least one completed worker, got none; retry a failed worker first',
    );
    expect(world.calls.filter((c) => c.reducer)).toEqual([]);
    expect(fanoutFailure(result)).toMatchObject({
      code: 'ACTION_FAILED',
      message:
        'No fan-out worker completed (gpt-4o failed, o3-mini failed); retry the step to give failed workers a new attempt',
    });
  });
});
