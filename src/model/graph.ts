/**
 * Pure helpers over a plan's dependency graph. They take any `{ id, dependsOn }` list so
 * plans, views and test fixtures can all use them.
 */
import type { StepState } from './states.js';

export interface GraphNode {
  readonly id: string;
  readonly dependsOn: readonly string[];
}

const dependentsCache = new WeakMap<readonly GraphNode[], ReadonlyMap<string, readonly string[]>>();

/** Direct dependents of every step, in plan order. Cached per (immutable) step list. */
export function dependentsIndex(steps: readonly GraphNode[]): ReadonlyMap<string, readonly string[]> {
  const cached = dependentsCache.get(steps);
  if (cached) return cached;
  const index = new Map<string, string[]>();
  for (const step of steps) index.set(step.id, []);
  for (const step of steps) {
    for (const dependency of step.dependsOn) index.get(dependency)?.push(step.id);
  }
  dependentsCache.set(steps, index);
  return index;
}

const positionCache = new WeakMap<readonly GraphNode[], ReadonlyMap<string, number>>();

/** Position of every step in the plan. Cached per step list. */
export function planPositions(steps: readonly GraphNode[]): ReadonlyMap<string, number> {
  const cached = positionCache.get(steps);
  if (cached) return cached;
  const positions = new Map<string, number>();
  steps.forEach((step, index) => {
    positions.set(step.id, index);
  });
  positionCache.set(steps, positions);
  return positions;
}

/**
 * Every step that depends on `id` directly or through other steps, in plan order.
 *
 * @example
 * ```ts
 * transitiveDependents(plan.steps, 'fetch') // ['parse', 'report']
 * ```
 */
export function transitiveDependents(steps: readonly GraphNode[], id: string): string[] {
  const dependents = dependentsIndex(steps);
  const seen = new Set<string>();
  const stack = [...(dependents.get(id) ?? [])];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    for (const dependent of dependents.get(next) ?? []) stack.push(dependent);
  }
  const positions = planPositions(steps);
  return [...seen].sort((a, b) => positions.get(a)! - positions.get(b)!);
}

/** Every step `id` depends on directly or transitively (its ancestors). */
export function transitiveDependencies(steps: readonly GraphNode[], id: string): Set<string> {
  const byId = new Map(steps.map((step) => [step.id, step]));
  const seen = new Set<string>();
  const stack = [...(byId.get(id)?.dependsOn ?? [])];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    for (const dependency of byId.get(next)?.dependsOn ?? []) stack.push(dependency);
  }
  return seen;
}

/**
 * Steps that can start now: not started yet (`pending` or absent from `states`) and every
 * dependency `succeeded`. Plan order.
 *
 * @example
 * ```ts
 * readySteps(plan.steps, { fetch: 'succeeded' }) // ['parse']
 * ```
 */
export function readySteps(
  steps: readonly GraphNode[],
  states: Readonly<Record<string, StepState | undefined>>,
): string[] {
  return steps
    .filter((step) => (states[step.id] ?? 'pending') === 'pending')
    .filter((step) => step.dependsOn.every((dependency) => states[dependency] === 'succeeded'))
    .map((step) => step.id);
}

/**
 * A cycle as a closed path (`['a', 'b', 'a']`), or `undefined` when the graph is acyclic.
 * Dependencies on unknown ids are ignored.
 */
export function findCycle(steps: readonly GraphNode[]): string[] | undefined {
  const search = cycleSearch(steps);
  let next = search.next();
  while (!next.done) next = search.next();
  return next.value;
}

/** `findCycle` as a search that yields every 1,024 steps, so a driver can let the event loop turn. */
export function* cycleSearch(steps: readonly GraphNode[]): Generator<void, string[] | undefined, void> {
  let visited = 0;
  const byId = new Map(steps.map((step) => [step.id, step]));
  const state = new Map<string, 'open' | 'done'>();
  for (const root of steps) {
    if (++visited % 1024 === 0) yield;
    if (state.has(root.id)) continue;
    // Iterative DFS; `path` mirrors the open nodes of the stack.
    const path: string[] = [];
    const stack: Array<{ id: string; next: number }> = [{ id: root.id, next: 0 }];
    state.set(root.id, 'open');
    path.push(root.id);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const dependencies = byId.get(frame.id)?.dependsOn ?? [];
      if (frame.next >= dependencies.length) {
        state.set(frame.id, 'done');
        stack.pop();
        path.pop();
        continue;
      }
      const dependency = dependencies[frame.next++]!;
      if (!byId.has(dependency)) continue;
      const seen = state.get(dependency);
      if (seen === 'open') {
        // Report in dependency direction, reading as "a needs b needs ... needs a".
        const start = path.indexOf(dependency);
        return [...path.slice(start), dependency];
      }
      if (seen === 'done') continue;
      if (++visited % 1024 === 0) yield;
      state.set(dependency, 'open');
      path.push(dependency);
      stack.push({ id: dependency, next: 0 });
    }
  }
  return undefined;
}

/**
 * Ids in an order where every step comes after its dependencies; steps that could go in
 * either order keep their plan order. Throws `Error` on a cycle (use `findCycle` first
 * for a message that names it; `parsePlan` does).
 *
 * @example
 * ```ts
 * topologicalOrder([{ id: 'b', dependsOn: ['a'] }, { id: 'a', dependsOn: [] }]) // ['a', 'b']
 * ```
 */
export function topologicalOrder(steps: readonly GraphNode[]): string[] {
  const positions = planPositions(steps);
  const dependents = dependentsIndex(steps);
  const remaining = new Map<string, number>();
  for (const step of steps) {
    remaining.set(step.id, step.dependsOn.filter((dependency) => positions.has(dependency)).length);
  }
  const heap = new MinHeap();
  for (const step of steps) if (remaining.get(step.id) === 0) heap.push(positions.get(step.id)!);
  const order: string[] = [];
  while (heap.size > 0) {
    const id = steps[heap.pop()]!.id;
    order.push(id);
    for (const dependent of dependents.get(id) ?? []) {
      const left = remaining.get(dependent)! - 1;
      remaining.set(dependent, left);
      if (left === 0) heap.push(positions.get(dependent)!);
    }
  }
  if (order.length !== steps.length) {
    throw new Error(`topologicalOrder: the graph has a cycle (${findCycle(steps)?.join(' -> ') ?? '?'})`);
  }
  return order;
}

/** A binary min-heap of plan positions, so ties resolve in plan order in O(n log n). */
class MinHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  push(value: number): void {
    const items = this.items;
    items.push(value);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (items[parent]! <= value) break;
      items[index] = items[parent]!;
      index = parent;
    }
    items[index] = value;
  }

  pop(): number {
    const items = this.items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        if (left >= items.length) break;
        const right = left + 1;
        const child = right < items.length && items[right]! < items[left]! ? right : left;
        if (items[child]! >= last) break;
        items[index] = items[child]!;
        index = child;
      }
      items[index] = last;
    }
    return top;
  }
}
