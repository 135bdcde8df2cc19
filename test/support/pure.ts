/**
 * Pure stepping of XState machines for tests: like `transition()`, but it also reports
 * which transition definitions fired (from the `@xstate.microstep` inspection events) and
 * turns the `sendTo` / `sendParent` actions it returns into plain messages.
 */
import {
  type ActorScope,
  type AnyActorRef,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyTransitionDefinition,
  createActor,
  type EventObject,
  fromCallback,
} from 'xstate';

export interface Message {
  /** A child id, or `parent`. */
  readonly to: string;
  readonly event: EventObject;
}

export interface PureResult {
  readonly snapshot: AnyMachineSnapshot;
  readonly messages: readonly Message[];
  readonly transitions: readonly AnyTransitionDefinition[];
}

interface ExecutableAction {
  readonly type: string;
  readonly params?: { to?: unknown; targetId?: string; event?: EventObject };
}

/** One reusable scope per machine; every call is still pure. */
export class PureRunner {
  private readonly scope: ActorScope<AnyMachineSnapshot, EventObject>;
  private readonly parent: AnyActorRef;
  private fired: AnyTransitionDefinition[] = [];
  private actions: ExecutableAction[] = [];

  constructor(readonly machine: AnyStateMachine) {
    this.parent = createActor(fromCallback(() => {}));
    const self = createActor(machine, { parent: this.parent });
    self.system.inspect((event) => {
      if (event.type === '@xstate.microstep') this.fired.push(...event._transitions);
    });
    this.scope = {
      self,
      defer: () => {},
      id: '',
      logger: () => {},
      sessionId: '',
      stopChild: () => {},
      system: self.system,
      emit: () => {},
      actionExecutor: (action: ExecutableAction) => {
        this.actions.push(action);
      },
    } as unknown as ActorScope<AnyMachineSnapshot, EventObject>;
  }

  initial(input: unknown): PureResult {
    return this.run(() => this.machine.getInitialSnapshot(this.scope as never, input) as AnyMachineSnapshot);
  }

  next(snapshot: AnyMachineSnapshot, event: EventObject): PureResult {
    return this.run(
      () => this.machine.transition(snapshot as never, event, this.scope as never) as AnyMachineSnapshot,
    );
  }

  private run(step: () => AnyMachineSnapshot): PureResult {
    this.fired = [];
    this.actions = [];
    const snapshot = step();
    const messages: Message[] = [];
    for (const action of this.actions) {
      if (action.type !== 'xstate.sendTo' || !action.params?.event) continue;
      const to = action.params.to === this.parent ? 'parent' : action.params.targetId;
      if (to === undefined)
        throw new Error(`sendTo without a target id: ${JSON.stringify(action.params.event)}`);
      messages.push({ to, event: action.params.event });
    }
    return { snapshot, messages, transitions: this.fired };
  }
}

/** Every transition definition of a machine: each state's `on`/invoke transitions and `always`. */
export function allTransitions(machine: AnyStateMachine): AnyTransitionDefinition[] {
  const out: AnyTransitionDefinition[] = [];
  const visit = (node: AnyStateMachine['root']) => {
    for (const list of node.transitions.values()) out.push(...list);
    if (node.always) out.push(...node.always);
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  return out;
}

/** Every state node id but the root's. */
export function allStateIds(machine: AnyStateMachine): string[] {
  const out: string[] = [];
  const visit = (node: AnyStateMachine['root']) => {
    for (const child of Object.values(node.states)) {
      out.push(child.id);
      visit(child);
    }
  };
  visit(machine.root);
  return out;
}

/** A readable name for a transition: `step.running --xstate.error.actor.attempt[2]--> step.failed`. */
export function describeTransition(machine: AnyStateMachine, transition: AnyTransitionDefinition): string {
  const source = transition.source.id;
  const event = transition.eventType || '(always)';
  const list =
    transition.eventType === ''
      ? (transition.source.always ?? [])
      : (transition.source.transitions.get(transition.eventType) ?? []);
  const index = list.indexOf(transition);
  const targets = transition.target?.map((node) => node.id).join(',') ?? '(self)';
  return `${source} --${event}${list.length > 1 ? `[${index}]` : ''}--> ${targets}`.replace(
    `${machine.id}.`,
    '',
  );
}
