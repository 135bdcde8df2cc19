/**
 * The step pool: the task's one child that hosts its step actors.
 *
 * Why not spawn the steps as children of the task machine? XState keeps a machine's
 * children in one object and copies it for every child stopped, so a task finishing (or
 * stopping) with N steps costs O(N²). The pool keeps the step actors in a Map: adding,
 * routing and stopping cost O(1) per step, and a run of 10,000 steps ends as cheaply as
 * one of 10. The steps are ordinary actors of the same system: their ids are the step
 * ids, their `src` is `step`, the inspector sees them, and they report to the task
 * through the pool.
 */
import {
  type ActorLogic,
  type ActorScope,
  type ActorSystem,
  type AnyActorRef,
  createActor,
  type EventObject,
  type Snapshot,
} from 'xstate';
import type { StepEvent, StepInput, StepNotice } from './protocol.js';

export type StepPoolEvent =
  | { readonly type: 'pool.add'; readonly steps: readonly StepInput[] }
  | { readonly type: 'pool.deliver'; readonly to: string; readonly event: StepEvent }
  | StepNotice;

export interface StepPoolInput {
  readonly steps: readonly StepInput[];
}

export type StepPoolSnapshot = Snapshot<undefined> & {
  /** The live step actors, by step id (kept in place: the pool is their only owner). */
  readonly steps: Map<string, AnyActorRef>;
};

export type PersistedStepPool = Snapshot<undefined> & {
  readonly steps: Readonly<Record<string, unknown>>;
};

type PoolScope = ActorScope<StepPoolSnapshot, StepPoolEvent>;

/**
 * The pool's logic type, spelled out so declaration files can name it (XState's default
 * system type parameter is not exported).
 */
export type StepPoolLogic = ActorLogic<
  StepPoolSnapshot,
  StepPoolEvent,
  StepPoolInput,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- XState's own AnyActorSystem is ActorSystem<any>
  ActorSystem<any>,
  EventObject
>;
type StepLogic = Parameters<typeof createActor>[0];

function spawnStep(
  logic: StepLogic,
  scope: PoolScope,
  options: { input?: StepInput; id: string; snapshot?: unknown },
) {
  return createActor(logic, {
    id: options.id,
    src: 'step',
    parent: scope.self,
    ...(options.input ? { input: options.input } : {}),
    ...(options.snapshot === undefined ? {} : { snapshot: options.snapshot as never }),
  } as never) as AnyActorRef;
}

/**
 * Actor logic of a pool of `stepLogic` actors.
 *
 * @example
 * ```ts
 * const task = taskMachine.provide({ actors: { stepPool: createStepPool(myStepMachine) } });
 * ```
 */
export function createStepPool(stepLogic: StepLogic): StepPoolLogic {
  return {
    getInitialSnapshot: (scope, input) => {
      const steps = new Map<string, AnyActorRef>();
      for (const step of input?.steps ?? []) {
        steps.set(step.step.id, spawnStep(stepLogic, scope, { id: step.step.id, input: step }));
      }
      return { status: 'active', output: undefined, error: undefined, steps } as StepPoolSnapshot;
    },
    start: (snapshot) => {
      for (const step of snapshot.steps.values()) step.start();
    },
    transition: (snapshot, event: StepPoolEvent | EventObject, scope) => {
      switch (event.type) {
        case 'xstate.stop':
          for (const step of snapshot.steps.values()) scope.stopChild(step);
          snapshot.steps.clear();
          return { status: 'stopped', output: undefined, error: undefined, steps: snapshot.steps };
        case 'pool.add':
          for (const step of (event as Extract<StepPoolEvent, { type: 'pool.add' }>).steps) {
            if (snapshot.steps.has(step.step.id)) continue;
            const actor = spawnStep(stepLogic, scope, { id: step.step.id, input: step });
            snapshot.steps.set(step.step.id, actor);
            actor.start();
          }
          return snapshot;
        case 'pool.deliver': {
          const { to, event: inner } = event as Extract<StepPoolEvent, { type: 'pool.deliver' }>;
          snapshot.steps.get(to)?.send(inner);
          return snapshot;
        }
        default:
          // A step's notice: the task hears it as if the step were its own child.
          scope.self._parent?.send(event);
          return snapshot;
      }
    },
    getPersistedSnapshot: (snapshot) =>
      ({
        status: snapshot.status,
        output: undefined,
        error: undefined,
        steps: Object.fromEntries([...snapshot.steps].map(([id, step]) => [id, step.getPersistedSnapshot()])),
      }) as PersistedStepPool,
    restoreSnapshot: (persisted, scope) => {
      const saved = persisted as unknown as PersistedStepPool;
      const steps = new Map<string, AnyActorRef>();
      for (const [id, snapshot] of Object.entries(saved.steps)) {
        steps.set(id, spawnStep(stepLogic, scope as PoolScope, { id, snapshot }));
      }
      return { status: 'active', output: undefined, error: undefined, steps } as StepPoolSnapshot;
    },
  };
}
