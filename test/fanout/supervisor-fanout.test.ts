/**
 * Fan-out through the supervisor: `sv.fanout()` and `fanout` steps, with the real `openai`
 * client against the local server, worker controls through `sv.control()`, `trace()` and
 * `monitor()`, and a fan-out resumed by a new supervisor without asking finished workers again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskvisorEvent } from '../../src/model/events.js';
import type { Supervisor, SupervisorOptions } from '../../src/supervisor.js';
import { createGate, type Gate } from '../support/gate.js';
import { type OpenAiServer, type ScriptedResponse, startOpenAiServer } from '../support/openai-server.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

const harness = useSupervisorHarness();
const prices = {
  'gpt-4o': { inputPer1M: 2.5, outputPer1M: 10 },
  'o3-mini': { inputPer1M: 1.1, outputPer1M: 4.4 },
};

interface Call {
  readonly model: string;
  readonly reducer: boolean;
  readonly messages: Array<{ role: string; content: string }>;
}

let server: OpenAiServer | undefined;
const gates: Array<Gate<ScriptedResponse>> = [];

afterEach(async () => {
  for (const gate of gates.splice(0)) if (!gate.opened) gate.open({ text: 'late', usage: usage(1, 1) });
  await server?.close();
  server = undefined;
});

const usage = (prompt_tokens: number, completion_tokens: number) => ({ prompt_tokens, completion_tokens });

async function world(route: (call: Call, index: number) => ScriptedResponse | Promise<ScriptedResponse>) {
  const calls: Call[] = [];
  server = await startOpenAiServer({
    handler: (body) => {
      const messages = (body['messages'] ?? []) as Call['messages'];
      const call = {
        model: String(body['model']),
        reducer: messages[0]?.role === 'system' && messages[0].content.startsWith('You review answers'),
        messages,
      };
      calls.push(call);
      return route(call, calls.length - 1);
    },
  });
  const db = harness.dbPath();
  const open = (extra: Partial<SupervisorOptions> = {}) =>
    harness.open({
      db,
      llm: { baseURL: server!.baseURL, apiKey: 'test', model: 'gpt-4o', maxRetries: 0 },
      prices,
      ids: sequentialIds(),
      ...extra,
    });
  return { calls, open };
}

/** A response the test hands out later (a worker that is still thinking). */
function held(): Promise<ScriptedResponse> {
  const gate = createGate<ScriptedResponse>();
  gates.push(gate);
  return gate.promise;
}

function workerEvents(events: TaskvisorEvent[]) {
  return events.flatMap((event) =>
    event.type === 'worker.transition' ? [`${event.label}: ${event.from ?? '∅'} → ${event.to}`] : [],
  );
}

