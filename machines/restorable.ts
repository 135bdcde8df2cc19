/**
 * XState spawns children from input only. `restorable(machine)` is the same machine logic
 * whose input is either `{ create: input }` (a fresh actor) or `{ restore: persisted }` (an
 * actor restored from `getPersistedSnapshot()`, children included), so a running parent
 * can adopt an actor that another process persisted.
 */
import type { ActorLogic, ActorScope, AnyStateMachine, EventFrom, InputFrom, SnapshotFrom } from 'xstate';

export type SpawnInput<TInput> = { readonly create: TInput } | { readonly restore: unknown };

export type RestorableLogic<TMachine extends AnyStateMachine> = TMachine &
  ActorLogic<SnapshotFrom<TMachine>, EventFrom<TMachine>, SpawnInput<InputFrom<TMachine>>>;

export function restorable<TMachine extends AnyStateMachine>(machine: TMachine): RestorableLogic<TMachine> {
  // Everything else (transition, start, config for inspection) is the machine's own.
  const logic = Object.create(machine) as TMachine;
  Object.defineProperty(logic, 'getInitialSnapshot', {
    value: (
      scope: ActorScope<SnapshotFrom<TMachine>, EventFrom<TMachine>>,
      input: SpawnInput<InputFrom<TMachine>>,
    ) =>
      'restore' in input
        ? machine.restoreSnapshot(input.restore as never, scope as never)
        : machine.getInitialSnapshot(scope as never, input.create),
  });
  return logic as RestorableLogic<TMachine>;
}
