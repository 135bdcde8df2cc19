/**
 * The `inspect` option: an XState inspection observer (e.g. @statelyai/inspect's) sees
 * the supervisor, every task and every step as actors, live and after a resume.
 */
import { describe, expect, it } from 'vitest';
import type { AnyActorRef, AnyMachineSnapshot, InspectionEvent } from 'xstate';
import { ManualClock } from '../../src/clock.js';
import { untilAborted } from '../support/gate.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

const harness = useSupervisorHarness();

interface SeenActor {
  readonly src: string;
  readonly id: string;
  readonly machineId?: string;
}

function describeActor(actorRef: unknown): SeenActor {
  const ref = actorRef as AnyActorRef;
  const src = (ref as { src?: unknown }).src;
  const logic = (ref as { logic?: { id?: string } }).logic;
  return {
    src: typeof src === 'string' ? src : 'machine',
    id: ref.id,
    ...(logic?.id ? { machineId: logic.id } : {}),
  };
}

const plan = {
  goal: 'inspect me',
  steps: [
    { id: 'first', action: { kind: 'note', output: 1 } },
    { id: 'second', dependsOn: ['first'], action: { kind: 'note', output: 2 } },
  ],
};

describe('the inspect option', () => {
  it('shows the supervisor, the task and its steps as @xstate.actor events to an observer function', async () => {
    const events: InspectionEvent[] = [];
    const sv = await harness.open({
      db: harness.dbPath(),
      clock: new ManualClock(1000),
      ids: sequentialIds(),
      inspect: (event) => events.push(event),
    });
    const run = await sv.start({ plan });
    await run.done;

    const actors = events
      .filter((event) => event.type === '@xstate.actor')
      .map((event) => describeActor(event.actorRef));
    // The root comes first: the supervisor machine, with no parent.
    expect(actors[0]).toMatchObject({ machineId: 'supervisor' });
    const root = events.find((event) => event.type === '@xstate.actor')!.actorRef;
    expect((root as { _parent?: unknown })._parent).toBeUndefined();
    expect(actors).toContainEqual({ src: 'task', id: run.id, machineId: 'task' });
    expect(actors).toContainEqual({ src: 'step', id: 'first', machineId: 'step' });
    expect(actors).toContainEqual({ src: 'step', id: 'second', machineId: 'step' });

    // The observer also sees their snapshots, so an inspector can draw each step's state.
    const snapshots = (src: string) =>
      events.flatMap((event) =>
        event.type === '@xstate.snapshot' && describeActor(event.actorRef).src === src
          ? [{ id: describeActor(event.actorRef).id, value: (event.snapshot as AnyMachineSnapshot).value }]
          : [],
      );
    const stepStates = snapshots('step').map(({ id, value }) => `${id}:${JSON.stringify(value)}`);
    expect(stepStates).toContain('first:"succeeded"');
    expect(stepStates).toContain('second:"succeeded"');
    const taskStates = snapshots('task').map(({ value }) => value);
    expect(taskStates).toContain('running');
    expect(taskStates.at(-1)).toBe('completed');
  });

  it('accepts an observer object and shows the actors of a run restored from the database', async () => {
    const db = harness.dbPath();
    const clock = new ManualClock(1000);
    const first = await harness.open({
      db,
      clock,
      ids: sequentialIds(),
      actions: { wait: async (_input, ctx) => untilAborted(ctx.signal) },
    });
    const run = await first.start({
      goal: 'g',
      plan: { steps: [{ id: 'w', idempotent: true, action: { kind: 'wait' } }] },
    });
    await until(() => run.view().steps[0]?.state === 'running', { what: 'w running' });
    await first.close();

    const seen: SeenActor[] = [];
    await harness.open({
      db,
      clock,
      actions: { wait: async (_input, ctx) => untilAborted(ctx.signal) },
      inspect: {
        next: (event) => {
          if (event.type === '@xstate.actor') seen.push(describeActor(event.actorRef));
        },
      },
    });

    expect(seen).toContainEqual(expect.objectContaining({ machineId: 'supervisor' }));
    expect(seen).toContainEqual({ src: 'task', id: run.id, machineId: 'task' });
    expect(seen).toContainEqual({ src: 'step', id: 'w', machineId: 'step' });
  });
});
