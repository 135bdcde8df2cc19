/**
 * A task with step actors in mixed states survives XState's own persistence round trip
 * (`getPersistedSnapshot()` → JSON → `createActor(..., { snapshot })`) unchanged, with
 * every deadline and attempt intact.
 */

import { describe, expect, it } from 'vitest';
import { type AnyActorRef, createActor, fromPromise } from 'xstate';
import type {
  ExecuteActionInput,
  ExecuteActionOutput,
  TaskInput,
  WaitUntilInput,
  WaitUntilOutput,
} from '../../machines/protocol.js';
import { createStepPool, type StepPoolSnapshot } from '../../machines/step-pool.js';
import { stepMachine } from '../../machines/step.machine.js';
import { STEPS, taskMachine } from '../../machines/task.machine.js';
import { parsePlan } from '../../src/model/parse-plan.js';

interface Pending {
  resolve: (value: { output: unknown; at: number }) => void;
  reject: (error: unknown) => void;
}

function controllableTask() {
  const attempts = new Map<string, Pending>();
  const step = stepMachine.provide({
    actors: {
      executeAction: fromPromise<ExecuteActionOutput, ExecuteActionInput>(
        ({ input }) =>
          new Promise((resolve, reject) => {
            attempts.set(input.stepId, { resolve, reject } as Pending);
          }),
      ),
      // Backoffs never fire on their own here: the deadline is what must survive.
      waitUntil: fromPromise<WaitUntilOutput, WaitUntilInput>(() => new Promise(() => {})),
    },
  });
  return { machine: taskMachine.provide({ actors: { stepPool: createStepPool(step) } }), attempts };
}

const plan = parsePlan({
  steps: [
    { id: 'done', action: { kind: 'note', output: 1 } },
    { id: 'flaky', retry: { maxAttempts: 3, backoffMs: 60_000 }, action: { kind: 'note', output: 2 } },
    { id: 'ask', action: { kind: 'deploy' } },
    { id: 'danger', tier: 'destructive', action: { kind: 'deploy' } },
    { id: 'timed', timeoutMs: 30_000, action: { kind: 'note', output: 3 } },
    { id: 'later', dependsOn: ['flaky'], action: { kind: 'note', output: 4 } },
  ],
});

const input: TaskInput = {
  runId: 'run-1',
  goal: 'mixed',
  plan,
  requireApproval: false,
  approveReplans: false,
  maxReplans: 0,
  stepsPerRun: 5,
  confirmTiers: ['destructive'],
};

const flush = () => new Promise((resolve) => setImmediate(resolve));

/** The task's step actors, hosted by its step pool. */
function steps(actor: AnyActorRef): Map<string, AnyActorRef> {
  const pool = (actor.getSnapshot().children as Record<string, AnyActorRef>)[STEPS]!;
  return (pool.getSnapshot() as StepPoolSnapshot).steps;
}

function stepStates(actor: AnyActorRef) {
  return Object.fromEntries([...steps(actor)].map(([id, step]) => [id, step.getSnapshot().value]));
}

describe('persisting a task actor', () => {
  it('restores a task whose steps are in mixed states exactly as it was', async () => {
    const { machine, attempts } = controllableTask();
    const actor = createActor(machine, { input });
    actor.start();
    actor.send({ type: 'run.admitted', at: 1_000 });
    await flush();
    attempts.get('done')!.resolve({ output: 'ok', at: 1_100 });
    attempts.get('flaky')!.reject({ message: 'HTTP 503', retryable: true, at: 1_200 });
    actor.send({
      type: 'step.command',
      stepId: 'ask',
      command: { type: 'input.requested', requestId: 'q-1', at: 1_300 },
    });
    await flush();

    const states = stepStates(actor);
    expect(states).toEqual({
      done: 'succeeded',
      flaky: 'retrying',
      ask: { running: 'awaitingInput' },
      danger: 'awaitingConfirmation',
      timed: { running: 'active' },
      later: 'pending',
    });

    const persisted = actor.getPersistedSnapshot();
    const json = JSON.parse(JSON.stringify(persisted));
    actor.stop();

    const restored = createActor(controllableTask().machine, { snapshot: json, input });
    restored.start();
    expect(restored.getPersistedSnapshot()).toEqual(persisted);
    expect(stepStates(restored)).toEqual(states);
    const restoredSteps = steps(restored);
    expect(restoredSteps.get('flaky')!.getSnapshot().context).toMatchObject({ attempt: 1, retryAt: 61_200 });
    expect(restoredSteps.get('timed')!.getSnapshot().context).toMatchObject({ attempt: 1, deadline: 31_000 });
    expect(restoredSteps.get('ask')!.getSnapshot().context).toMatchObject({ requestId: 'q-1' });
    restored.stop();
  });
});
