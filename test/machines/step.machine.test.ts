import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import { ATTEMPT_INTERRUPTED, type StepInput } from '../../machines/protocol.js';
import { stepMachine } from '../../machines/step.machine.js';
import { type StepInput as StepDefinition, StepSchema } from '../../src/model/plan.js';
import { PureRunner } from '../support/pure.js';

const runner = new PureRunner(stepMachine);

function input(step: StepDefinition, overrides: Partial<StepInput> = {}): StepInput {
  return {
    runId: 'run-1',
    step: StepSchema.parse(step),
    waitingOn: [],
    needsConfirmation: false,
    ...overrides,
  };
}

/** Steps a step machine through events; returns the last snapshot and everything it told its task. */
function drive(start: StepInput, events: EventObject[]) {
  let { snapshot } = runner.initial(start);
  const told: EventObject[] = [];
  for (const event of events) {
    const result = runner.next(snapshot, event);
    snapshot = result.snapshot;
    told.push(...result.messages.filter((m) => m.to === 'parent').map((m) => m.event));
  }
  return { snapshot, told, context: snapshot.context as Record<string, unknown> };
}

const attemptInput = (snapshot: AnyMachineSnapshot) =>
  (snapshot.children.attempt?.getSnapshot() as { input: Record<string, unknown> } | undefined)?.input;
const error = (fields: Record<string, unknown>) =>
  ({ type: 'xstate.error.actor.attempt', error: fields }) as EventObject;

