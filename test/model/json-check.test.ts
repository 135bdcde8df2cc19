import { describe, expect, it } from 'vitest';
import { checkJson, formatJsonPath, type JsonCheckLimits } from '../../src/model/json-check.js';
import { previewJson, thrownValueMessage } from '../../src/model/thrown-value.js';
import { nested } from '../support/nested.js';

const limits = { maxDepth: 100 };

function problemOf(value: unknown, options: JsonCheckLimits = limits, root = 'output') {
  const checked = checkJson(value, options, root);
  if (checked.ok) throw new Error(`expected a problem, got ok (${checked.bytes} bytes)`);
  return checked.problem;
}

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

describe('checkJson', () => {
  const notJson: Array<[string, unknown, string, RegExp]> = [
    ['NaN', { a: [1, NaN] }, 'output.a[1]', /is NaN.*use null/],
    ['Infinity', { a: Infinity }, 'output.a', /is Infinity/],
    ['-Infinity', [-Infinity], 'output[0]', /is -Infinity/],
    ['a BigInt', { n: 12n }, 'output.n', /BigInt \(12n\).*String\(\) or Number\(\)/],
    ['a function', { f: () => 1 }, 'output.f', /is a function/],
    ['a symbol', { s: Symbol('x') }, 'output.s', /is a symbol/],
    ['a Map', { m: new Map([[1, 2]]) }, 'output.m', /is a Map.*Object\.fromEntries/],
    ['a Set', { s: new Set([1]) }, 'output.s', /is a Set.*\[\.\.\.set\]/],
    ['a class instance', { p: new Point(1, 2) }, 'output.p', /a Point instance/],
    ['undefined in an array', { list: [1, undefined] }, 'output.list[1]', /undefined in an array/],
    // eslint-disable-next-line no-sparse-arrays -- a hole is what is tested
    ['a hole in an array', [1, , 3], 'output[1]', /undefined in an array/],
    ['a key that needs quoting', { 'a b': { c: NaN } }, 'output["a b"].c', /is NaN/],
  ];
  for (const [name, value, path, message] of notJson) {
    it(`names the path of ${name}`, () => {
      const problem = problemOf(value);
      expect(problem).toMatchObject({ kind: 'value', path });
      expect(problem.kind === 'value' && problem.message).toMatch(message);
    });
  }

  it('finds a circular structure and names where it points back to', () => {
    const value: Record<string, unknown> = { list: [{ id: 1 }] };
    (value.list as Array<Record<string, unknown>>)[0]!.owner = value;
    expect(problemOf(value)).toMatchObject({
      kind: 'value',
      path: 'output.list[0].owner',
      message: expect.stringContaining('refers back to output, a circular structure'),
    });
    const array: unknown[] = [];
    array.push([array]);
    expect(problemOf(array)).toMatchObject({ path: 'output[0][0]' });
  });

  it('accepts a value shared by two members and counts it twice, as JSON writes it', () => {
    const shared = { name: 'x' };
    const value = { a: shared, b: [shared, shared] };
    expect(checkJson(value, limits)).toEqual({ ok: true, bytes: JSON.stringify(value).length });
  });

  it('counts the exact UTF-8 size of the JSON text', () => {
    const values: unknown[] = [
      null,
      true,
      0,
      -0,
      1.5e-7,
      'plain',
      'é ü 日本 🎉',
      'quotes " and \\ and \n\t\u0001',
      { a: undefined, b: 1, c: [null, 'x'], d: {} },
      { when: new Date(0), nested: { list: [[], [{}]] } },
      [1, 'two', { three: [3] }],
    ];
    for (const value of values) {
      expect(checkJson(value, limits), JSON.stringify(value)).toEqual({
        ok: true,
        bytes: Buffer.byteLength(JSON.stringify(value), 'utf8'),
      });
    }
  });

  it('honours toJSON as JSON.stringify does, and checks what it returns', () => {
    expect(checkJson({ when: new Date(0) }, limits).ok).toBe(true);
    expect(problemOf({ odd: { toJSON: () => NaN } })).toMatchObject({ path: 'output.odd' });
  });

  it('stops at the depth limit: the limit itself passes, one more level is named', () => {
    expect(checkJson(nested(100), limits).ok).toBe(true);
    expect(problemOf(nested(101))).toMatchObject({ kind: 'depth', depth: 101 });
  });

  it('walks a value nested 100,000 levels without overflowing the stack', () => {
    const deep = nested(100_000);
    // '{"x":' 99,999 times, '{}', then 99,999 closing braces.
    expect(checkJson(deep, { maxDepth: 200_000 })).toEqual({ ok: true, bytes: 6 * 100_000 - 4 });
    expect(problemOf(deep)).toMatchObject({ kind: 'depth', depth: 101 });
  });

  it('stops as soon as the JSON text passes the size limit', () => {
    const huge = new Array(1_000_000).fill(1);
    expect(problemOf(huge, { maxDepth: 10, maxBytes: 1000 })).toEqual({ kind: 'size', bytes: 1001 });
    expect(problemOf('x'.repeat(5000), { maxDepth: 10, maxBytes: 1000 })).toMatchObject({ kind: 'size' });
  });

  it('reports a getter that throws instead of throwing', () => {
    const value = {
      get broken(): unknown {
        throw new Error('no access');
      },
    };
    expect(problemOf(value)).toMatchObject({
      path: 'output.broken',
      message: 'could not be read: no access',
    });
  });

  it('shortens a long path, keeping both ends', () => {
    const path = Array.from({ length: 40 }, () => 'x');
    expect(formatJsonPath('metadata', path)).toBe('metadata.x.x.x.x.x.x.x.x….(24 more)….x.x.x.x.x.x.x.x');
  });
});

describe('thrown values', () => {
  it('keeps a thrown plain object as JSON', () => {
    expect(thrownValueMessage({ reason: 'quota', detail: { left: 0 } })).toBe(
      'threw a non-Error value: {"reason":"quota","detail":{"left":0}}',
    );
    expect(thrownValueMessage('plain text')).toBe('plain text');
    expect(thrownValueMessage(42)).toBe('threw a non-Error value: 42');
  });

  it('bounds the text and survives cycles, BigInts, functions and deep nesting', () => {
    const cyclic: Record<string, unknown> = { n: 1n, f() {}, big: 'y'.repeat(10_000) };
    cyclic.self = cyclic;
    const text = thrownValueMessage(cyclic);
    expect(text.length).toBeLessThanOrEqual(2_100);
    expect(text).toContain('"n":"1n"');
    expect(text).toContain('"f":"[function f]"');
    expect(text.endsWith('…')).toBe(true);
    const loop: Record<string, unknown> = { id: 1 };
    loop.self = loop;
    expect(previewJson(loop)).toBe('{"id":1,"self":"[seen before]"}');
    expect(previewJson(nested(1_500))).toContain('"[…]"');
    expect(previewJson({ m: new Map(), s: new Set(), n: NaN })).toBe('{"m":"[Map]","s":"[Set]","n":"NaN"}');
  });
});
