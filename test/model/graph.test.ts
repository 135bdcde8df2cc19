import { describe, expect, it } from 'vitest';
import {
  dependentsIndex,
  findCycle,
  type GraphNode,
  readySteps,
  topologicalOrder,
  transitiveDependencies,
  transitiveDependents,
} from '../../src/model/graph.js';
import { parsePlan } from '../../src/model/parse-plan.js';
import type { Step } from '../../src/model/plan.js';

/** A valid plan of note steps; each entry is `id` or `[id, ...dependsOn]`. */
function stepsOf(...entries: Array<string | [string, ...string[]]>): Step[] {
  const steps = entries.map((entry) => {
    const [id, ...dependsOn] = typeof entry === 'string' ? [entry] : entry;
    return { id, dependsOn, action: { kind: 'note', output: id } };
  });
  return parsePlan({ steps }).steps;
}

/** Raw graph nodes, for graphs `parsePlan` would reject (cycles, unknown ids). */
const node = (id: string, ...dependsOn: string[]): GraphNode => ({ id, dependsOn });

// fetch -> (left, right) -> report, plus an unrelated step.
const diamond = stepsOf('fetch', ['left', 'fetch'], 'other', ['right', 'fetch'], ['report', 'left', 'right']);

describe('readySteps', () => {
  it('returns the steps with no dependencies when nothing has run, in plan order', () => {
    expect(readySteps(diamond, {})).toEqual(['fetch', 'other']);
  });

  it('returns a step once every dependency succeeded', () => {
    expect(readySteps(diamond, { fetch: 'succeeded', other: 'succeeded' })).toEqual(['left', 'right']);
    expect(
      readySteps(diamond, { fetch: 'succeeded', other: 'succeeded', left: 'succeeded', right: 'running' }),
    ).toEqual([]);
    expect(
      readySteps(diamond, { fetch: 'succeeded', other: 'succeeded', left: 'succeeded', right: 'succeeded' }),
    ).toEqual(['report']);
  });

  it('treats a step marked pending like one absent from the states', () => {
    expect(readySteps(diamond, { fetch: 'pending', other: undefined })).toEqual(['fetch', 'other']);
  });

  it('leaves out steps that already started or settled', () => {
    const states = { fetch: 'running', other: 'awaitingConfirmation' } as const;
    expect(readySteps(diamond, states)).toEqual([]);
    expect(readySteps(diamond, { fetch: 'succeeded', other: 'failed', left: 'retrying' })).toEqual(['right']);
  });

  it('does not start a step whose dependency failed, was skipped or was cancelled', () => {
    for (const state of ['failed', 'skipped', 'cancelled', 'interrupted'] as const) {
      expect(readySteps(diamond, { fetch: state, other: 'succeeded' })).toEqual([]);
    }
  });

  it('never starts a step that depends on an unknown id', () => {
    expect(readySteps([node('a'), node('b', 'ghost')], { a: 'succeeded' })).toEqual([]);
  });
});

describe('topologicalOrder', () => {
  it('puts every step after its dependencies', () => {
    expect(topologicalOrder(stepsOf(['b', 'a'], 'a'))).toEqual(['a', 'b']);
    const order = topologicalOrder(diamond);
    for (const step of diamond) {
      for (const dependency of step.dependsOn) {
        expect(order.indexOf(dependency)).toBeLessThan(order.indexOf(step.id));
      }
    }
  });

  it('keeps plan order between steps that could go in either order', () => {
    expect(topologicalOrder(stepsOf('c', 'a', ['b', 'a']))).toEqual(['c', 'a', 'b']);
    expect(topologicalOrder(diamond)).toEqual(['fetch', 'left', 'other', 'right', 'report']);
    expect(topologicalOrder(stepsOf(['z', 'y'], 'x', 'y', ['w', 'x']))).toEqual(['x', 'y', 'z', 'w']);
  });

  it('ignores dependencies on unknown ids', () => {
    expect(topologicalOrder([node('b', 'ghost', 'a'), node('a')])).toEqual(['a', 'b']);
  });

  it('throws an error naming the cycle', () => {
    expect(() => topologicalOrder([node('a', 'b'), node('b', 'c'), node('c', 'a'), node('d')])).toThrow(
      'a -> b -> c -> a',
    );
  });
});

