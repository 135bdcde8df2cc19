/**
 * Model-based test of the supervisor machine: `xstate/graph` explores every combination
 * of runs created, adopted from the database, commanded and finished, with two run slots,
 * and checks slot accounting in each state. Coverage must be complete.
 */

import { describe, expect, it } from 'vitest';
import type { ActorLogic, AnyActorRef, AnyMachineSnapshot, EventObject, SnapshotFrom } from 'xstate';
import { getAdjacencyMap } from 'xstate/graph';
import type { TaskInput } from '../../machines/protocol.js';
import { supervisorMachine } from '../../machines/supervisor.machine.js';
import { taskMachine } from '../../machines/task.machine.js';
import { parsePlan } from '../../src/model/parse-plan.js';
import { coverageOf, formatCoverage } from '../support/coverage-report.js';
import { PureRunner } from '../support/pure.js';
import { Coverage } from '../support/run-world.js';

type SupervisorSnapshot = SnapshotFrom<typeof supervisorMachine>;

const at = 3;
const plan = parsePlan({ steps: [{ id: 'only', action: { kind: 'note', output: 1 } }] });
const taskInput = (runId: string): TaskInput => ({
  runId,
  goal: 'g',
  plan,
  requireApproval: false,
  approveReplans: false,
  maxReplans: 0,
  stepsPerRun: 1,
  confirmTiers: [],
});

/** What the database holds for a run that another process left `running` / `queued`. */
function persistedTask(runId: string, admitted: boolean): unknown {
  const runner = new PureRunner(taskMachine);
  let snapshot = runner.initial(taskInput(runId)).snapshot;
  if (admitted) snapshot = runner.next(snapshot, { type: 'run.admitted', at } as EventObject).snapshot;
  return JSON.parse(JSON.stringify(taskMachine.getPersistedSnapshot(snapshot as never)));
}

interface Step {
  readonly snapshot: SupervisorSnapshot;
  /** `run.admitted` messages sent in the last transition. */
  readonly admittedNow: readonly string[];
}

function supervisorLogic(
  coverage: Coverage,
): ActorLogic<AnyMachineSnapshot & { admittedNow?: string[] }, EventObject> {
  const runner = new PureRunner(supervisorMachine);
  const record = (result: ReturnType<PureRunner['next']>) => {
    coverage.record(supervisorMachine, result.snapshot, result.transitions);
    const admittedNow = result.messages.filter((m) => m.event.type === 'run.admitted').map((m) => m.to);
    return Object.assign(Object.create(result.snapshot), result.snapshot, { admittedNow });
  };
  return {
    transition: (snapshot, event) => record(runner.next(snapshot, event)),
    getInitialSnapshot: () => record(runner.initial({ maxRuns: 2 })),
    getPersistedSnapshot: (snapshot) => snapshot,
  } as ActorLogic<AnyMachineSnapshot & { admittedNow?: string[] }, EventObject>;
}

function eventsFor(snapshot: AnyMachineSnapshot): EventObject[] {
  const children = Object.keys(snapshot.children as Record<string, AnyActorRef>);
  const events: EventObject[] = [];
  for (const runId of ['r1', 'r2', 'r3']) {
    if (!children.includes(runId))
      events.push({ type: 'run.create', runId, input: taskInput(runId), at } as EventObject);
  }
  if (!children.includes('old-running')) {
    events.push({
      type: 'run.adopt',
      runId: 'old-running',
      snapshot: persistedTask('old-running', true),
      phase: 'running',
      at,
    } as EventObject);
  }
  if (!children.includes('old-queued')) {
    events.push({
      type: 'run.adopt',
      runId: 'old-queued',
      snapshot: persistedTask('old-queued', false),
      phase: 'queued',
      at,
    } as EventObject);
  }
  for (const runId of [...children, 'ghost']) {
    events.push({ type: 'run.command', runId, command: { type: 'run.cancel', at } } as EventObject);
  }
  for (const runId of [...children, 'ghost']) events.push({ type: 'run.release', runId } as EventObject);
  for (const runId of children) {
    events.push({ type: `xstate.done.actor.${runId}`, actorId: runId, output: undefined } as EventObject);
    events.push({
      type: `xstate.error.actor.${runId}`,
      actorId: runId,
      error: new Error('boom'),
    } as EventObject);
  }
  return events;
}

function serialize(snapshot: AnyMachineSnapshot): string {
  return JSON.stringify([snapshot.value, snapshot.context, Object.keys(snapshot.children).sort()]);
}

describe('the supervisor machine', () => {
  it('admits runs in order, never leaves a slot idle and reaches every state and transition', () => {
    const coverage = new Coverage();
    const map = getAdjacencyMap(supervisorLogic(coverage), {
      events: eventsFor,
      serializeState: (state) => serialize(state as AnyMachineSnapshot),
      limit: 500_000,
    });
    const states = Object.values(map).map(({ state }) => state as unknown as SupervisorSnapshot & Step);
    expect(states.length).toBeGreaterThan(10);
    for (const state of states) {
      const { admitted, queue, maxRuns } = state.context;
      const children = Object.keys(state.children).sort();
      expect([...admitted, ...queue].sort(), 'every child is admitted or queued').toEqual(children);
      expect(
        admitted.filter((id) => queue.includes(id)),
        'no run both admitted and queued',
      ).toEqual([]);
      if (queue.length > 0)
        expect(admitted.length, 'a queued run waits only for a full house').toBeGreaterThanOrEqual(maxRuns);
      for (const runId of state.admittedNow ?? []) expect(admitted).toContain(runId);
    }
    const report = coverageOf(coverage, supervisorMachine);
    console.log(formatCoverage(report));
    expect(report.missingStates).toEqual([]);
    expect(report.missingTransitions).toEqual([]);
  });
});
