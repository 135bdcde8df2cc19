/**
 * How `v1.db` was made — run once, by the taskvisor before the store-ports rework (commit
 * 82490d9), and kept to show what the file holds; the suite never runs it:
 *
 *   node --import tsx test/golden/make-golden.ts start <dir>   # SIGKILLed by `make` below
 *   node --import tsx test/golden/make-golden.ts make <dir>
 *
 * `make` runs `start` in a child, SIGKILLs it once every run is where it should be, then
 * opens the database again without resuming, resumes only `golden-confirm` (so its
 * interrupted step asks for confirmation) and closes cleanly. The file then holds five
 * unfinished runs:
 * - `golden-approval`: awaiting approval of its plan;
 * - `golden-confirm`: a non-idempotent step interrupted by the crash, awaiting confirmation;
 * - `golden-question`: a step waiting for the answer to an open question;
 * - `golden-retry`: a step in retry backoff (one hour, a deadline in the file);
 * - `golden-crashed`: an idempotent step still `running`, as the crash left it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSupervisor } from '../../src/index.js';
import type { ActionFunction, PlanInput } from '../../src/index.js';

const [mode, dir] = process.argv.slice(2);
if ((mode !== 'start' && mode !== 'make') || !dir) {
  console.error('usage: make-golden.ts <start|make> <dir>');
  process.exit(2);
}
const db = path.join(dir, 'v1.db');

/** Steps that hang until aborted, so the crash finds them running. */
const hang: ActionFunction = (_input, ctx) =>
  new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));

const actions: Record<string, ActionFunction> = {
  effect: hang,
  read: hang,
  decide: async (_input, ctx) => {
    const answer = await ctx.ask({
      key: 'go',
      question: 'Ship it?',
      options: [
        { id: 'yes', label: 'Yes' },
        { id: 'no', label: 'No' },
      ],
    });
    return { output: `decided ${answer.optionId}` };
  },
  flaky: async (_input, ctx) => {
    if (ctx.attempt === 1) throw new Error('first attempt fails');
    return { output: `worked on attempt ${ctx.attempt}` };
  },
};

const RUNS: Array<{ id: string; requireApproval?: boolean; plan: PlanInput }> = [
  {
    id: 'golden-approval',
    requireApproval: true,
    plan: {
      goal: 'Approve me',
      steps: [
        { id: 'hello', action: { kind: 'note', output: 'hello' } },
        {
          id: 'world',
          dependsOn: ['hello'],
          action: { kind: 'note', output: '{{steps.hello.output}} world' },
        },
      ],
    },
  },
  {
    id: 'golden-confirm',
    plan: {
      goal: 'Confirm the interrupted step',
      steps: [
        { id: 'seed', action: { kind: 'note', output: 'seed' } },
        { id: 'write', dependsOn: ['seed'], action: { kind: 'effect', v: '{{steps.seed.output}}' } },
        {
          id: 'after',
          dependsOn: ['write'],
          action: { kind: 'note', output: 'after {{steps.write.output}}' },
        },
      ],
    },
  },
  {
    id: 'golden-question',
    plan: {
      goal: 'Answer the question',
      steps: [
        { id: 'ask', action: { kind: 'decide' } },
        { id: 'then', dependsOn: ['ask'], action: { kind: 'note', output: 'then {{steps.ask.output}}' } },
      ],
    },
  },
  {
    id: 'golden-retry',
    plan: {
      goal: 'Retry after the backoff',
      steps: [{ id: 'flaky', retry: { maxAttempts: 3, backoffMs: 3_600_000 }, action: { kind: 'flaky' } }],
    },
  },
  {
    id: 'golden-crashed',
    plan: {
      goal: 'Re-run the idempotent step',
      steps: [
        { id: 'look', idempotent: true, action: { kind: 'read', v: 'x' } },
        { id: 'done', dependsOn: ['look'], action: { kind: 'note', output: 'saw {{steps.look.output}}' } },
      ],
    },
  },
];

if (mode === 'start') {
  const ids = RUNS.map((run) => run.id);
  const sv = await createSupervisor({
    db,
    actions,
    concurrency: { runs: RUNS.length },
    ids: { run: () => ids.shift()! },
  });
  for (const run of RUNS)
    await sv.start({ goal: run.plan.goal!, plan: run.plan, requireApproval: run.requireApproval ?? false });
  const where = async () => {
    const state = (runId: string, stepId: string) =>
      sv.get(runId).then((view) => view?.steps.find((step) => step.id === stepId)?.state);
    return [
      (await sv.get('golden-approval'))?.phase === 'awaitingApproval',
      (await state('golden-confirm', 'write')) === 'running',
      (await state('golden-question', 'ask')) === 'awaitingInput',
      (await state('golden-retry', 'flaky')) === 'retrying',
      (await state('golden-crashed', 'look')) === 'running',
    ].every(Boolean);
  };
  while (!(await where())) await new Promise((resolve) => setTimeout(resolve, 10));
  console.log('ready');
  setInterval(() => {}, 60_000); // the parent SIGKILLs this process
} else {
  if (existsSync(dir)) rmSync(dir, { recursive: true });
  mkdirSync(dir, { recursive: true });
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'start', dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    }),
  );
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('exit', resolve));
  // The crash leaves its WAL beside the file; the next open folds it in.
  const sv = await createSupervisor({ db, actions, resume: false });
  await sv.resume('golden-confirm');
  while ((await sv.get('golden-confirm'))?.steps[1]?.state !== 'awaitingConfirmation')
    await new Promise((resolve) => setTimeout(resolve, 10));
  await sv.close();
  console.log(`wrote ${db}`);
}