describe('transitiveDependents', () => {
  it('returns every direct and indirect dependent in plan order', () => {
    expect(transitiveDependents(diamond, 'fetch')).toEqual(['left', 'right', 'report']);
    expect(transitiveDependents(diamond, 'left')).toEqual(['report']);
  });

  it('lists a step reached along two paths once', () => {
    const dependents = transitiveDependents(diamond, 'fetch');
    expect(dependents.filter((id) => id === 'report')).toHaveLength(1);
  });

  it('returns plan order even when dependents are listed before their dependencies', () => {
    expect(transitiveDependents(stepsOf(['c', 'b'], ['b', 'a'], 'a'), 'a')).toEqual(['c', 'b']);
  });

  it('returns nothing for a leaf or an unknown id', () => {
    expect(transitiveDependents(diamond, 'report')).toEqual([]);
    expect(transitiveDependents(diamond, 'ghost')).toEqual([]);
  });
});

describe('transitiveDependencies', () => {
  it('returns every direct and indirect dependency, without the step itself', () => {
    expect(transitiveDependencies(diamond, 'report')).toEqual(new Set(['left', 'right', 'fetch']));
    expect(transitiveDependencies(diamond, 'left')).toEqual(new Set(['fetch']));
  });

  it('returns an empty set for a root or an unknown id', () => {
    expect(transitiveDependencies(diamond, 'fetch').size).toBe(0);
    expect(transitiveDependencies(diamond, 'ghost').size).toBe(0);
  });
});

describe('findCycle', () => {
  it('returns undefined for an acyclic graph', () => {
    expect(findCycle(diamond)).toBeUndefined();
    expect(findCycle([])).toBeUndefined();
  });

  it('returns the cycle as a closed path in dependency direction', () => {
    expect(findCycle([node('a', 'b'), node('b', 'c'), node('c', 'a')])).toEqual(['a', 'b', 'c', 'a']);
  });

  it('returns only the cycle, not the path that led to it', () => {
    const cycle = findCycle([node('start', 'x'), node('x', 'y'), node('y', 'z'), node('z', 'x')]);
    expect(cycle).toEqual(['x', 'y', 'z', 'x']);
  });

  it('finds a step that depends on itself', () => {
    expect(findCycle([node('a'), node('loop', 'a', 'loop')])).toEqual(['loop', 'loop']);
  });

  it('ignores dependencies on unknown ids', () => {
    expect(findCycle([node('a', 'ghost'), node('b', 'a', 'phantom')])).toBeUndefined();
    expect(findCycle([node('a', 'ghost', 'b'), node('b', 'a')])).toEqual(['a', 'b', 'a']);
  });
});

describe('dependentsIndex', () => {
  it('maps every step to its direct dependents in plan order', () => {
    expect(Object.fromEntries(dependentsIndex(diamond))).toEqual({
      fetch: ['left', 'right'],
      left: ['report'],
      other: [],
      right: ['report'],
      report: [],
    });
  });

  it('ignores dependencies on unknown ids', () => {
    const index = dependentsIndex([node('a'), node('b', 'a', 'ghost')]);
    expect([...index.keys()]).toEqual(['a', 'b']);
    expect(index.get('a')).toEqual(['b']);
  });

  it('returns the same index for the same step list', () => {
    expect(dependentsIndex(diamond)).toBe(dependentsIndex(diamond));
  });
});

describe('a 10,000-step chain', () => {
  // s0 <- s1 <- ... <- s9999, listed last first so every step comes before its dependency.
  const size = 10_000;
  const ids = Array.from({ length: size }, (_, index) => `s${index}`);
  const chain: GraphNode[] = ids
    .map((id, index) => node(id, ...(index > 0 ? [`s${index - 1}`] : [])))
    .reverse();

  it('orders the whole chain dependencies first', () => {
    expect(topologicalOrder(chain)).toEqual(ids);
  });

  it('finds every dependent of the first step, in plan order', () => {
    const dependents = transitiveDependents(chain, 's0');
    expect(dependents).toHaveLength(size - 1);
    expect(dependents[0]).toBe(`s${size - 1}`);
    expect(dependents.at(-1)).toBe('s1');
  });

  it('finds no cycle and every dependency of the last step', () => {
    expect(findCycle(chain)).toBeUndefined();
    expect(transitiveDependencies(chain, `s${size - 1}`).size).toBe(size - 1);
  });

  it('finds the cycle when the chain is closed', () => {
    const closed = chain.map((step) => (step.id === 's0' ? node('s0', `s${size - 1}`) : step));
    const cycle = findCycle(closed);
    expect(cycle).toHaveLength(size + 1);
    expect(cycle?.[0]).toBe(`s${size - 1}`);
    expect(cycle?.at(-1)).toBe(`s${size - 1}`);
    expect(() => topologicalOrder(closed)).toThrow(/cycle/);
  });
});
