/**
 * Runtime requests: an action asks a human with `ctx.ask()`, the step waits in
 * `awaitingInput`, the request is pending until `answer()`, whose answer the action gets
 * back; answers are checked, taken once, and accepted from another process.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { Answer } from '../../src/model/events.js';
import type { ActionFunction } from '../../src/runtime/executor.js';
import type { Supervisor } from '../../src/supervisor.js';
import { createGate, unlessAborted } from '../support/gate.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

const harness = useSupervisorHarness();

const colours = [
  { id: 'r', label: 'Red' },
  { id: 'b', label: 'Blue' },
];

/** Asks for a colour and returns the answer as its output (then waits for `after`, if given). */
function askingAction(after?: Promise<unknown>, seen: Answer[] = []): ActionFunction {
  return async (_input, ctx) => {
    const answer = await ctx.ask({ key: 'colour', question: 'Which colour?', options: colours });
    seen.push(answer);
    if (after) await unlessAborted(after, ctx.signal);
    return { output: answer };
  };
}

const plan = {
  goal: 'pick a colour',
  steps: [
    { id: 'pick', action: { kind: 'pick' } },
    { id: 'paint', dependsOn: ['pick'], action: { kind: 'note', output: 'painting {{steps.pick.output}}' } },
  ],
};

async function firstRequest(sv: Supervisor) {
  return until(async () => (await sv.pending()).requests[0], { what: 'an open request' });
}

