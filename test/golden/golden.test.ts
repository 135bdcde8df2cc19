/**
 * The golden database: `v1.db` was written by the taskvisor before the store-ports rework
 * (see make-golden.ts) and holds five unfinished runs. Every later version must open a copy
 * of it and drive every run to the end: a change of a snapshot's shape bumps
 * MACHINE_VERSION with a migration, so this keeps passing. Never regenerate the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { ActionFunction } from '../../src/index.js';
import { useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

const GOLDEN = fileURLToPath(new URL('./v1.db', import.meta.url));
const harness = useSupervisorHarness();

/** The kinds the golden runs use, as a later version of the embedding app would register them. */
const actions: Record<string, ActionFunction> = {
  effect: async (input, ctx) => ({ output: `wrote ${String(input.v)} on attempt ${ctx.attempt}` }),
  read: async (input) => ({ output: `read ${String(input.v)}` }),
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

describe('the golden database (written by the version before the store ports)', () => {
  it('opens with the current code and drives every unfinished run to the end', async () => {
    const db = path.join(harness.tempDir(), 'golden.db');
    fs.copyFileSync(GOLDEN, db);

    // Time as the file knows it: a minute after the runs were created, inside the retry's
    // one-hour backoff.
    const peek = await harness.open({ db, actions, resume: false });
    const views = await peek.list();
    expect(views.map((run) => [run.id, run.phase]).sort()).toEqual([
      ['golden-approval', 'awaitingApproval'],
      ['golden-confirm', 'running'],
      ['golden-crashed', 'running'],
      ['golden-question', 'running'],
      ['golden-retry', 'running'],
    ]);
    const createdAt = Math.max(...views.map((run) => run.createdAt));
    await peek.close();

    const clock = new ManualClock(createdAt + 60_000);
    const sv = await harness.open({ db, actions, clock });
    const step = async (runId: string, stepId: string) =>
      (await sv.get(runId))?.steps.find((candidate) => candidate.id === stepId);

    // The interrupted non-idempotent step waits for a human; the idempotent one re-runs.
    expect(await step('golden-confirm', 'write')).toMatchObject({
      state: 'awaitingConfirmation',
      reason: 'interrupted',
    });
    await until(async () => (await sv.get('golden-crashed'))?.phase === 'completed');

    const pending = await sv.pending();
    expect(pending.approvals.map((approval) => approval.runId)).toEqual(['golden-approval']);
    // A non-idempotent step the crash found waiting for an answer asks first too.
    expect(
      pending.confirmations.map((confirmation) => [confirmation.runId, confirmation.stepId]).sort(),
    ).toEqual([
      ['golden-confirm', 'write'],
      ['golden-question', 'ask'],
    ]);
    expect(pending.requests.map((request) => [request.runId, request.question])).toEqual([
      ['golden-question', 'Ship it?'],
    ]);

    await sv.approvePlan('golden-approval', { by: 'golden' });
    await sv.confirmStep('golden-confirm', 'write', { approved: true, by: 'golden' });
    await sv.confirmStep('golden-question', 'ask', { approved: true, by: 'golden' });
    // The question was journaled: the re-run step asks it again under the same request.
    await until(async () => (await step('golden-question', 'ask'))?.state === 'awaitingInput');
    await sv.answer(pending.requests[0]!.requestId, { optionId: 'yes', by: 'golden' });
    for (const runId of ['golden-approval', 'golden-confirm', 'golden-question'])
      await until(async () => (await sv.get(runId))?.phase === 'completed');

    // The retry's deadline came back from the file: nothing runs before it, the retry after.
    expect((await step('golden-retry', 'flaky'))?.state).toBe('retrying');
    clock.advance(60 * 60_000);
    await until(async () => (await sv.get('golden-retry'))?.phase === 'completed');

    const outputs = Object.fromEntries(
      await Promise.all(views.map(async (run) => [run.id, (await sv.get(run.id))?.result?.outputs] as const)),
    );
    expect(outputs).toEqual({
      'golden-approval': { hello: 'hello', world: 'hello world' },
      'golden-confirm': {
        seed: 'seed',
        write: 'wrote seed on attempt 2',
        after: 'after wrote seed on attempt 2',
      },
      'golden-question': { ask: 'decided yes', then: 'then decided yes' },
      'golden-retry': { flaky: 'worked on attempt 2' },
      'golden-crashed': { look: 'read x', done: 'saw read x' },
    });
    expect(await sv.verifyAudit()).toMatchObject({ ok: true });
  });
});
