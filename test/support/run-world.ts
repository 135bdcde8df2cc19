/**
 * A pure, deterministic world of one task actor and its step actors, for model-based
 * tests: an event goes to the task (or, wrapped in `to.step`, to one step), and the
 * messages they send each other are delivered in the order XState delivers them (a step
 * handles an event at once; the task's replies queue up) until the world is quiet.
 * Exposed as actor logic so `xstate/graph` can traverse it.
 */
import type {
  ActorLogic,
  AnyActorRef,
  AnyMachineSnapshot,
  AnyStateMachine,
  AnyTransitionDefinition,
  EventObject,
  Snapshot,
} from 'xstate';
import type { StepPoolEvent, StepPoolSnapshot } from '../../machines/step-pool.js';
import { STEPS } from '../../machines/task.machine.js';
import { PureRunner } from './pure.js';

export type WorldSnapshot = {
  readonly status: 'active';
  readonly output: undefined;
  readonly error: undefined;
  readonly task: AnyMachineSnapshot;
  readonly steps: Readonly<Record<string, AnyMachineSnapshot>>;
} & Snapshot<undefined>;

/** An event for the task, or `{ type: 'to.step', stepId, event }` for one step. */
export type WorldEvent = { readonly type: string; readonly [key: string]: unknown };

/** Which states and transitions any world (or direct runner) visited, per machine. */
export class Coverage {
  readonly transitions = new Map<AnyStateMachine, Set<AnyTransitionDefinition>>();
  readonly states = new Map<AnyStateMachine, Set<string>>();

  record(
    machine: AnyStateMachine,
    snapshot: AnyMachineSnapshot,
    transitions: readonly AnyTransitionDefinition[],
  ): void {
    const taken = this.transitions.get(machine) ?? new Set();
    for (const transition of transitions) taken.add(transition);
    this.transitions.set(machine, taken);
    const reached = this.states.get(machine) ?? new Set();
    for (const node of snapshot._nodes) reached.add(node.id);
    this.states.set(machine, reached);
  }
}

export function createRunWorld(
  taskMachine: AnyStateMachine,
  stepMachine: AnyStateMachine,
  input: unknown,
  coverage: Coverage,
): ActorLogic<WorldSnapshot, WorldEvent, undefined> {
  const taskRunner = new PureRunner(taskMachine);
  const stepRunner = new PureRunner(stepMachine);

  const deliver = (start: WorldSnapshot, first: { to: string; event: EventObject }): WorldSnapshot => {
    let task = start.task;
    // A finished task has stopped its steps; the messages of its last transition still arrive.
    const finishedBefore = start.task.status !== 'active';
    const steps: Record<string, AnyMachineSnapshot> = { ...start.steps };
    const queue = [first];
    while (queue.length > 0) {
      const { to, event } = queue.shift()!;
      if (to === 'task') {
        if (task.status !== 'active') continue;
        const result = taskRunner.next(task, event);
        coverage.record(taskMachine, result.snapshot, result.transitions);
        task = result.snapshot;
        // Steps the pool spawned with the plan (their initial snapshots).
        const pool = (task.children as Record<string, AnyActorRef>)[STEPS];
        if (pool) {
          for (const [id, ref] of (pool.getSnapshot() as StepPoolSnapshot).steps) {
            if (!(id in steps)) steps[id] = ref.getSnapshot() as AnyMachineSnapshot;
          }
        }
        // The pool passes the task's messages on: a step handles one at once (it is idle);
        // replies to the busy task queue up.
        const routed: Array<{ to: string; event: EventObject }> = [];
        for (const message of result.messages) {
          if (message.to !== STEPS)
            throw new Error(`the task sent to ${message.to} instead of its step pool`);
          const event = message.event as StepPoolEvent;
          if (event.type === 'pool.add') {
            for (const input of event.steps) {
              if (!(input.step.id in steps)) steps[input.step.id] = stepRunner.initial(input).snapshot;
            }
          } else if (event.type === 'pool.deliver') {
            routed.push({ to: event.to, event: event.event as EventObject });
          }
        }
        queue.unshift(...routed);
        continue;
      }
      if (finishedBefore) continue;
      const step = steps[to];
      if (!step) throw new Error(`message to unknown step ${to}: ${JSON.stringify(event)}`);
      const result = stepRunner.next(step, event);
      coverage.record(stepMachine, result.snapshot, result.transitions);
      steps[to] = result.snapshot;
      for (const message of result.messages) {
        if (message.to !== 'parent') throw new Error(`a step sent to ${message.to}`);
        queue.push({ to: 'task', event: message.event });
      }
    }
    return { status: 'active', output: undefined, error: undefined, task, steps };
  };

  return {
    transition: (snapshot, event) =>
      event.type === 'to.step'
        ? deliver(snapshot, { to: event.stepId as string, event: event.event as EventObject })
        : deliver(snapshot, { to: 'task', event }),
    getInitialSnapshot: () => {
      const result = taskRunner.initial(input);
      coverage.record(taskMachine, result.snapshot, result.transitions);
      return { status: 'active', output: undefined, error: undefined, task: result.snapshot, steps: {} };
    },
    getPersistedSnapshot: (snapshot) => snapshot,
  };
}

/** The state value of a step as a flat API name (`running.awaitingInput` → `awaitingInput`). */
export function stepStateName(snapshot: AnyMachineSnapshot): string {
  const value = snapshot.value as string | Record<string, string>;
  if (typeof value === 'string') return value;
  return value.running === 'awaitingInput' ? 'awaitingInput' : 'running';
}

/**
 * Sends `events` through a world and returns the final state and a normalised log of every
 * state change, one line per actor transition (`task: queued -> running`).
 */
export function replay(
  world: ActorLogic<WorldSnapshot, WorldEvent, undefined>,
  events: readonly WorldEvent[],
): { state: WorldSnapshot; log: string[] } {
  const scope = {} as never;
  let state = world.getInitialSnapshot(scope, undefined);
  const log: string[] = [];
  for (const event of events) {
    const next = world.transition(state, event, scope);
    log.push(...diff(state, next));
    state = next;
  }
  return { state, log };
}

function diff(before: WorldSnapshot, after: WorldSnapshot): string[] {
  const lines: string[] = [];
  const name = (snapshot: AnyMachineSnapshot) =>
    typeof snapshot.value === 'string' ? snapshot.value : stepStateName(snapshot);
  if (before.task.value !== after.task.value) lines.push(`task: ${name(before.task)} -> ${name(after.task)}`);
  for (const [id, snapshot] of Object.entries(after.steps)) {
    const previous = before.steps[id];
    const from = previous ? name(previous) : undefined;
    const to = name(snapshot);
    const attempt = (snapshot.context as { attempt: number }).attempt;
    const previousAttempt = previous ? (previous.context as { attempt: number }).attempt : 0;
    if (from === undefined) lines.push(`${id}: spawned ${to}`);
    else if (from !== to || attempt !== previousAttempt)
      lines.push(`${id}: ${from} -> ${to} (attempt ${attempt})`);
  }
  return lines;
}
