/**
 * A worker process for the model crash test:
 * `node --import tsx model-worker.ts <start|resume> <db> <baseURL>`.
 *
 * `start` asks the model to plan a goal and runs the plan (a fan-out, then a research step);
 * `resume` drives the unfinished run. Either way it prints each committed event as a JSON
 * line and exits 0 once the run has ended. The parent kills it with SIGKILL mid fan-out.
 */
import { createSupervisor } from '../../src/index.js';
import { isTerminalPhase } from '../../src/model/states.js';

const [mode, db, baseURL] = process.argv.slice(2);
if ((mode !== 'start' && mode !== 'resume') || !db || !baseURL) {
  console.error('usage: model-worker.ts <start|resume> <db> <baseURL>');
  process.exit(2);
}

const sv = await createSupervisor({
  db,
  llm: { baseURL, apiKey: 'test', model: 'gpt-4o', maxRetries: 0 },
  prices: { 'gpt-4o': { inputPer1M: 2.5, outputPer1M: 10 }, slow: { inputPer1M: 1, outputPer1M: 2 } },
  resume: mode === 'resume',
});
sv.events$.subscribe((event) => {
  console.log(JSON.stringify(event));
  if (event.type === 'run.transition' && isTerminalPhase(event.to)) {
    void sv.close().then(() => process.exit(0));
  }
});
if (mode === 'start') await sv.start({ goal: 'Compare two answers and sum them up', requireApproval: false });
