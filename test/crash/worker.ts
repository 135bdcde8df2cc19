/**
 * A worker process for the crash tests:
 * `node --import tsx worker.ts <start|resume> <db> <effects file> [run id prefix]`.
 *
 * `start` starts the test runs; `resume` drives the unfinished runs it finds. Either way
 * it acts as the human too (confirms steps, answers questions), prints every committed
 * event's seq on stdout, logs every side effect to the effects file, and exits 0 when no
 * run it drives is unfinished. The parent kills it with SIGKILL wherever it likes.
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { createSupervisor } from '../../src/index.js';
import type { ActionFunction, PlanInput } from '../../src/index.js';
import { isTerminalPhase } from '../../src/model/states.js';

const [mode, db, effectsFile, prefix = 'run'] = process.argv.slice(2);
if ((mode !== 'start' && mode !== 'resume') || !db || !effectsFile) {
  console.error('usage: worker.ts <start|resume> <db> <effects file>');
  process.exit(2);
}

/** Records a side effect (an append to a file: it survives the SIGKILL). */
function effect(kind: string, runId: string, stepId: string, attempt: number): void {
  appendFileSync(effectsFile!, `${kind} ${runId} ${stepId} ${attempt} ${process.pid}\n`);
}

/** Outputs depend only on the step and its inputs, so every run's final view is the same. */
const work =
  (kind: 'effect' | 'read'): ActionFunction =>
  async (input, ctx) => {
    effect(kind, ctx.runId, ctx.stepId, ctx.attempt);
    await delay(Number(input.ms ?? 3), undefined, { signal: ctx.signal });
    return { output: `${ctx.stepId}(${String(input.v ?? '')})` };
  };

const actions: Record<string, ActionFunction> = {
  effect: work('effect'),
  read: work('read'),
  // Asks a human, then acts on the answer (the answer is journaled across crashes).
  decide: async (input, ctx) => {
    const answer = await ctx.ask({
      key: 'go',
      question: 'Go ahead?',
      options: [
        { id: 'yes', label: 'Yes' },
        { id: 'no', label: 'No' },
      ],
    });
    effect('effect', ctx.runId, ctx.stepId, ctx.attempt);
    await delay(2, undefined, { signal: ctx.signal });
    return { output: `${ctx.stepId}:${answer.optionId}(${String(input.v ?? '')})` };
  },
};

const effectStep = (id: string, dependsOn: string[] = [], extra: Record<string, unknown> = {}) => ({
  id,
  dependsOn,
  action: { kind: 'effect', v: dependsOn.map((dep) => `{{steps.${dep}.output}}`).join('+'), ...extra },
});
const readStep = (id: string, dependsOn: string[] = []) => ({
  id,
  dependsOn,
  idempotent: true,
  action: { kind: 'read', v: dependsOn.map((dep) => `{{steps.${dep}.output}}`).join('+') },
});

export const PLANS: Array<{ goal: string; plan: PlanInput }> = [
  {
    goal: 'mixed',
    plan: {
      steps: [
        { id: 'seed', action: { kind: 'note', output: 'seed' } },
        effectStep('left', ['seed']),
        effectStep('right', ['seed']),
        readStep('join', ['left', 'right']),
        { ...effectStep('danger', ['join']), tier: 'destructive' },
        { id: 'ask', dependsOn: ['danger'], action: { kind: 'decide', v: '{{steps.danger.output}}' } },
        effectStep('after', ['ask']),
        {
          id: 'summary',
          dependsOn: ['after'],
          action: { kind: 'note', output: 'done: {{steps.after.output}}' },
        },
      ],
    },
  },
  {
    goal: 'chain',
    plan: {
      steps: [
        effectStep('c1'),
        effectStep('c2', ['c1']),
        effectStep('c3', ['c2']),
        effectStep('c4', ['c3']),
        effectStep('c5', ['c4']),
        effectStep('c6', ['c5']),
      ],
    },
  },
  {
    goal: 'fan-in',
    plan: {
      steps: [
        readStep('r1'),
        readStep('r2'),
        readStep('r3'),
        readStep('r4'),
        effectStep('all', ['r1', 'r2', 'r3', 'r4']),
        readStep('check', ['all']),
      ],
    },
  },
];

let next = 0;
const sv = await createSupervisor({
  db,
  actions,
  resume: mode === 'resume',
  pollMs: 20,
  concurrency: { runs: 3, stepsPerRun: 2 },
  ids: { run: () => `${prefix}-${++next}` },
  leaseMs: Number(process.env.TASKVISOR_TEST_LEASE_MS ?? 30_000),
});

const handled = new Set<string>();
/** The human: confirms what waits for confirmation, answers what is asked. */
async function actAsHuman(): Promise<void> {
  const pending = await sv.pending();
  for (const confirmation of pending.confirmations) {
    const key = `c ${confirmation.runId} ${confirmation.stepId} ${confirmation.reason}`;
    if (handled.has(key)) continue;
    handled.add(key);
    await sv
      .confirmStep(confirmation.runId, confirmation.stepId, { approved: true, by: 'harness' })
      .catch(() => handled.delete(key));
  }
  for (const request of pending.requests) {
    const key = `r ${request.requestId}`;
    if (handled.has(key)) continue;
    handled.add(key);
    await sv.answer(request.requestId, { optionId: 'yes', by: 'harness' }).catch(() => handled.delete(key));
  }
}

let acting = Promise.resolve();
sv.events$.subscribe((event) => {
  process.stdout.write(`${event.seq}\n`);
  if (event.type === 'approval.requested' || event.type === 'request.opened') {
    acting = acting.then(actAsHuman);
  }
});

if (mode === 'start') {
  await Promise.all(PLANS.map(({ goal, plan }) => sv.start({ goal, plan })));
}
await actAsHuman();

// Wait until every run this process can see is finished.
for (;;) {
  const open = (await sv.list()).filter((run) => !isTerminalPhase(run.phase));
  if (open.length === 0) break;
  await actAsHuman();
  await delay(20);
}
await sv.close();
process.exit(0);
