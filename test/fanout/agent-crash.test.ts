/**
 * A real SIGKILL in the middle of a fan-out to two agents and a model: the fast agent and the
 * model had answered, the other agent had asked a human and been answered, and was still
 * working. A fresh process resumes the run: finished workers are kept (neither the fast agent
 * nor the model is asked again); the agent whose attempt was lost waits `interrupted` (it may
 * have acted) until a human resumes it, then runs again and gets the journaled answer without
 * a new question.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor } from '../../src/index.js';
import type { TaskvisorEvent } from '../../src/model/events.js';
import { type OpenAiServer, startOpenAiServer } from '../support/openai-server.js';
import { runTs } from '../support/processes.js';

const WORKER = 'test/fanout/agent-crash-worker.ts';
let server: OpenAiServer | undefined;

afterEach(async () => {
  await server?.close();
});

describe('a fan-out to agents killed mid-run', () => {
  it('resumes with finished workers kept and the answered question not asked again', async () => {
    const modelCalls: string[] = [];
    server = await startOpenAiServer({
      handler: (body) => {
        modelCalls.push(String(body['model']));
        return { text: 'gpt-4o: 7', usage: { prompt_tokens: 20, completion_tokens: 5 } };
      },
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskvisor-agent-crash-'));
    const db = path.join(dir, 'runs.db');
    const lines = (agent: string) =>
      fs.existsSync(path.join(dir, `${agent}.log`))
        ? fs
            .readFileSync(path.join(dir, `${agent}.log`), 'utf8')
            .trim()
            .split('\n')
        : [];
    try {
      const completed = new Set<string>();
      let answered = false;
      let answering: Promise<void> | undefined;
      const first = runTs(WORKER, ['start', db, server.baseURL, dir], (line, child) => {
        const event = JSON.parse(line) as TaskvisorEvent;
        if (event.type === 'worker.transition' && event.to === 'completed') completed.add(event.label);
        if (event.type === 'request.opened') {
          // A human answers from another process.
          answering = (async () => {
            const client = await createSupervisor({ db, resume: false });
            try {
              await client.answer(event.requestId, { text: '11', by: 'ann' });
            } finally {
              await client.close();
            }
          })();
        }
        if (event.type === 'request.answered') answered = true;
        if (answered && completed.has('fast') && completed.has('gpt-4o') && lines('asker').length === 2) {
          child.kill('SIGKILL');
        }
      });
      const killed = await first.exited;
      await answering;
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      expect(lines('fast')).toEqual(['ran on Name a prime']);
      expect(lines('asker')).toEqual(['start attempt 1', 'answered 11']);
      expect(modelCalls).toEqual(['gpt-4o']);

      const resumedEvents: TaskvisorEvent[] = [];
      const second = await runTs(WORKER, ['resume', db, server.baseURL, dir], (line) => {
        resumedEvents.push(JSON.parse(line) as TaskvisorEvent);
      }).exited;
      expect(second.code, second.stderr).toBe(0);
      // Finished workers were kept: neither the fast agent nor the model was asked again.
      expect(lines('fast')).toEqual(['ran on Name a prime']);
      expect(modelCalls).toEqual(['gpt-4o']);
      // The lost agent attempt waited for a human, and ran again only once resumed.
      const asker = resumedEvents.filter(
        (event) => event.type === 'worker.transition' && event.label === 'asker',
      ) as Array<Extract<TaskvisorEvent, { type: 'worker.transition' }>>;
      expect(asker.map((event) => event.to).slice(0, 3)).toEqual(['interrupted', 'queued', 'running']);
      // The interrupted agent ran again and got the journaled answer without a new question.
      expect(lines('asker')).toEqual(['start attempt 1', 'answered 11', 'resume attempt 2', 'answered 11']);
      expect(resumedEvents.filter((event) => event.type === 'request.opened')).toEqual([]);

      const reader = await createSupervisor({ db, resume: false });
      try {
        const [view] = await reader.list();
        expect(view!.phase).toBe('completed');
        const output = view!.steps[0]!.output as { results: Array<{ label: string; text: string }> };
        expect(output.results.map((worker) => [worker.label, worker.text])).toEqual([
          ['fast', 'fast: 7'],
          ['asker', 'asker: 11'],
          ['gpt-4o', 'gpt-4o: 7'],
        ]);
        const workers = (await reader.trace(view!.id)).workers;
        expect(workers.map((worker) => [worker.label, worker.attempts.map((a) => a.outcome)])).toEqual([
          ['fast', ['completed']],
          ['asker', ['interrupted', 'completed']],
          ['gpt-4o', ['completed']],
        ]);
      } finally {
        await reader.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