describe('questions from actions', () => {
  it('parks the asking step in awaitingInput, lists the request as pending, and resumes it with the answer', async () => {
    const clock = new ManualClock(1000);
    const sv = await harness.open({
      db: harness.dbPath(),
      clock,
      ids: sequentialIds(),
      actions: { pick: askingAction() },
    });
    const run = await sv.start({ plan });

    const request = await firstRequest(sv);
    expect(request).toEqual({
      requestId: 'req-1',
      runId: run.id,
      stepId: 'pick',
      question: 'Which colour?',
      options: colours,
      openedAt: 1000,
    });
    await until(() => run.view().steps[0]?.state === 'awaitingInput', { what: 'pick awaitingInput' });
    expect(run.view().phase).toBe('running');
    expect(run.view().steps[1]?.state).toBe('pending');

    await sv.answer('req-1', { optionId: 'b', by: 'ann' });

    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs.pick).toEqual({ optionId: 'b' });
    expect((await sv.pending()).requests).toEqual([]);
    const trace = await sv.trace(run.id);
    expect(trace.requests).toEqual([
      expect.objectContaining({
        id: 'req-1',
        stepId: 'pick',
        key: 'colour',
        answer: { optionId: 'b' },
        answeredBy: 'ann',
      }),
    ]);
    expect(
      trace.events
        .filter((event) => 'stepId' in event && event.stepId === 'pick')
        .map((event) => (event.type === 'step.transition' ? `${event.from}->${event.to}` : event.type)),
    ).toEqual([
      'pending->running',
      'request.opened',
      'running->awaitingInput',
      'request.answered',
      'awaitingInput->running',
      'running->succeeded',
      'step.output',
    ]);
  });

  it('passes a text answer back to the action', async () => {
    const seen: Answer[] = [];
    const sv = await harness.open({ db: harness.dbPath(), actions: { pick: askingAction(undefined, seen) } });
    const run = await sv.start({ plan });
    const request = await firstRequest(sv);
    await sv.answer(request.requestId, { text: 'teal' });
    expect((await run.done).outputs).toEqual({ pick: { text: 'teal' }, paint: 'painting {"text":"teal"}' });
    expect(seen).toEqual([{ text: 'teal' }]);
  });

  it('refuses an option id that the question does not offer, naming the offered ones', async () => {
    const sv = await harness.open({ db: harness.dbPath(), actions: { pick: askingAction() } });
    const run = await sv.start({ plan });
    const request = await firstRequest(sv);

    await expect(sv.answer(request.requestId, { optionId: 'green' })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringMatching(/no option "green".*"r", "b"/),
    });

    expect(run.view().steps[0]?.state).toBe('awaitingInput');
    expect((await sv.pending()).requests).toHaveLength(1);
    await sv.answer(request.requestId, { optionId: 'r' });
    expect((await run.done).outputs.pick).toEqual({ optionId: 'r' });
  });

  it('refuses an empty answer and an answer with unknown fields', async () => {
    const sv = await harness.open({ db: harness.dbPath(), actions: { pick: askingAction() } });
    await sv.start({ plan });
    const request = await firstRequest(sv);
    await expect(sv.answer(request.requestId, {})).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(sv.answer(request.requestId, { txt: 'x' } as Answer)).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
    expect((await sv.pending()).requests).toHaveLength(1);
  });

  it('refuses a second answer to the same question', async () => {
    const hold = createGate();
    const seen: Answer[] = [];
    const sv = await harness.open({
      db: harness.dbPath(),
      actions: { pick: askingAction(hold.promise, seen) },
    });
    const run = await sv.start({ plan });
    const request = await firstRequest(sv);
    await sv.answer(request.requestId, { optionId: 'r', by: 'ann' });
    await until(() => seen.length === 1, { what: 'the action to get its answer' });

    await expect(sv.answer(request.requestId, { optionId: 'b', by: 'bob' })).rejects.toMatchObject({
      code: 'INVALID_STATE',
      message: expect.stringContaining(`Request ${request.requestId} was already answered`),
    });

    hold.open();
    expect((await run.done).outputs.pick).toEqual({ optionId: 'r' });
    expect((await sv.trace(run.id)).requests[0]).toMatchObject({
      answer: { optionId: 'r' },
      answeredBy: 'ann',
    });
    expect(seen).toEqual([{ optionId: 'r' }]);
  });

  it('accepts only one of two concurrent answers to the same question', async () => {
    const sv = await harness.open({ db: harness.dbPath(), actions: { pick: askingAction() } });
    const run = await sv.start({ plan });
    const request = await firstRequest(sv);

    const outcomes = await Promise.allSettled([
      sv.answer(request.requestId, { optionId: 'r', by: 'ann' }),
      sv.answer(request.requestId, { optionId: 'b', by: 'bob' }),
    ]);

    expect((await run.done).outputs.pick).toEqual({ optionId: 'r' });
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'INVALID_STATE' });
    const trace = await sv.trace(run.id);
    expect(trace.events.filter((event) => event.type === 'request.answered')).toEqual([
      expect.objectContaining({ answer: { optionId: 'r' }, by: 'ann' }),
    ]);
  });

  it('applies only the first of two answers another process stored for the same question', async () => {
    const db = harness.dbPath();
    const driver = await harness.open({ db, pollMs: 20, actions: { pick: askingAction() } });
    const run = await driver.start({ plan });
    const request = await firstRequest(driver);
    const other = await harness.open({ db, resume: false, actions: { pick: askingAction() } });
    // Both are checked against the open request before either is applied, so both are stored.
    await other.answer(request.requestId, { optionId: 'r', by: 'ann' });
    await other.answer(request.requestId, { optionId: 'b', by: 'bob' });

    await until(async () => (await driver.get(run.id))?.phase === 'completed', {
      what: 'the run to complete',
    });
    const trace = await driver.trace(run.id);
    expect(trace.requests[0]).toMatchObject({ answer: { optionId: 'r' }, answeredBy: 'ann' });
    // The log agrees with the request: one answer, the one that was applied.
    expect(trace.events.filter((event) => event.type === 'request.answered')).toEqual([
      expect.objectContaining({ answer: { optionId: 'r' }, by: 'ann' }),
    ]);
  });

  it('takes an answer given through a second supervisor on the same database, applied by the first at its next poll', async () => {
    const db = harness.dbPath();
    const driver = await harness.open({ db, pollMs: 20, actions: { pick: askingAction() } });
    const run = await driver.start({ plan });
    const request = await firstRequest(driver);

    const other = await harness.open({ db, resume: false, actions: { pick: askingAction() } });
    expect((await other.pending()).requests.map((open) => open.requestId)).toEqual([request.requestId]);
    // Checked in the other process too, before it is stored.
    await expect(other.answer(request.requestId, { optionId: 'green' })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
    await other.answer(request.requestId, { optionId: 'b', by: 'cli' });

    await until(async () => (await driver.get(run.id))?.phase === 'completed', {
      what: 'the driver to apply the answer',
    });
    expect((await run.done).outputs.pick).toEqual({ optionId: 'b' });
    expect((await driver.trace(run.id)).requests[0]).toMatchObject({
      answer: { optionId: 'b' },
      answeredBy: 'cli',
    });
    expect((await other.get(run.id))?.phase).toBe('completed');
  });

  it('drops the request of a step cancelled while it waits for an answer from pending(), and refuses answers to it', async () => {
    const sv = await harness.open({
      db: harness.dbPath(),
      ids: sequentialIds(),
      actions: { pick: askingAction() },
    });
    const run = await sv.start({
      goal: 'two questions',
      plan: {
        steps: [
          { id: 'first', action: { kind: 'pick' } },
          { id: 'second', action: { kind: 'pick' } },
        ],
      },
    });
    await until(async () => (await sv.pending()).requests.length === 2, { what: 'both questions' });
    const asked = Object.fromEntries(
      (await sv.pending()).requests.map((request) => [request.stepId, request.requestId]),
    );

    await sv.control(run.id, 'first', 'cancel');
    await until(() => run.view().steps[0]?.state === 'cancelled', { what: 'first cancelled' });

    // Nobody waits for this answer any more.
    expect((await sv.pending()).requests.map((request) => request.stepId)).toEqual(['second']);
    await expect(sv.answer(asked.first!, { optionId: 'r' })).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });

  it('drops the requests of a cancelled run from pending()', async () => {
    const sv = await harness.open({ db: harness.dbPath(), actions: { pick: askingAction() } });
    const run = await sv.start({ plan });
    const request = await firstRequest(sv);
    await sv.cancel(run.id);
    expect((await run.done).phase).toBe('cancelled');

    expect((await sv.pending()).requests).toEqual([]);
    await expect(sv.answer(request.requestId, { optionId: 'r' })).rejects.toMatchObject({
      code: 'INVALID_STATE',
      message: expect.stringContaining('cancelled'),
    });
  });

  it('returns the recorded answer without asking again when the step runs again after a restart', async () => {
    const db = harness.dbPath();
    const clock = new ManualClock(1000);
    const hold = createGate();
    const seen: Answer[] = [];
    const idempotentPlan = { goal: 'g', steps: [{ id: 'pick', idempotent: true, action: { kind: 'pick' } }] };
    const first = await harness.open({
      db,
      clock,
      ids: sequentialIds(),
      actions: { pick: askingAction(hold.promise, seen) },
    });
    const run = await first.start({ plan: idempotentPlan });
    const request = await firstRequest(first);
    await first.answer(request.requestId, { optionId: 'r' });
    await until(() => seen.length === 1, { what: 'the first attempt to get its answer' });
    await first.close();

    hold.open();
    const second = await harness.open({
      db,
      clock,
      ids: sequentialIds(),
      actions: { pick: askingAction(undefined, seen) },
    });
    await until(async () => (await second.get(run.id))?.phase === 'completed', {
      what: 'the resumed run to complete',
    });

    expect(seen).toEqual([{ optionId: 'r' }, { optionId: 'r' }]);
    const trace = await second.trace(run.id);
    expect(trace.requests).toHaveLength(1);
    expect(trace.events.filter((event) => event.type === 'request.opened')).toHaveLength(1);
    expect(trace.run.steps[0]).toMatchObject({ state: 'succeeded', attempt: 2, output: { optionId: 'r' } });
  });
});