describe('the step machine', () => {
  it('waits in awaitingConfirmation when its tier needs a human, then runs attempt 1', () => {
    const step = input(
      { id: 'rm', tier: 'destructive', action: { kind: 'shell', command: 'rm' } },
      { needsConfirmation: true },
    );
    const waiting = drive(step, [{ type: 'step.start', at: 10 } as EventObject]);
    expect(waiting.snapshot.value).toBe('awaitingConfirmation');
    expect(waiting.context.reason).toBe('tier destructive needs confirmation');
    const running = drive(step, [
      { type: 'step.start', at: 10 } as EventObject,
      { type: 'step.confirm', approved: true, by: 'ann', at: 20 } as EventObject,
    ]);
    expect(running.snapshot.value).toEqual({ running: 'active' });
    expect(running.context.attempt).toBe(1);
    expect(running.context.startedAt).toBe(20);
  });

  it('gives every attempt the same idempotency key and a deadline of its start plus timeoutMs', () => {
    const step = input({
      id: 'fetch',
      timeoutMs: 5000,
      retry: { maxAttempts: 3 },
      action: { kind: 'note', output: 1 },
    });
    const first = drive(step, [{ type: 'step.start', at: 100 } as EventObject]);
    expect(attemptInput(first.snapshot)).toMatchObject({
      attempt: 1,
      idempotencyKey: 'run-1/fetch',
      deadline: 5100,
    });
    const second = drive(step, [
      { type: 'step.start', at: 100 } as EventObject,
      error({ message: 'flaky', retryable: true, at: 200 }),
      { type: 'xstate.done.actor.backoff', output: { at: 1200 } } as EventObject,
    ]);
    expect(attemptInput(second.snapshot)).toMatchObject({
      attempt: 2,
      idempotencyKey: 'run-1/fetch',
      deadline: 6200,
    });
  });

  it('stores each retry deadline in context, growing by the backoff factor', () => {
    const step = input({
      id: 'flaky',
      retry: { maxAttempts: 3, backoffMs: 1000, factor: 3 },
      action: { kind: 'note', output: 1 },
    });
    const events = [
      { type: 'step.start', at: 0 } as EventObject,
      error({ message: 'e1', retryable: true, at: 50 }),
    ];
    const once = drive(step, events);
    expect(once.snapshot.value).toBe('retrying');
    expect(once.context.retryAt).toBe(1050);
    const backoff = once.snapshot.children.backoff?.getSnapshot() as { input: unknown } | undefined;
    expect(backoff?.input).toEqual({ until: 1050 });
    const twice = drive(step, [
      ...events,
      { type: 'xstate.done.actor.backoff', output: { at: 1050 } } as EventObject,
      error({ message: 'e2', retryable: true, at: 1100 }),
    ]);
    expect(twice.context.retryAt).toBe(1100 + 3000);
    const exhausted = drive(step, [
      ...events,
      { type: 'xstate.done.actor.backoff', output: { at: 1050 } } as EventObject,
      error({ message: 'e2', retryable: true, at: 1100 }),
      { type: 'xstate.done.actor.backoff', output: { at: 4100 } } as EventObject,
      error({ message: 'e3', retryable: true, at: 4200 }),
    ]);
    expect(exhausted.snapshot.value).toBe('failed');
    expect(exhausted.context.error).toEqual({
      message: 'e3',
      code: 'ACTION_FAILED',
      retryable: true,
      at: 4200,
    });
    expect(exhausted.told).toEqual([
      { type: 'step.settled', stepId: 'flaky', state: 'failed', root: 'flaky', at: 4200 },
    ]);
  });

  it('does not retry an error marked not retryable', () => {
    const step = input({ id: 'bad', retry: { maxAttempts: 5 }, action: { kind: 'note', output: 1 } });
    const result = drive(step, [
      { type: 'step.start', at: 0 } as EventObject,
      error({ message: 'HTTP 400', retryable: false, at: 5 }),
    ]);
    expect(result.snapshot.value).toBe('failed');
    expect(result.context.attempt).toBe(1);
  });

  it('runs an idempotent step again after a crash, with the next attempt number and the same key', () => {
    const step = input({ id: 'read', action: { kind: 'research', query: 'q' } });
    const result = drive(step, [
      { type: 'step.start', at: 0 } as EventObject,
      error({ message: 'process died', code: ATTEMPT_INTERRUPTED, at: 900 }),
    ]);
    expect(result.snapshot.value).toEqual({ running: 'active' });
    expect(attemptInput(result.snapshot)).toMatchObject({ attempt: 2, idempotencyKey: 'run-1/read' });
    expect(result.told).toEqual([]);
  });

  it('holds a non-idempotent step after a crash until a human chooses rerun, skip or fail', () => {
    const step = input({ id: 'deploy', action: { kind: 'deploy' } });
    const crashed = [
      { type: 'step.start', at: 0 } as EventObject,
      error({ message: 'process died', code: ATTEMPT_INTERRUPTED, at: 900 }),
    ];
    const held = drive(step, crashed);
    expect(held.snapshot.value).toBe('awaitingConfirmation');
    expect(held.context.reason).toBe('interrupted');
    expect(held.snapshot.children.attempt).toBeUndefined();

    const rerun = drive(step, [
      ...crashed,
      { type: 'step.confirm', approved: true, at: 1000 } as EventObject,
    ]);
    expect(rerun.snapshot.value).toEqual({ running: 'active' });
    expect(rerun.context.attempt).toBe(2);

    const skipped = drive(step, [
      ...crashed,
      { type: 'step.confirm', approved: false, decision: 'skip', by: 'ann', at: 1000 } as EventObject,
    ]);
    expect(skipped.snapshot.value).toBe('skipped');
    expect(skipped.told).toEqual([
      { type: 'step.settled', stepId: 'deploy', state: 'skipped', root: 'deploy', at: 1000 },
    ]);

    const failed = drive(step, [
      ...crashed,
      {
        type: 'step.confirm',
        approved: false,
        decision: 'fail',
        reason: 'done by hand',
        at: 1000,
      } as EventObject,
    ]);
    expect(failed.snapshot.value).toBe('failed');
    expect(failed.context.reason).toBe('failed by a human: done by hand');
  });

  it('keeps the same attempt running while it waits for an answer', () => {
    const step = input({ id: 'ask', action: { kind: 'deploy' } });
    const asking = drive(step, [
      { type: 'step.start', at: 0 } as EventObject,
      { type: 'input.requested', requestId: 'q-1', at: 5 } as EventObject,
    ]);
    expect(asking.snapshot.value).toEqual({ running: 'awaitingInput' });
    const attempt = asking.snapshot.children.attempt;
    const answered = runner.next(asking.snapshot, {
      type: 'input.answered',
      requestId: 'q-1',
      at: 9,
    } as EventObject);
    expect(answered.snapshot.value).toEqual({ running: 'active' });
    expect(answered.snapshot.children.attempt).toBe(attempt);
  });

  it('tells the task it is ready when its last dependency succeeds, not before', () => {
    const step = input(
      { id: 'join', dependsOn: ['a', 'b'], action: { kind: 'note', output: 1 } },
      { waitingOn: ['a', 'b'] },
    );
    const one = drive(step, [{ type: 'dependency.succeeded', id: 'a', at: 1 } as EventObject]);
    expect(one.told).toEqual([]);
    const both = drive(step, [
      { type: 'dependency.succeeded', id: 'a', at: 1 } as EventObject,
      { type: 'dependency.succeeded', id: 'b', at: 2 } as EventObject,
    ]);
    expect(both.told).toEqual([{ type: 'step.ready', stepId: 'join', at: 2 }]);
  });
});