describe('sv.fanout()', () => {
  it('runs 3 targets × 2 with best_of_n: six results in target order, a winner among them, totals = all usage', async () => {
    const { open, calls } = await world((call) => {
      if (call.reducer) {
        return {
          text: JSON.stringify({
            summary: 'o3-mini#2 is the clearest',
            winner_label: 'o3-mini#2',
            rationale: 'shortest correct proof',
            recommended_next_step: 'use it',
          }),
          usage: usage(400, 60),
        };
      }
      return call.model === 'gpt-4o'
        ? { text: 'answer from gpt-4o', usage: usage(100, 20) }
        : { text: 'answer from o3-mini', usage: usage(50, 10) };
    });
    const sv = await open();
    const run = await sv.fanout({
      prompt: 'Prove there are infinitely many primes',
      targets: ['gpt-4o', 'o3-mini', 'gpt-4o'],
      repeat: 2,
      reduce: { mode: 'best_of_n' },
    });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    const output = result.outputs['fanout'] as {
      results: Array<{ label: string; state: string; text: string }>;
      reduction: { verdict: { winner_label: string }; markdown: string };
      totals: { inputTokens: number; outputTokens: number; costUsd: number };
    };
    const labels = output.results.map((worker) => worker.label);
    expect(labels).toEqual(['gpt-4o#1', 'gpt-4o#2', 'o3-mini#1', 'o3-mini#2', 'gpt-4o#3', 'gpt-4o#4']);
    expect(output.results.every((worker) => worker.state === 'completed')).toBe(true);
    expect(labels).toContain(output.reduction.verdict.winner_label);
    expect(output.reduction.markdown).toContain('o3-mini#2');
    // The reducer saw the candidates by label with their text only.
    const reducerCall = calls.find((call) => call.reducer)!;
    expect(reducerCall.messages.at(-1)!.content).toContain('gpt-4o#3');
    expect(reducerCall.messages.at(-1)!.content).not.toContain('gpt-4o#3 (gpt-4o)');

    const expected = {
      inputTokens: 4 * 100 + 2 * 50 + 400,
      outputTokens: 4 * 20 + 2 * 10 + 60,
      costUsd: (4 * 100 * 2.5 + 4 * 20 * 10 + 2 * 50 * 1.1 + 2 * 10 * 4.4 + 400 * 2.5 + 60 * 10) / 1_000_000,
    };
    expect(output.totals).toEqual(expected);
    expect(result.usage).toEqual(expected);
    const trace = await sv.trace(run.id);
    const usageEvents = trace.events.filter((event) => event.type === 'usage.recorded');
    expect(usageEvents).toHaveLength(7);
    expect(trace.workers.map((worker) => [worker.stepId, worker.label, worker.attempts.length])).toEqual(
      labels.map((label) => ['fanout', label, 1]),
    );
    expect(trace.artifacts.map((artifact) => [artifact.kind, artifact.name])).toContainEqual([
      'fanout',
      'best_of_n reduction',
    ]);
    expect(trace.events.filter((event) => event.type === 'fanout.reduced')).toHaveLength(1);
  });

  it('retries a failed worker, interrupts and resumes another, cancels a third; trace shows archived attempts', async () => {
    let o3 = 0;
    const { open } = await world((call) => {
      if (call.model === 'o3-mini') {
        o3 += 1;
        if (o3 === 1) return { status: 400, error: { message: 'context length exceeded' } };
        return { text: 'o3 answer', usage: usage(5, 5) };
      }
      if (call.model === 'slow') return held();
      return { text: 'gpt answer', usage: usage(10, 10) };
    });
    const sv = await open();
    const run = await sv.fanout({ prompt: 'Name a prime', targets: ['gpt-4o', 'o3-mini', 'slow', 'slow'] });
    const stateOf = async (label: string) =>
      (await sv.get(run.id))?.workers?.find((worker) => worker.label === label)?.state;
    await until(
      async () => (await stateOf('o3-mini')) === 'failed' && (await stateOf('slow#1')) === 'running',
    );

    await expect(sv.control(run.id, 'o3-mini', 'resume')).rejects.toThrow(
      /worker "o3-mini" of step fanout .* is failed; "resume" applies to a worker that is interrupted/,
    );
    await sv.control(run.id, 'o3-mini', 'retry', { by: 'ann' });
    await until(async () => (await stateOf('o3-mini')) === 'completed');

    await sv.control(run.id, 'slow#1', 'interrupt');
    await until(async () => (await stateOf('slow#1')) === 'interrupted');
    await sv.control(run.id, 'slow#2', 'cancel');
    await until(async () => (await stateOf('slow#2')) === 'cancelled');
    await sv.control(run.id, 'slow#1', 'resume');
    await until(async () => (await stateOf('slow#1')) === 'running');
    // slow#1's first attempt and slow#2's were aborted; slow#1's second attempt answers.
    await until(() => gates.length === 3);
    gates[2]!.open({ text: 'slow answer', usage: usage(7, 3) });

    const result = await run.done;
    expect(result.phase).toBe('completed');
    const trace = await sv.trace(run.id);
    const attempts = Object.fromEntries(
      trace.workers.map((worker) => [worker.label, worker.attempts.map((attempt) => attempt.outcome)]),
    );
    expect(attempts).toEqual({
      'gpt-4o': ['completed'],
      'o3-mini': ['failed', 'completed'],
      'slow#1': ['interrupted', 'completed'],
      'slow#2': ['cancelled'],
    });
    const controls = trace.events.filter((event) => event.type === 'control.applied');
    expect(controls.map((event) => [event.type === 'control.applied' && event.label, event.action])).toEqual([
      ['o3-mini', 'retry'],
      ['slow#1', 'interrupt'],
      ['slow#2', 'cancel'],
      ['slow#1', 'resume'],
    ]);
    await expect(sv.control(run.id, 'slow#1', 'cancel')).rejects.toThrow(/Run run-1 is completed/);
  });

  it('shows the worker actors to the inspection observer', async () => {
    const { open } = await world(() => ({ text: 'ok', usage: usage(1, 1) }));
    const seen: string[] = [];
    const sv = await open({
      inspect: (event) => {
        if (event.type === '@xstate.actor') seen.push((event.actorRef as unknown as { id: string }).id);
      },
    });
    const run = await sv.fanout({ prompt: 'p', targets: ['gpt-4o', 'o3-mini'] });
    await run.done;
    // The run's task, its fan-out step, and the step's two worker actors.
    expect(seen).toEqual(expect.arrayContaining([run.id, 'fanout', 'gpt-4o', 'o3-mini']));
  });

  it('reports the run, its workers, open requests and recent events in monitor()', async () => {
    const { open } = await world((call) =>
      call.model === 'slow' ? held() : { text: 'ok', usage: usage(1, 1) },
    );
    const sv = await open();
    const run = await sv.fanout({ prompt: 'p', targets: ['gpt-4o', 'slow'] });
    await until(
      async () => (await sv.get(run.id))?.workers?.find((w) => w.label === 'gpt-4o')?.state === 'completed',
    );
    const view = await sv.monitor(run.id, { events: 3 });
    expect(view.run.id).toBe(run.id);
    expect(view.workers.map((worker) => [worker.label, worker.state, worker.controls])).toEqual([
      ['gpt-4o', 'completed', []],
      ['slow', 'running', ['cancel', 'interrupt']],
    ]);
    expect(view.recentEvents).toHaveLength(3);
    expect(view.openRequests).toEqual([]);
    expect(view.updatedAt).toBeGreaterThanOrEqual(view.run.createdAt);
    await expect(sv.monitor(run.id, { events: -1 })).rejects.toThrow(/events must be a whole number/);
  });
});

