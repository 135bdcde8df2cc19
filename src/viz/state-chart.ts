/**
 * Renders a machine as a Mermaid `stateDiagram-v2` (GitHub draws it) and as a
 * `createMachine` config in JSON (for Stately Studio's import), straight from its state
 * nodes, so a diagram can never disagree with the code.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

interface Edge {
  readonly source: AnyStateNode;
  readonly targets: readonly AnyStateNode[];
  readonly transition: AnyTransitionDefinition;
}

/** `xstate.done.actor.attempt` → `done(attempt)`; the empty event of `always` → `always`. */
export function eventLabel(eventType: string): string {
  if (eventType === '') return 'always';
  for (const [prefix, name] of [
    ['xstate.done.actor.', 'done'],
    ['xstate.error.actor.', 'error'],
  ] as const) {
    if (eventType.startsWith(prefix)) return `${name}(${eventType.slice(prefix.length)})`;
  }
  return eventType;
}

/** A guard as words: `hasPlan and needsApproval`, `not hasPlan`. */
export function guardLabel(guard: unknown): string | undefined {
  if (guard === undefined) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && guard !== null && 'type' in guard)
    return String((guard as { type: unknown }).type);
  if (typeof guard === 'function') {
    // XState's and()/or()/not() are functions named after themselves, holding `guards`.
    const composite = guard as { name: string; guards?: unknown };
    if (!('guards' in composite)) return 'inline guard';
    const parts = Array.isArray(composite.guards)
      ? composite.guards.map(guardLabel)
      : [guardLabel(composite.guards)];
    if (composite.name === 'and') return parts.join(' and ');
    if (composite.name === 'or') return parts.join(' or ');
    if (composite.name === 'not') return `not ${parts[0]}`;
    return 'inline guard';
  }
  return 'guard';
}

/** Action names; inline `assign`s read as `assign`. */
export function actionLabels(actions: readonly unknown[]): string[] {
  return actions.map((action) => {
    if (typeof action === 'string') return action;
    if (action && typeof action === 'object' && 'type' in action)
      return String((action as { type: unknown }).type);
    if (typeof action === 'function') {
      const type = (action as { type?: string }).type ?? 'inline';
      return type.replace(/^xstate\./, '');
    }
    return 'action';
  });
}

function children(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states);
}

/** A Mermaid-safe id for a state node (`running.active` → `running_active`). */
function mermaidId(node: AnyStateNode): string {
  return node.path.join('_');
}

function edgesOf(node: AnyStateNode): Edge[] {
  const out: Edge[] = [];
  for (const list of node.transitions.values()) {
    for (const transition of list) out.push({ source: node, targets: transition.target ?? [], transition });
  }
  for (const transition of node.always ?? [])
    out.push({ source: node, targets: transition.target ?? [], transition });
  return out;
}

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return children(node).flatMap((child) => [child, ...allNodes(child)]);
}

function edgeLabel(transition: AnyTransitionDefinition): string {
  const guard = guardLabel(transition.guard);
  return `${eventLabel(transition.eventType)}${guard ? ` [${guard}]` : ''}`;
}

/**
 * The machine as a Mermaid state diagram. Transitions defined on the machine itself (such
 * as `run.cancel` from any state) are drawn from every top-level state that is not final.
 *
 * @example
 * ```ts
 * console.log(toMermaid(taskMachine));
 * ```
 */
