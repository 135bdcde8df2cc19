/**
 * A worker for the crash-loop test:
 * `node --import tsx exit-worker.ts <start|resume> <db> <attempts file> <idempotent|effect>`.
 *
 * Its one step's action appends its attempt to the attempts file and then ends the whole
 * process with `process.exit(3)`, as a crashing dependency would (unless the attempts file
 * holds a line `behave`: then it returns). `start` starts the run; `resume` drives what it
 * finds. When nothing runs any more (every run ended, or waits for a human) the worker prints
 * the run's view as JSON and exits 0.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { createSupervisor } from '../../src/index.js';
import type { ActionFunction, PlanInput } from '../../src/index.js';
import { isTerminalPhase } from '../../src/model/states.js';

const [mode, db, attemptsFile, flavour] = process.argv.slice(2);
if ((mode !== 'start' && mode !== 'resume') || !db || !attemptsFile || !flavour) {
  console.error('usage: exit-worker.ts <start|resume> <db> <attempts file> <idempotent|effect>');
  process.exit(2);
}

const exitsTheProcess: ActionFunction = async (_input, ctx) => {
  appendFileSync(attemptsFile, `attempt ${ctx.attempt}\n`);
  if (readFileSync(attemptsFile, 'utf8').includes('behave'))
    return { output: `ran on attempt ${ctx.attempt}` };
  process.exit(3);
};

export const PLAN: PlanInput = {
  steps: [
    {
      id: 'boom',
      title: 'Calls process.exit',
      ...(flavour === 'idempotent' ? { idempotent: true } : {}),
      retry: { maxAttempts: 3, backoffMs: 0 },
      action: { kind: 'exit' },
    },
    { id: 'after', dependsOn: ['boom'], action: { kind: 'note', output: 'after {{steps.boom.output}}' } },
  ],
};

const sv = await createSupervisor({
  db,
  actions: { exit: exitsTheProcess },
  resume: mode === 'resume',
  pollMs: 20,
  ids: { run: () => 'loop' },
});
if (mode === 'start') await sv.start({ goal: 'crash loop', plan: PLAN });

// Until nothing runs: every run ended, or waits for a human.
for (;;) {
  const runs = await sv.list();
  const busy = runs.filter(
    (run) => !isTerminalPhase(run.phase) && !run.steps.some((step) => step.state === 'awaitingConfirmation'),
  );
  if (busy.length === 0) {
    process.stdout.write(`${JSON.stringify(runs[0])}\n`);
    break;
  }
  await delay(10);
}
await sv.close();
process.exit(0);
