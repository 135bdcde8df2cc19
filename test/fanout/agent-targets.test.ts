/**
 * Agents as fan-out targets: `{ agent, label? }` beside model targets, through `sv.fanout()`
 * with the real `openai` client against the local server. A function agent (reporting its
 * usage, asking a human mid-run), an LLM persona (metered like any call) and a CLI agent (pid
 * logged, stdout/stderr kept as artifacts, SIGINT to its process group on interrupt, killed
 * on cancel).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentOption } from '../../src/actions/agents.js';
import type { SupervisorOptions } from '../../src/supervisor.js';
import { type OpenAiServer, startOpenAiServer } from '../support/openai-server.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

const harness = useSupervisorHarness();
let server: OpenAiServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

const usage = (prompt_tokens: number, completion_tokens: number) => ({ prompt_tokens, completion_tokens });
const prices = { 'gpt-4o': { inputPer1M: 2.5, outputPer1M: 10 } };

async function open(agents: AgentOption[], extra: Partial<SupervisorOptions> = {}) {
  server = await startOpenAiServer({
    handler: (body) => {
      const messages = (body['messages'] ?? []) as Array<{ role: string; content: string }>;
      const system = messages[0]?.role === 'system' ? messages[0].content : '';
      if (system.startsWith('You review answers')) {
        return {
          text: JSON.stringify({ winner_label: 'coder', rationale: 'it wrote code' }),
          usage: usage(300, 20),
        };
      }
      if (system === 'You are a terse reviewer.') return { text: 'persona says 7', usage: usage(40, 4) };
      return { text: `${String(body['model'])} says 7`, usage: usage(20, 5) };
    },
  });
  return harness.open({
    db: harness.dbPath(),
    llm: { baseURL: server.baseURL, apiKey: 'test', model: 'gpt-4o', maxRetries: 0 },
    prices,
    ids: sequentialIds(),
    agents,
    ...extra,
  });
}

describe('agents as fan-out targets', () => {
  it('fans out to a function agent, an LLM persona and a model: results in target order, usage where reported', async () => {
    const specs: string[] = [];
    const sv = await open([
      {
        name: 'coder',
        kind: 'function',
        run: (spec) => {
          specs.push(spec);
          return {
            output: 'def seven(): return 7',
            usage: { inputTokens: 11, outputTokens: 7, costUsd: 0.001 },
          };
        },
      },
      { name: 'critic', kind: 'llm', system: 'You are a terse reviewer.' },
    ]);
    const run = await sv.fanout({
      prompt: 'Name a prime',
      targets: [{ agent: 'coder' }, { agent: 'critic', label: 'persona' }, 'gpt-4o'],
      reduce: { mode: 'best_of_n' },
    });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(specs).toEqual(['Name a prime']);
    const output = result.outputs['fanout'] as {
      results: Array<{
        label: string;
        model: string;
        state: string;
        text: string;
        usage: unknown;
        costUsd: number;
      }>;
      reduction: { verdict: unknown; model: string };
      totals: { inputTokens: number; outputTokens: number; costUsd: number };
    };
    expect(output.results.map((worker) => [worker.label, worker.model, worker.state, worker.text])).toEqual([
      ['coder', 'agent:coder', 'completed', 'def seven(): return 7'],
      ['persona', 'agent:critic', 'completed', 'persona says 7'],
      ['gpt-4o', 'gpt-4o', 'completed', 'gpt-4o says 7'],
    ]);
    expect([output.results[0]!.usage, output.results[0]!.costUsd]).toEqual([
      { inputTokens: 11, outputTokens: 7 },
      0.001,
    ]);
    // The persona's call is priced by its model (the supervisor's).
    expect([output.results[1]!.usage, output.results[1]!.costUsd]).toEqual([
      { inputTokens: 40, outputTokens: 4 },
      (40 * 2.5 + 4 * 10) / 1e6,
    ]);
    // The first target is an agent: the first model target reduces.
    expect(output.reduction).toMatchObject({ model: 'gpt-4o', verdict: { winner_label: 'coder' } });
    expect(output.totals.inputTokens).toBe(11 + 40 + 20 + 300);
    expect((await sv.trace(run.id)).workers.map((worker) => worker.label)).toEqual([
      'coder',
      'persona',
      'gpt-4o',
    ]);
  });

  it('lets a function agent ask a human mid-run; answer() continues it', async () => {
    const sv = await open([
      {
        name: 'asker',
        kind: 'function',
        run: async (spec, ctx) => {
          const reply = await ctx.ask({ key: 'which', question: `Which prime for "${spec}"?` });
          return { output: `the human said ${reply.text}` };
        },
      },
    ]);
    const run = await sv.fanout({ prompt: 'Name a prime', targets: [{ agent: 'asker' }, 'gpt-4o'] });
    await until(async () => (await sv.pending()).requests.length === 1, { what: 'the question' });
    const [request] = (await sv.pending()).requests;
    expect(request).toMatchObject({
      runId: run.id,
      stepId: 'fanout',
      question: 'Which prime for "Name a prime"?',
    });
    await sv.answer(request!.requestId, { text: '11', by: 'ann' });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    const output = result.outputs['fanout'] as { results: Array<{ label: string; text: string }> };
    expect(output.results.map((worker) => worker.text)).toEqual(['the human said 11', 'gpt-4o says 7']);
  });

  it('refuses an unknown agent target when the fan-out starts, naming the registered ones', async () => {
    const sv = await open([{ name: 'coder', kind: 'function', run: () => ({ output: 1 }) }]);
    await expect(sv.fanout({ prompt: 'x', targets: [{ agent: 'codr' }] })).rejects.toThrow(
      /fans out to agent "codr", which is not registered \(did you mean "coder"\?\); registered agents: "coder"/,
    );
  });

  it('runs a CLI agent: pid logged, stdout and stderr kept, SIGINT to its group on interrupt, killed on cancel', async () => {
    const cwd = harness.tempDir();
    const script = [
      'echo "working on $1"',
      'echo "a note" >&2',
      'trap \'echo "got SIGINT" > interrupted.txt; exit 130\' INT',
      'while :; do sleep 0.02; done',
    ].join('\n');
    const quick = 'echo "answer: $1"; echo note >&2';
    const sv = await open(
      [
        { name: 'shellbot', kind: 'cli', command: 'sh', args: ['-c', script, 'sh', '{spec}'] },
        { name: 'quick', kind: 'cli', command: 'sh', args: ['-c', quick, 'sh', '{spec}'] },
      ],
      {
        sandbox: { allow: ['sh'], cwd, isolation: 'none' },
      },
    );
    const run = await sv.fanout({
      prompt: 'Name a prime',
      targets: [{ agent: 'shellbot' }, { agent: 'quick' }],
    });
    const pidOf = async (nth: number) => {
      let pid: number | undefined;
      await until(
        async () => {
          const logs = (await sv.trace(run.id)).events.flatMap((event) =>
            event.type === 'step.log' &&
            /worker shellbot: agent shellbot started sh \(pid \d+\)/.test(event.message)
              ? [event]
              : [],
          );
          pid = (logs[nth]?.data as { pid?: number } | undefined)?.pid;
          return pid !== undefined;
        },
        { what: `CLI agent start ${nth + 1}` },
      );
      return pid!;
    };
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const first = await pidOf(0);
    await sv.control(run.id, 'shellbot', 'interrupt');
    await until(() => fs.existsSync(path.join(cwd, 'interrupted.txt')), { what: 'SIGINT in the agent' });
    await until(() => !alive(first), { what: 'the interrupted agent to exit' });

    await sv.control(run.id, 'shellbot', 'resume');
    const second = await pidOf(1);
    await sv.control(run.id, 'shellbot', 'cancel');
    await until(() => !alive(second), { what: 'the cancelled agent to be killed' });
    expect(fs.readFileSync(path.join(cwd, 'interrupted.txt'), 'utf8')).toBe('got SIGINT\n'); // not SIGINT again

    // Both workers settled (the quick agent answered): the fan-out ends.
    const result = await run.done;
    expect(result.phase).toBe('completed');
    const output = result.outputs['fanout'] as {
      results: Array<{ label: string; state: string; text?: string }>;
    };
    expect(output.results.map((worker) => [worker.label, worker.state, worker.text])).toEqual([
      ['shellbot', 'cancelled', undefined],
      ['quick', 'completed', 'answer: Name a prime\n'],
    ]);
    const trace = await sv.trace(run.id);
    const artifacts = trace.artifacts.filter((artifact) => artifact.kind === 'fanout-agent');
    expect(artifacts.map((artifact) => artifact.name).sort()).toEqual([
      'quick attempt 1',
      'shellbot attempt 1',
      'shellbot attempt 2',
    ]);
    const body = (name: string) => artifacts.find((artifact) => artifact.name === name)!.body;
    expect(body('shellbot attempt 1')).toMatchObject({
      pid: first,
      exitCode: 130,
      stdout: 'working on Name a prime\n',
      stderr: 'a note\n',
    });
    expect(body('shellbot attempt 2')).toMatchObject({ pid: second, signal: 'SIGKILL' });
    expect(body('quick attempt 1')).toMatchObject({
      exitCode: 0,
      stdout: 'answer: Name a prime\n',
      stderr: 'note\n',
    });
    const worker = trace.workers.find((w) => w.label === 'shellbot')!;
    expect(worker.attempts.map((attempt) => attempt.outcome)).toEqual(['interrupted', 'cancelled']);
  });
});