export function toMermaid(machine: AnyStateMachine): string {
  const lines = ['stateDiagram-v2'];
  const render = (node: AnyStateNode, indent: string) => {
    const states = children(node);
    const initial = node.initial?.target[0];
    if (initial) lines.push(`${indent}[*] --> ${mermaidId(initial)}`);
    for (const child of states) {
      if (child.path.length > 1) lines.push(`${indent}state "${child.key}" as ${mermaidId(child)}`);
      if (children(child).length > 0) {
        lines.push(`${indent}state ${mermaidId(child)} {`);
        render(child, `${indent}  `);
        lines.push(`${indent}}`);
      }
      for (const invoke of child.invoke) {
        lines.push(
          `${indent}note right of ${mermaidId(child)} : invokes ${String(invoke.src)} (id ${invoke.id})`,
        );
      }
    }
    for (const child of states) {
      for (const edge of edgesOf(child)) {
        for (const target of edge.targets) {
          lines.push(`${indent}${mermaidId(child)} --> ${mermaidId(target)} : ${edgeLabel(edge.transition)}`);
        }
      }
      if (child.type === 'final') lines.push(`${indent}${mermaidId(child)} --> [*]`);
    }
  };
  render(machine.root, '  ');
  for (const edge of edgesOf(machine.root)) {
    for (const target of edge.targets) {
      for (const source of children(machine.root)) {
        if (source.type === 'final' || source === target) continue;
        lines.push(`  ${mermaidId(source)} --> ${mermaidId(target)} : ${edgeLabel(edge.transition)}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Transitions that change context or send messages without changing state, as table rows. */
export function internalTransitions(machine: AnyStateMachine): Array<{
  state: string;
  event: string;
  guard: string;
  actions: string;
}> {
  return [machine.root, ...allNodes(machine.root)].flatMap((node) =>
    edgesOf(node)
      .filter((edge) => edge.targets.length === 0)
      .map((edge) => ({
        state: node === machine.root ? '(any)' : node.path.join('.'),
        event: eventLabel(edge.transition.eventType),
        guard: guardLabel(edge.transition.guard) ?? '',
        actions: actionLabels(edge.transition.actions).join(', '),
      })),
  );
}

type TransitionConfig = { target?: string; guard?: string; actions?: string[]; reenter?: true };

function transitionConfig(transition: AnyTransitionDefinition): TransitionConfig {
  const config: TransitionConfig = {};
  if (transition.target?.length) config.target = transition.target.map((node) => `#${node.id}`).join(' ');
  const guard = guardLabel(transition.guard);
  if (guard) config.guard = guard;
  const actions = actionLabels(transition.actions);
  if (actions.length > 0) config.actions = actions;
  if (transition.reenter) config.reenter = true;
  return config;
}

/**
 * The machine as a `createMachine` config (JSON): states, events, guards and actions by
 * name, invokes with their `onDone`/`onError`. Paste it into Stately Studio's import.
 */
export function toStudioConfig(machine: AnyStateMachine): Record<string, unknown> {
  const build = (node: AnyStateNode): Record<string, unknown> => {
    const config: Record<string, unknown> = {};
    if (node === machine.root) config.id = machine.id;
    if (node.type === 'final') config.type = 'final';
    if (node.initial?.target[0]) config.initial = node.initial.target[0].key;
    const invokeIds = new Map(node.invoke.map((invoke) => [invoke.id, invoke]));
    const on: Record<string, TransitionConfig[]> = {};
    const invokes = node.invoke.map(
      (invoke) => ({ id: invoke.id, src: String(invoke.src) }) as Record<string, unknown>,
    );
    for (const [eventType, list] of node.transitions) {
      const configs = list.map(transitionConfig);
      const match = /^xstate\.(done|error)\.actor\.(.+)$/.exec(eventType);
      const invoke = match ? invokes.find((candidate) => candidate.id === match[2]) : undefined;
      if (match && invoke && invokeIds.has(match[2]!))
        invoke[match[1] === 'done' ? 'onDone' : 'onError'] = configs;
      else on[eventType] = configs;
    }
    if (invokes.length > 0) config.invoke = invokes;
    if (node.always?.length) config.always = node.always.map(transitionConfig);
    if (Object.keys(on).length > 0) config.on = on;
    const states = children(node);
    if (states.length > 0)
      config.states = Object.fromEntries(states.map((child) => [child.key, build(child)]));
    return config;
  };
  return build(machine.root);
}

export interface MachineDocumentOptions {
  readonly title: string;
  readonly summary: string;
  readonly sourcePath: string;
}

/** The Markdown page for one machine: summary, diagram, internal transitions, Studio JSON. */
export function machineDocument(machine: AnyStateMachine, options: MachineDocumentOptions): string {
  const rows = internalTransitions(machine);
  const table =
    rows.length === 0
      ? ''
      : [
          '## Transitions that keep the state',
          '',
          'These update context or message other actors without leaving the state.',
          '',
          '| state | event | guard | actions |',
          '|---|---|---|---|',
          ...rows.map((row) => `| ${row.state} | \`${row.event}\` | ${row.guard} | ${row.actions} |`),
          '',
        ].join('\n');
  return [
    `# ${options.title}`,
    '',
    `<!-- generated by \`npm run viz\` from ${options.sourcePath}; do not edit -->`,
    '',
    options.summary,
    '',
    '```mermaid',
    toMermaid(machine).trimEnd(),
    '```',
    '',
    table,
    '## Stately Studio',
    '',
    `The machine's \`createMachine\` config is in [${machine.id}.machine.json](./${machine.id}.machine.json): guards, actions and actors are named, as in the source. Import it into Stately Studio (paste it into \`createMachine(...)\` in the code import) to explore the machine or simulate it.`,
    '',
  ].join('\n');
}
