/**
 * Model-based test of the fan-out worker machine: `xstate/graph` explores every state a
 * worker can reach from the outside events a runner and a human can send (start, attempt
 * outcomes, crash-lost attempts, the four controls), checks the worker's invariants in each
 * and must reach every state and take every transition (the coverage is printed). Each
 * shortest path is then replayed on a live actor with a controllable `callModel`, which must
 * end in the same state with the same context, abort the call it leaves, and survive a
 * `getPersistedSnapshot()` → JSON → restore round trip.
 */

import { describe, expect, it } from 'vitest';
import {
  type ActorLogic,
  type AnyMachineSnapshot,
  createActor,
  type EventObject,
  fromPromise,
  type SnapshotFrom,
} from 'xstate';
import { getAdjacencyMap, getShortestPaths } from 'xstate/graph';
import { ATTEMPT_INTERRUPTED } from '../../machines/protocol.js';
import {
  type CallModelInput,
  type CallModelOutput,
  workerControls,
  workerMachine,
  type WorkerInput,
} from '../../machines/worker.machine.js';
import { coverageOf, formatCoverage } from '../support/coverage-report.js';
import { PureRunner } from '../support/pure.js';
import { Coverage } from '../support/run-world.js';

type WorkerSnapshot = SnapshotFrom<typeof workerMachine>;
/** Any event with its payload (outside events and the invoked attempt's done/error events). */
type AnyEvent = EventObject & Record<string, unknown>;

const input: WorkerInput = {
  label: 'gpt-4o#2',
  model: 'gpt-4o',
  targetIndex: 0,
  repeatIndex: 2,
  timeoutMs: 500,
};
/** An agent target: a lost attempt waits for a human instead of running again. */
const agentInput: WorkerInput = { ...input, label: 'coder', model: 'agent:coder', confirmAfterCrash: true };
const usage = { inputTokens: 10, outputTokens: 4, costUsd: 0.0001 };
/** Attempts are capped so retry loops stay finite. */
const MAX_ATTEMPTS = 3;

/** Time moves on with each event, so timestamps and deadlines are checked too. */
function eventsFor(snapshot: WorkerSnapshot): AnyEvent[] {
  const at = 100 * (snapshot.context.attempt + snapshot.context.archived.length + 1);
  const control = (action: string): AnyEvent => ({ type: 'worker.control', action, by: 'ops', at });
  const events: AnyEvent[] = ['cancel', 'interrupt', 'retry', 'resume'].map(control);
  if (snapshot.value === 'queued' && snapshot.context.attempt < MAX_ATTEMPTS) {
    events.push({ type: 'worker.start', at });
  }
  if (snapshot.value === 'running') {
    events.push(
      { type: 'xstate.done.actor.attempt', actorId: 'attempt', output: { text: 'seven', usage, at: at + 5 } },
      {
        type: 'xstate.error.actor.attempt',
        actorId: 'attempt',
        error: { message: 'HTTP 500', code: 'LLM_ERROR', retryable: true, at: at + 5, usage },
      },
      {
        type: 'xstate.error.actor.attempt',
        actorId: 'attempt',
        error: { message: 'lost', code: ATTEMPT_INTERRUPTED, retryable: true, at: at + 5 },
      },
    );
  }
  return events;
}

function workerLogic(coverage: Coverage, start = input): ActorLogic<AnyMachineSnapshot, EventObject> {
  const runner = new PureRunner(workerMachine);
  const record = (result: ReturnType<PureRunner['next']>) => {
    coverage.record(workerMachine, result.snapshot, result.transitions);
    return result.snapshot;
  };
  return {
    transition: (snapshot, event) => record(runner.next(snapshot, event)),
    getInitialSnapshot: () => record(runner.initial(start)),
    getPersistedSnapshot: (snapshot) => snapshot,
  } as ActorLogic<AnyMachineSnapshot, EventObject>;
}

const serialize = (snapshot: AnyMachineSnapshot) => JSON.stringify([snapshot.value, snapshot.context]);

const CONTROLS_BY_STATE: Record<string, string[]> = {
  queued: ['cancel'],
  running: ['cancel', 'interrupt'],
  interrupted: ['cancel', 'resume'],
  completed: [],
  failed: ['retry'],
  cancelled: ['retry'],
};

function checkInvariants(snapshot: WorkerSnapshot): void {
  const { context } = snapshot;
  const state = snapshot.value;
  expect(
    context.archived.length + (context.startedAt === undefined ? 0 : 1),
    'every started attempt is current or archived',
  ).toBe(context.attempt);
  expect(
    context.archived.map((a) => a.attempt),
    'archived attempts in order',
  ).toEqual(context.archived.map((_, i) => i + 1));
  expect(context.deadline !== undefined, 'a deadline exactly while running').toBe(state === 'running');
  if (state === 'running') expect(context.deadline).toBe(context.startedAt! + input.timeoutMs!);
  if (state === 'completed') expect(context.text).toBe('seven');
  if (state === 'failed') expect(context.error?.code).toBe('LLM_ERROR');
  if (state === 'queued') expect(context.startedAt, 'a queued worker has no current attempt').toBeUndefined();
  if (state === 'running') expect(context.endedAt).toBeUndefined();
  if (context.error?.code === ATTEMPT_INTERRUPTED)
    expect(
      [state === 'interrupted' || state === 'cancelled', context.confirmAfterCrash],
      'only an agent keeps a crash-lost attempt current: waiting for a human, or cancelled by one',
    ).toEqual([true, true]);
  expect(workerControls(snapshot), `controls of a ${state} worker`).toEqual(CONTROLS_BY_STATE[state]);
}

