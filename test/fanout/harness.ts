/**
 * Shared set-up for the fan-out tests: the real `openai` client (through `createLlmClient`)
 * talking HTTP to the local OpenAI-compatible server, a manual clock, and recorders for
 * worker transitions and usage.
 */
import { ManualClock } from '../../src/clock.js';
import type { FanoutUsageReport } from '../../src/fanout/call-model.js';
import type { ModelTargetSpec } from '../../src/fanout/labels.js';
import type { FanoutDeps, WorkerTransition } from '../../src/fanout/run-fanout.js';
import { createLlmClient } from '../../src/llm/client.js';
import type { Prices } from '../../src/llm/prices.js';
import { type ScriptedResponse, startOpenAiServer } from '../support/openai-server.js';

/** One chat request as the test's router sees it. */
export interface ModelCall {
  readonly model: string;
  /** True for the reducer's requests (its system prompt), false for workers'. */
  readonly reducer: boolean;
  /** 1-based count of requests for this model of this kind (worker or reducer) so far. */
  readonly n: number;
  readonly messages: Array<{ role: string; content: string }>;
}

export type Router = (call: ModelCall) => ScriptedResponse | Promise<ScriptedResponse>;

export const PRICES: Prices = {
  'gpt-4o': { inputPer1M: 2.5, outputPer1M: 10 },
  'o3-mini': { inputPer1M: 1.1, outputPer1M: 4.4 },
};

export async function startFanoutWorld(router: Router) {
  const counts = new Map<string, number>();
  const calls: ModelCall[] = [];
  const server = await startOpenAiServer({
    handler: (body) => {
      const model = String(body['model']);
      const messages = (body['messages'] ?? []) as ModelCall['messages'];
      const reducer = messages[0]?.role === 'system' && messages[0].content.startsWith('You review answers');
      const key = `${reducer ? 'reduce' : 'work'}:${model}`;
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      const call = { model, reducer, n, messages };
      calls.push(call);
      return router(call);
    },
  });
  const clock = new ManualClock(1_000);
  const transitions: WorkerTransition[] = [];
  const usage: FanoutUsageReport[] = [];
  const clientsMade: string[] = [];
  const deps = (extra: Partial<FanoutDeps> = {}): FanoutDeps => ({
    clientFor: (target: ModelTargetSpec) => {
      clientsMade.push(target.label ?? target.model);
      return createLlmClient({
        baseURL: target.baseURL ?? server.baseURL,
        apiKey: target.apiKey ?? 'test-key',
        model: target.model,
        clock,
        random: () => 0.5,
        env: {},
        maxRetries: 0,
      });
    },
    clock,
    prices: PRICES,
    onWorkerTransition: (transition) => transitions.push(transition),
    onUsage: (report) => usage.push(report),
    ...extra,
  });
  /** `label: from → to` lines, in order. */
  const log = () =>
    transitions.map(
      (t) => `${t.label}: ${t.from ?? '∅'} → ${t.to}${t.attempt > 0 ? ` (attempt ${t.attempt})` : ''}`,
    );
  return { server, clock, calls, transitions, usage, clientsMade, deps, log };
}

/** A successful answer with fixed usage. */
export function reply(text: string, prompt_tokens: number, completion_tokens: number): ScriptedResponse {
  return { text, usage: { prompt_tokens, completion_tokens } };
}

/** Sums usage reports into the totals a fan-out must return. */
export function sumReports(reports: readonly FanoutUsageReport[]) {
  const sum = reports.reduce(
    (total, r) => ({
      inputTokens: total.inputTokens + r.inputTokens,
      outputTokens: total.outputTokens + r.outputTokens,
      costUsd: total.costUsd + r.costUsd,
    }),
    { inputTokens: 0, outputTokens: 0, costUsd: 0 },
  );
  return { ...sum, costUsd: Math.round(sum.costUsd * 1e9) / 1e9 };
}
