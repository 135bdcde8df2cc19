/**
 * A worker process for the agent fan-out crash test:
 * `node --import tsx agent-crash-worker.ts <start|resume> <db> <baseURL> <dir>`.
 *
 * A fan-out to two function agents and a model. `fast` answers at once; `asker` asks a human
 * a question and, in the first process, never finishes after the answer (the parent kills the
 * process with SIGKILL there). On resume, `asker`'s lost attempt waits `interrupted` (an agent may
 * have acted) and this process resumes it as a human would. Each agent call appends a line to `<dir>/<agent>.log`. Prints
 * each committed event as a JSON line and exits 0 once the run has ended.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createSupervisor } from '../../src/index.js';
import { isTerminalPhase } from '../../src/model/states.js';

const [mode, db, baseURL, dir] = process.argv.slice(2);
if ((mode !== 'start' && mode !== 'resume') || !db || !baseURL || !dir) {
  console.error('usage: agent-crash-worker.ts <start|resume> <db> <baseURL> <dir>');
  process.exit(2);
}
const note = (agent: string, line: string) => fs.appendFileSync(path.join(dir, `${agent}.log`), `${line}\n`);

const sv = await createSupervisor({
  db,
  llm: { baseURL, apiKey: 'test', model: 'gpt-4o', maxRetries: 0 },
  resume: mode === 'resume',
  agents: [
    {
      name: 'fast',
      kind: 'function',
      run: (spec) => {
        note('fast', `ran on ${spec}`);
        return { output: 'fast: 7' };
      },
    },
    {
      name: 'asker',
      kind: 'function',
      run: async (_spec, ctx) => {
        note('asker', `${mode} attempt ${ctx.attempt}`);
        const reply = await ctx.ask({ key: 'prime', question: 'Which prime?' });
        note('asker', `answered ${reply.text}`);
        if (mode === 'start') await new Promise(() => {});
        return { output: `asker: ${reply.text}` };
      },
    },
  ],
});
sv.events$.subscribe((event) => {
  console.log(JSON.stringify(event));
  // An agent's attempt lost in the crash waits for a human: here the human resumes it.
  if (event.type === 'worker.transition' && event.to === 'interrupted' && event.label === 'asker') {
    void sv.control(event.runId, 'asker', 'resume', { by: 'ann' });
  }
  if (event.type === 'run.transition' && isTerminalPhase(event.to)) {
    void sv.close().then(() => process.exit(0));
  }
});
if (mode === 'start') {
  await sv.fanout({ prompt: 'Name a prime', targets: [{ agent: 'fast' }, { agent: 'asker' }, 'gpt-4o'] });
}