/** A live worker whose model calls the test settles by hand. */
function liveWorker() {
  const calls: Array<{
    input: CallModelInput;
    signal: AbortSignal;
    resolve: (output: CallModelOutput) => void;
    reject: (error: unknown) => void;
  }> = [];
  const machine = workerMachine.provide({
    actors: {
      callModel: fromPromise<CallModelOutput, CallModelInput>(
        ({ input, signal }) =>
          new Promise((resolve, reject) => {
            calls.push({ input, signal, resolve, reject });
          }),
      ),
    },
  });
  return { machine, calls };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('the worker machine', () => {
  const coverage = new Coverage();
  const logic = workerLogic(coverage);
  const options = { events: eventsFor as never, serializeState: serialize as never, limit: 100_000 };
  const map = getAdjacencyMap(logic, options);
  const agentMap = getAdjacencyMap(workerLogic(coverage, agentInput), options);

  it('keeps its invariants in every reachable state and reaches every state and transition', () => {
    const states = [...Object.values(map), ...Object.values(agentMap)].map(
      ({ state }) => state as unknown as WorkerSnapshot,
    );
    console.log(`worker: ${states.length} reachable states (a model target and an agent target)`);
    expect(states.length).toBeGreaterThan(20);
    for (const state of states) checkInvariants(state);
    const report = coverageOf(coverage, workerMachine);
    console.log(formatCoverage(report));
    expect(report.missingStates).toEqual([]);
    expect(report.missingTransitions).toEqual([]);
  });

  it('behaves the same as a live actor along every shortest path, and persists in every state', async () => {
    const paths = getShortestPaths(logic, options);
    expect(paths.length).toBe(Object.keys(map).length);
    for (const path of paths) {
      const { machine, calls } = liveWorker();
      const actor = createActor(machine, { input }).start();
      for (const { event } of path.steps) {
        const call = calls.at(-1);
        if (event.type === 'xstate.done.actor.attempt') {
          call!.resolve((event as unknown as { output: CallModelOutput }).output);
          await flush();
        } else if (event.type === 'xstate.error.actor.attempt') {
          call!.reject((event as unknown as { error: unknown }).error);
          await flush();
        } else {
          const wasRunning = actor.getSnapshot().value === 'running';
          actor.send(event as never);
          if (wasRunning && actor.getSnapshot().value !== 'running') {
            expect(call!.signal.aborted, 'leaving running aborts the model call').toBe(true);
          }
        }
      }
      const live = actor.getSnapshot();
      const expected = path.state as unknown as WorkerSnapshot;
      expect([live.value, live.context]).toEqual([expected.value, expected.context]);
      if (live.value === 'running') {
        expect(calls.at(-1)!.input).toEqual({
          label: input.label,
          model: input.model,
          targetIndex: 0,
          attempt: live.context.attempt,
          deadline: live.context.deadline,
        });
      }

      const persisted = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()));
      actor.stop();
      const again = liveWorker();
      const restored = createActor(again.machine, { snapshot: persisted } as never).start();
      expect([restored.getSnapshot().value, restored.getSnapshot().context]).toEqual([
        live.value,
        live.context,
      ]);
      // A restored running worker calls its model again with the same attempt and deadline.
      if (live.value === 'running')
        expect(again.calls.map((c) => c.input.attempt)).toEqual([live.context.attempt]);
      else expect(again.calls).toEqual([]);
      restored.stop();
    }
  });

  it('archives a failed attempt with its error and usage when a human retries it', () => {
    const runner = new PureRunner(workerMachine);
    let snapshot = runner.initial(input).snapshot;
    const steps: AnyEvent[] = [
      { type: 'worker.start', at: 10 },
      {
        type: 'xstate.error.actor.attempt',
        actorId: 'attempt',
        error: { message: 'HTTP 500', code: 'LLM_ERROR', retryable: true, at: 20, usage },
      },
      { type: 'worker.control', action: 'retry', by: 'ann', at: 30 },
      { type: 'worker.start', at: 40 },
    ];
    for (const event of steps) snapshot = runner.next(snapshot, event).snapshot;
    expect(snapshot.value).toBe('running');
    expect(snapshot.context).toMatchObject({
      attempt: 2,
      startedAt: 40,
      deadline: 540,
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
      archived: [
        {
          attempt: 1,
          outcome: 'failed',
          error: { message: 'HTTP 500', code: 'LLM_ERROR', retryable: true, at: 20 },
          usage,
          startedAt: 10,
          endedAt: 20,
        },
      ],
    });
  });
});