describe('a fan-out across a restart', () => {
  it('keeps the finished workers and asks again only the one that was still running', async () => {
    const { open, calls } = await world((call) =>
      call.model === 'slow' ? held() : { text: `${call.model} says hi`, usage: usage(3, 2) },
    );
    const first = await open();
    const run = await first.fanout({ prompt: 'hi', targets: ['gpt-4o', 'slow'] });
    await until(
      async () =>
        (await first.get(run.id))?.workers?.find((w) => w.label === 'gpt-4o')?.state === 'completed',
    );
    await until(() => gates.length === 1);
    await first.close();

    const second: Supervisor = await open();
    await until(() => gates.length === 2);
    gates[1]!.open({ text: 'slow says hi', usage: usage(4, 4) });
    await until(async () => (await second.get(run.id))?.phase === 'completed');
    expect(calls.map((call) => call.model)).toEqual(['gpt-4o', 'slow', 'slow']);
    const view = (await second.get(run.id))!;
    const output = view.steps[0]!.output as { results: Array<{ label: string; text: string }> };
    expect(output.results.map((worker) => [worker.label, worker.text])).toEqual([
      ['gpt-4o', 'gpt-4o says hi'],
      ['slow', 'slow says hi'],
    ]);
    const trace = await second.trace(run.id);
    expect(workerEvents(trace.events)).toEqual([
      'gpt-4o: ∅ → queued',
      'slow: ∅ → queued',
      'gpt-4o: queued → running',
      'slow: queued → running',
      'gpt-4o: running → completed',
      'slow: running → queued',
      'slow: queued → running',
      'slow: running → completed',
    ]);
  });
});
