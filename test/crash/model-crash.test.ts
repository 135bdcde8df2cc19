/**
 * A real SIGKILL in the middle of a model-planned run: the plan was written and one fan-out
 * worker had answered when the process died. A fresh process resumes the run: the model is
 * not asked to plan again, the finished worker is not asked again, only the interrupted one
 * is, and the run completes with usage equal to every answered call.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor } from '../../src/index.js';
import type { TaskvisorEvent } from '../../src/model/events.js';
import { createGate } from '../support/gate.js';
import { type OpenAiServer, type ScriptedResponse, startOpenAiServer } from '../support/openai-server.js';
import { runTs } from '../support/processes.js';

const WORKER = 'test/crash/model-worker.ts';
let server: OpenAiServer | undefined;
const hung = createGate<ScriptedResponse>();

afterEach(async () => {
  if (!hung.opened) hung.open({ text: 'too late', usage: { prompt_tokens: 1, completion_tokens: 1 } });
  await server?.close();
});

type Kind = 'plan' | 'worker gpt-4o' | 'worker slow' | 'reduce' | 'research';

describe('a model-planned run killed mid fan-out', () => {
  it('resumes without planning again or asking a finished worker again', async () => {
    const calls: Kind[] = [];
    // Killed once the fast worker's answer is committed and the slow one is waiting, whichever
    // of the two the test sees last.
    let sawWorkerDone = false;
    let kill = () => {};
    const maybeKill = () => {
      if (sawWorkerDone && calls.includes('worker slow')) kill();
    };
    const answered: Array<{ model: string; prompt: number; completion: number }> = [];
    const answer = (model: string, text: string, prompt: number, completion: number): ScriptedResponse => {
      answered.push({ model, prompt, completion });
      return { text, usage: { prompt_tokens: prompt, completion_tokens: completion } };
    };
    server = await startOpenAiServer({
      handler: (body) => {
        const messages = body['messages'] as Array<{ role: string; content: string }>;
        const system = messages[0]?.role === 'system' ? messages[0].content : '';
        const model = String(body['model']);
        if (system.startsWith('You are the planner')) {
          calls.push('plan');
          return answer(
            model,
            JSON.stringify({
              steps: [
                {
                  id: 'ask',
                  title: 'Ask two models',
                  action: { kind: 'fanout', prompt: 'Name a prime', targets: ['gpt-4o', 'slow'] },
                },
                {
                  id: 'sum',
                  title: 'Sum up',
                  dependsOn: ['ask'],
                  action: { kind: 'research', query: 'Sum up: {{steps.ask.output}}' },
                },
              ],
            }),
            300,
            80,
          );
        }
        if (system.startsWith('You are the research step')) {
          calls.push('research');
          return answer(model, 'both said a prime', 120, 10);
        }
        calls.push(`worker ${model}` as Kind);
        if (model === 'slow' && calls.filter((kind) => kind === 'worker slow').length === 1) {
          maybeKill();
          return hung.promise;
        }
        return answer(model, `${model}: 7`, 20, 5);
      },
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskvisor-model-crash-'));
    const db = path.join(dir, 'runs.db');
    try {
      const first = runTs(WORKER, ['start', db, server.baseURL], (line) => {
        const event = JSON.parse(line) as TaskvisorEvent;
        if (event.type === 'worker.transition' && event.label === 'gpt-4o' && event.to === 'completed') {
          sawWorkerDone = true;
          maybeKill();
        }
      });
      kill = () => first.process.kill('SIGKILL');
      const killed = await first.exited;
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      expect(calls).toEqual(['plan', 'worker gpt-4o', 'worker slow']);

      const second = await runTs(WORKER, ['resume', db, server.baseURL]).exited;
      expect(second.code, second.stderr).toBe(0);
      expect(calls).toEqual(['plan', 'worker gpt-4o', 'worker slow', 'worker slow', 'research']);

      const reader = await createSupervisor({ db, resume: false });
      try {
        const [view] = await reader.list();
        expect(view!.phase).toBe('completed');
        const output = view!.steps.find((step) => step.id === 'ask')!.output as {
          results: Array<{ label: string; text: string }>;
        };
        expect(output.results.map((worker) => [worker.label, worker.text])).toEqual([
          ['gpt-4o', 'gpt-4o: 7'],
          ['slow', 'slow: 7'],
        ]);
        const sum = (pick: (call: { prompt: number; completion: number }) => number) =>
          answered.reduce((total, call) => total + pick(call), 0);
        expect(view!.usage.inputTokens).toBe(sum((call) => call.prompt));
        expect(view!.usage.outputTokens).toBe(sum((call) => call.completion));
        const events = (await reader.trace(view!.id)).events;
        expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => events[0]!.seq + index));
        expect(events.filter((event) => event.type === 'plan.created')).toHaveLength(1);
        const slow = (await reader.trace(view!.id)).workers.find((worker) => worker.label === 'slow')!;
        expect(slow.attempts.map((attempt) => attempt.outcome)).toEqual(['interrupted', 'completed']);
      } finally {
        await reader.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
