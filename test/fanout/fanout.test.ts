/**
 * Fan-outs end to end with the real `openai` client against the local OpenAI-compatible
 * server: labels and result order, best_of_n over six workers, a prose-then-JSON reducer
 * repaired once, retry, interrupt/resume, cancel, timeouts on the manual clock, and the
 * errors of controls that do not fit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type FanoutHandle, startFanout } from '../../src/fanout/run-fanout.js';
import { createGate } from '../support/gate.js';
import { until } from '../support/until.js';
import { reply, startFanoutWorld, sumReports } from './harness.js';

type World = Awaited<ReturnType<typeof startFanoutWorld>>;
let world: World | undefined;
afterEach(async () => {
  await world?.server.close();
  world = undefined;
});

/** The error a control throws. */
function controlError(
  handle: FanoutHandle,
  label: string,
  action: 'cancel' | 'interrupt' | 'retry' | 'resume',
) {
  try {
    handle.control(label, action, { by: 'ops' });
  } catch (error) {
    return error;
  }
  throw new Error(`control ${action} of ${label} did not throw`);
}

const stateOf = (handle: FanoutHandle, label: string) =>
  handle.workers().find((worker) => worker.label === label)?.state;

describe('a fan-out over the real openai client', () => {
  it('returns six results from three targets × 2 in target order and a best_of_n winner among their labels', async () => {
    const held = createGate();
    world = await startFanoutWorld(async (call) => {
      if (call.reducer) {
        return reply(
          'Here is my verdict:\n```json\n' +
            JSON.stringify({
              summary: 'All six answered; the local model was the most precise.',
              winner_label: 'local#2',
              rationale: 'It names the prime and shows why.',
              recommended_next_step: 'Use the answer of local#2.',
            }) +
            '\n```',
          400,
          60,
        );
      }
      if (call.model === 'gpt-4o') {
        // The first gpt-4o answer arrives last, so completion order differs from target order.
        if (call.n === 1) await held.promise;
        return reply(`gpt-4o answer ${call.n}: 7`, 100, 20);
      }
      return reply(`llama answer ${call.n}: 7 is prime because it has no divisor but 1 and 7`, 50, 10);
    });
    const w = world;
    const handle = startFanout(
      {
        prompt: 'Name a prime number and say why it is prime.',
        targets: ['gpt-4o', { model: 'llama3.2', label: 'local' }, 'gpt-4o'],
        repeat: 2,
        reduce: { mode: 'best_of_n' },
        concurrency: 6,
      },
      w.deps(),
    );
    expect(handle.labels).toEqual(['gpt-4o#1', 'gpt-4o#2', 'local#1', 'local#2', 'gpt-4o#3', 'gpt-4o#4']);

    const completed = () => w.transitions.filter((t) => t.to === 'completed').map((t) => t.label);
    await until(() => completed().length === 5, { what: 'five workers completed' });
    held.open();
    const result = await handle.done;

    const labels = result.results.map((r) => r.label);
    expect(labels).toEqual(handle.labels);
    expect(completed(), 'completion order is not target order').not.toEqual(labels);
    expect(result.results.map((r) => [r.model, r.state, r.attempts.length])).toEqual([
      ['gpt-4o', 'completed', 1],
      ['gpt-4o', 'completed', 1],
      ['llama3.2', 'completed', 1],
      ['llama3.2', 'completed', 1],
      ['gpt-4o', 'completed', 1],
      ['gpt-4o', 'completed', 1],
    ]);
    expect(new Set(result.results.map((r) => r.text)).size, 'each worker has its own answer').toBe(6);
    expect(w.clientsMade, 'one client per target, the reducer reusing the first').toEqual([
      'gpt-4o',
      'local',
      'gpt-4o',
    ]);

    const reduction = result.reduction!;
    expect(reduction.mode).toBe('best_of_n');
    expect(reduction.model, 'the reducer defaults to the first target').toBe('gpt-4o');
    expect(reduction.calls).toBe(1);
    const winner = (reduction.verdict as { winner_label: string }).winner_label;
    expect(labels).toContain(winner);
    expect(reduction.markdown).toContain('**Winner:** `local#2`');
    expect(JSON.parse(reduction.json)).toEqual(reduction.verdict);

    // The reducer saw every candidate by label with its text only.
    const reducerCalls = w.calls.filter((c) => c.reducer);
    expect(reducerCalls).toHaveLength(1);
    const shown = reducerCalls[0]!.messages[1]!.content;
    for (const r of result.results)
      expect(shown).toContain(`<candidate label="${r.label}">\n${r.text}\n</candidate>`);
    expect(shown).not.toMatch(/usage|tokens|attempt/i);

    // Totals: every worker and the reducer; 4 × gpt-4o (100/20), 2 × llama (50/10, unpriced), reducer gpt-4o (400/60).
    expect(result.totals).toEqual({ inputTokens: 900, outputTokens: 160, costUsd: 0.0034 });
    expect(result.totals).toEqual(sumReports(w.usage));
    const workerSum = sumReports(
      result.results.map((r) => ({
        ...r.usage,
        costUsd: r.costUsd,
        label: r.label,
        model: r.model,
        role: 'worker',
      })),
    );
    expect(workerSum.inputTokens + reduction.usage.inputTokens).toBe(result.totals.inputTokens);
    expect(w.usage.filter((u) => u.role === 'reducer')).toHaveLength(1);

    console.log(`six labels in order: ${labels.join(', ')}`);
    console.log(`completion order:    ${completed().join(', ')}`);
    console.log(`winner: ${winner}`);
    console.log(`totals: ${JSON.stringify(result.totals)}`);
  });

  it('repairs a reducer that answers in prose with exactly one repair call quoting the validation error', async () => {
    const prose = 'Both answers are fine. I would go with the gpt-4o one, as it is more concise.';
    world = await startFanoutWorld((call) => {
      if (!call.reducer) return reply(`${call.model} says 7`, 30, 5);
      if (call.n === 1) return reply(prose, 200, 20);
      return reply(
        'Sorry about that. Here it is:\n```json\n' +
          JSON.stringify({
            summary: 'Both name 7.',
            comparison: '- gpt-4o: terse\n- o3-mini: terse too',
            recommendation: 'Use gpt-4o.',
            ranked_labels: ['gpt-4o', 'o3-mini'],
          }) +
          '\n```\nAnything else? {"note": "not the verdict"}',
        260,
        50,
      );
    });
    const result = await startFanout(
      {
        prompt: 'Name a prime.',
        targets: ['gpt-4o', 'o3-mini'],
        reduce: { mode: 'compare', target: 'o3-mini' },
      },
      world.deps(),
    ).done;

    const reducerCalls = world.calls.filter((c) => c.reducer);
    expect(
      reducerCalls.map((c) => c.model),
      'exactly one repair call, on reduce.target',
    ).toEqual(['o3-mini', 'o3-mini']);
    const repair = reducerCalls[1]!.messages;
    expect(repair.at(-2)).toEqual({ role: 'assistant', content: prose });
    expect(repair.at(-1)!.content).toContain(
      'Your answer could not be used: the answer contains no JSON object or array',
    );
    const reduction = result.reduction!;
    expect(reduction.calls).toBe(2);
    expect(reduction.repairedError).toBe('the answer contains no JSON object or array');
    expect(reduction.verdict).toEqual({
      summary: 'Both name 7.',
      comparison: '- gpt-4o: terse\n- o3-mini: terse too',
      recommendation: 'Use gpt-4o.',
      ranked_labels: ['gpt-4o', 'o3-mini'],
    });
    expect(reduction.markdown).toContain('### Ranking\n\n1. `gpt-4o`\n2. `o3-mini`');
    // o3-mini: 460 in at 1.1/M + 70 out at 4.4/M; gpt-4o worker 30/5; o3-mini worker 30/5.
    expect(reduction.usage).toEqual({ inputTokens: 460, outputTokens: 70, costUsd: 0.000814 });
    expect(result.totals).toEqual({ inputTokens: 520, outputTokens: 80, costUsd: 0.000994 });
    expect(result.totals).toEqual(sumReports(world.usage));
    console.log(`repair calls: ${reduction.calls - 1}; quoted error: ${reduction.repairedError}`);
  });

  it('retries a failed worker and keeps the failed attempt in its archive', async () => {
    const held = createGate();
    world = await startFanoutWorld(async (call) => {
      if (call.model === 'o3-mini' && call.n === 1) {
        return {
          status: 400,
          error: { message: 'This model is overloaded with nonsense', type: 'invalid_request_error' },
        };
      }
      if (call.model === 'gpt-4o') await held.promise;
      return reply(`${call.model} says 7`, 40, 8);
    });
    const w = world;
    const handle = startFanout({ prompt: 'Name a prime.', targets: ['gpt-4o', 'o3-mini'] }, w.deps());
    await until(() => stateOf(handle, 'o3-mini') === 'failed', { what: 'o3-mini failed' });

    expect(controlError(handle, 'o3-mini', 'resume')).toMatchObject({
      code: 'INVALID_STATE',
      message: 'Cannot resume fan-out worker "o3-mini": it is failed; the controls that fit it now: retry',
    });
    handle.control('o3-mini', 'retry', { by: 'ann' });
    await until(() => stateOf(handle, 'o3-mini') === 'completed', { what: 'o3-mini retried and completed' });
    held.open();
    const result = await handle.done;

    const o3 = result.results[1]!;
    expect(o3.state).toBe('completed');
    expect(o3.attempts).toEqual([
      {
        attempt: 1,
        outcome: 'failed',
        error: {
          message: expect.stringContaining('400'),
          code: 'LLM_ERROR',
          retryable: false,
          at: 1_000,
        },
        usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
        startedAt: 1_000,
        endedAt: 1_000,
      },
      {
        attempt: 2,
        outcome: 'completed',
        text: 'o3-mini says 7',
        usage: { inputTokens: 40, outputTokens: 8, costUsd: 0.0000792 },
        startedAt: 1_000,
        endedAt: 1_000,
      },
    ]);
    expect(w.log().filter((line) => line.startsWith('o3-mini'))).toEqual([
      'o3-mini: ∅ → queued',
      'o3-mini: queued → running (attempt 1)',
      'o3-mini: running → failed (attempt 1)',
      'o3-mini: failed → queued (attempt 1)',
      'o3-mini: queued → running (attempt 2)',
      'o3-mini: running → completed (attempt 2)',
    ]);
    expect(result.totals).toEqual(sumReports(w.usage));
  });

  it('interrupts a running worker, aborting its call, and resumes it with a new attempt', async () => {
    const held = createGate();
    world = await startFanoutWorld(async (call) => {
      if (call.model === 'o3-mini' && call.n === 1) return new Promise(() => {}); // never answers
      if (call.model === 'gpt-4o') await held.promise;
      return reply(`${call.model} says 7`, 40, 8);
    });
    const w = world;
    const handle = startFanout({ prompt: 'Name a prime.', targets: ['gpt-4o', 'o3-mini'] }, w.deps());
    await until(() => w.calls.some((c) => c.model === 'o3-mini'), { what: 'the o3-mini request' });

    handle.control('o3-mini', 'interrupt', { by: 'ops' });
    expect(stateOf(handle, 'o3-mini')).toBe('interrupted');
    expect(controlError(handle, 'o3-mini', 'retry')).toMatchObject({
      code: 'INVALID_STATE',
      message:
        'Cannot retry fan-out worker "o3-mini": it is interrupted; the controls that fit it now: cancel, resume',
      details: { label: 'o3-mini', state: 'interrupted', action: 'retry', allowed: ['cancel', 'resume'] },
    });
    handle.control('o3-mini', 'resume', { by: 'ops' });
    await until(() => stateOf(handle, 'o3-mini') === 'completed', { what: 'o3-mini resumed and completed' });
    held.open();
    const result = await handle.done;

    expect(result.results[1]!.attempts.map((a) => [a.attempt, a.outcome, a.reason ?? null])).toEqual([
      [1, 'interrupted', 'interrupted by ops'],
      [2, 'completed', null],
    ]);
    expect(w.calls.filter((c) => c.model === 'o3-mini')).toHaveLength(2);
    expect(w.log().filter((line) => line.startsWith('o3-mini'))).toEqual([
      'o3-mini: ∅ → queued',
      'o3-mini: queued → running (attempt 1)',
      'o3-mini: running → interrupted (attempt 1)',
      'o3-mini: interrupted → queued (attempt 1)',
      'o3-mini: queued → running (attempt 2)',
      'o3-mini: running → completed (attempt 2)',
    ]);
  });

  it('cancels a running and a queued worker for good, freeing the slot for the next one', async () => {
    world = await startFanoutWorld((call) => {
      if (call.reducer) {
        return reply(
          JSON.stringify({
            summary: 'One answer came back.',
            winner_label: 'o3-mini',
            rationale: 'It is the only candidate.',
            recommended_next_step: 'Retry the cancelled workers for a real contest.',
          }),
          90,
          30,
        );
      }
      if (call.model === 'gpt-4o') return new Promise(() => {}); // never answers
      return reply('o3-mini says 7', 40, 8);
    });
    const w = world;
    const handle = startFanout(
      {
        prompt: 'Name a prime.',
        targets: ['gpt-4o', 'o3-mini', 'gpt-4o'],
        concurrency: 1,
        reduce: { mode: 'best_of_n' },
      },
      w.deps(),
    );
    await until(() => w.calls.length === 1, { what: 'the first request' });
    expect(handle.workers().map((r) => r.state)).toEqual(['running', 'queued', 'queued']);

    handle.control('gpt-4o#2', 'cancel', { by: 'ops' });
    handle.control('gpt-4o#1', 'cancel', { by: 'ops' });
    expect(controlError(handle, 'gpt-4o#1', 'cancel')).toMatchObject({
      code: 'INVALID_STATE',
      message:
        'Cannot cancel fan-out worker "gpt-4o#1": it is cancelled; the controls that fit it now: retry',
    });
    expect(controlError(handle, 'gpt-4o', 'cancel')).toMatchObject({
      code: 'UNKNOWN_WORKER',
      message: 'No fan-out worker is labelled "gpt-4o"; the workers are "gpt-4o#1", "o3-mini", "gpt-4o#2"',
    });
    const done = await handle.done;
    expect(done.results.map((r) => [r.label, r.state, r.reason ?? null, r.attempts.length])).toEqual([
      ['gpt-4o#1', 'cancelled', 'cancelled by ops', 1],
      ['o3-mini', 'completed', null, 1],
      ['gpt-4o#2', 'cancelled', 'cancelled by ops', 0],
    ]);
    expect(w.calls.filter((c) => !c.reducer).map((c) => c.model)).toEqual(['gpt-4o', 'o3-mini']);
    expect(done.reduction!.verdict).toMatchObject({ winner_label: 'o3-mini' });
    expect(w.calls.filter((c) => c.reducer)[0]!.messages[1]!.content).not.toContain('gpt-4o#');
    expect(controlError(handle, 'gpt-4o#1', 'retry')).toMatchObject({
      code: 'INVALID_STATE',
      message: expect.stringContaining('the fan-out has finished'),
    });
  });

  it('fails a worker whose attempt passes its deadline on the injected clock', async () => {
    world = await startFanoutWorld(() => new Promise(() => {})); // never answers
    const w = world;
    const handle = startFanout(
      { prompt: 'Name a prime.', targets: ['o3-mini'], workerTimeoutMs: 30_000 },
      w.deps(),
    );
    await until(() => w.calls.length === 1, { what: 'the request' });
    const running = w.transitions.find((t) => t.to === 'running')!;
    expect(running.snapshot.context).toMatchObject({ startedAt: 1_000, deadline: 31_000 });
    w.clock.advance(29_999);
    expect(stateOf(handle, 'o3-mini')).toBe('running');
    w.clock.advance(1);
    const result = await handle.done;
    expect(result.results[0]).toMatchObject({
      state: 'failed',
      error: { code: 'WORKER_TIMEOUT', retryable: true, at: 31_000 },
    });
    expect(result.results[0]!.error!.message).toContain('"o3-mini" timed out');
  });

  it('stops every worker where it is when its signal aborts, and rejects with ABORTED', async () => {
    world = await startFanoutWorld(() => new Promise(() => {}));
    const w = world;
    const controller = new AbortController();
    const handle = startFanout(
      { prompt: 'Name a prime.', targets: ['gpt-4o', 'o3-mini'] },
      w.deps({ signal: controller.signal }),
    );
    await until(() => w.calls.length === 2, { what: 'both requests' });
    controller.abort(new Error('step interrupted'));
    await expect(handle.done).rejects.toMatchObject({ code: 'ABORTED' });
    expect(w.transitions.at(-1)!.to, 'no transition is made up for the stop').toBe('running');
  });
});
