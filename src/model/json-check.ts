/**
 * Is a value JSON, and how big is it? One iterative walk (an explicit stack, never
 * recursion, so no input can overflow the call stack) that finds the first value JSON
 * cannot hold — NaN, Infinity, a BigInt, a function, a symbol, a Map, a Set, a class
 * instance, `undefined` in an array, a circular reference — and names its path, stops at a
 * depth limit, and counts the exact UTF-8 size of the JSON text as it goes (stopping as
 * soon as it passes a size limit). `toJSON()` is honoured as `JSON.stringify` does.
 */

export interface JsonCheckLimits {
  /** Most containers (objects, arrays) nested in one another; the root container is depth 1. */
  readonly maxDepth: number;
  /** Most bytes of JSON text (UTF-8); unlimited when absent. */
  readonly maxBytes?: number;
}

/** Why a value is not JSON, or not JSON within the limits. */
export type JsonProblem =
  /** A value JSON cannot hold, at `path`: `message` says what it is and what to use instead. */
  | { readonly kind: 'value'; readonly path: string; readonly message: string }
  /** A container at `path` deeper than `maxDepth`. */
  | { readonly kind: 'depth'; readonly path: string; readonly depth: number }
  /** The JSON text is longer than `maxBytes` (at least `bytes`, counted so far). */
  | { readonly kind: 'size'; readonly bytes: number };

type Key = string | number;

interface Frame {
  readonly container: object;
  /** Object keys, or undefined for an array. */
  readonly keys: readonly string[] | undefined;
  readonly length: number;
  index: number;
  /** Members written so far (properties whose value is undefined are left out, as JSON does). */
  written: number;
}

/** Path segments shown at each end of a long path (the middle is counted, not spelled out). */
const PATH_ENDS = 8;

function segment(key: Key, first: boolean): string {
  if (typeof key === 'number') return `[${key}]`;
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return first ? key : `.${key}`;
  return `[${JSON.stringify(key.length > 40 ? `${key.slice(0, 39)}…` : key)}]`;
}

/**
 * `value.items[2]["a b"]`: the path of a value below `root`, in JavaScript syntax; a path
 * of more than 16 keys keeps 8 at each end (`a.b….(84 more)….y.z`).
 */
export function formatJsonPath(root: string, path: readonly Key[]): string {
  const shown =
    path.length > 2 * PATH_ENDS ? [...path.slice(0, PATH_ENDS), undefined, ...path.slice(-PATH_ENDS)] : path;
  let out = root;
  for (const key of shown) {
    out += key === undefined ? `….(${path.length - 2 * PATH_ENDS} more)…` : segment(key, out === '');
  }
  return out;
}

/** The byte length of a string's JSON text (quotes and escapes included), in UTF-8. */
function stringBytes(text: string): number {
  const json = JSON.stringify(text);
  let bytes = json.length;
  for (let index = 0; index < json.length; index += 1) {
    const unit = json.charCodeAt(index);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      // A surrogate pair (JSON.stringify escapes lone ones): 4 bytes for 2 code units.
      bytes += 2;
      index += 1;
    } else bytes += 2;
  }
  return bytes;
}

/** What a value JSON cannot hold is, and what to do instead. */
function notJson(value: unknown, inArray: boolean): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value)
        ? undefined
        : `is ${String(value)}, which JSON cannot hold (JSON.stringify would write null); use null, a finite number or a string`;
    case 'bigint':
      return `is a BigInt (${String(value)}n), which JSON cannot hold; convert it with String() or Number()`;
    case 'function':
      return `is a function, which JSON cannot hold; leave it out`;
    case 'symbol':
      return `is a symbol, which JSON cannot hold; leave it out or use a string`;
    case 'undefined':
      return inArray
        ? `is undefined in an array (JSON.stringify would write null); use null or leave the item out`
        : `is undefined, which JSON cannot hold; use null`;
    default:
      break;
  }
  if (value === null || Array.isArray(value)) return undefined;
  const prototype = Object.getPrototypeOf(value) as object | null;
  if (prototype === null || prototype === Object.prototype) return undefined;
  if (value instanceof Map)
    return `is a Map, which JSON cannot hold (JSON.stringify would write {}); convert it with Object.fromEntries(map)`;
  if (value instanceof Set)
    return `is a Set, which JSON cannot hold (JSON.stringify would write {}); convert it with [...set]`;
  const name = (prototype as { constructor?: { name?: unknown } }).constructor?.name;
  const what = typeof name === 'string' && name !== '' ? `a ${name} instance` : 'an object with a prototype';
  return `is ${what}, which JSON cannot hold as it is; copy its fields into a plain object or array`;
}

/** `value` as JSON.stringify sees it: through its `toJSON(key)`, when it has one. */
function throughToJson(value: unknown, key: Key): unknown {
  if (
    ((typeof value === 'object' && value !== null) || typeof value === 'bigint') &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  ) {
    return (value as { toJSON(key: string): unknown }).toJSON(String(key));
  }
  return value;
}

/** Reads a member as JSON.stringify would; a throwing getter or `toJSON()` is a problem. */
function read(get: () => unknown, key: Key): { readonly value: unknown } | { readonly error: string } {
  try {
    return { value: throughToJson(get(), key) };
  } catch (error) {
    return { error: `could not be read: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** What `checkJson` found: the exact size of the JSON text, or why there is none. */
export type JsonCheck =
  { readonly ok: true; readonly bytes: number } | { readonly ok: false; readonly problem: JsonProblem };

/**
 * Whether `value` is JSON within `limits`, and the exact UTF-8 size of its JSON text.
 * `root` names the value in paths (`metadata`, `output`, ...). A value shared by two
 * members is fine (JSON writes it twice, and its size counts twice); a value that contains
 * itself is reported as circular. Properties whose value is `undefined` are left out, as
 * JSON does.
 *
 * @example
 * ```ts
 * checkJson({ a: [1, NaN] }, { maxDepth: 100 }, 'output');
 * // { ok: false, problem: { kind: 'value', path: 'output.a[1]', message: 'is NaN, which JSON cannot hold ...' } }
 * checkJson({ a: 'é' }, { maxDepth: 100 }); // { ok: true, bytes: 10 }
 * ```
 */
export function checkJson(value: unknown, limits: JsonCheckLimits, root = 'value'): JsonCheck {
  const maxBytes = limits.maxBytes ?? Number.POSITIVE_INFINITY;
  const stack: Frame[] = [];
  /** `path[i]`: the key of the member being read in `stack[i]`. */
  const path: Key[] = [];
  /** Open containers, to their index in `stack` (for the path of a circular reference). */
  const open = new Map<object, number>();
  let bytes = 0;
  const fail = (problem: JsonProblem): JsonCheck => ({ ok: false, problem });
  const valueProblem = (message: string): JsonCheck =>
    fail({ kind: 'value', path: formatJsonPath(root, path), message });

  /** Accounts for one value at the current path; pushes a frame for a container. */
  const enter = (item: unknown, inArray: boolean): JsonCheck | undefined => {
    const problem = notJson(item, inArray);
    if (problem !== undefined) return valueProblem(problem);
    if (typeof item === 'string') bytes += stringBytes(item);
    else if (typeof item === 'number') bytes += JSON.stringify(item).length;
    else if (typeof item === 'boolean') bytes += item ? 4 : 5;
    else if (item === null) bytes += 4;
    else {
      const container = item as object;
      const ancestor = open.get(container);
      if (ancestor !== undefined) {
        return valueProblem(
          `refers back to ${formatJsonPath(root, path.slice(0, ancestor))}, a circular structure JSON cannot hold; pass a copy without the cycle`,
        );
      }
      if (stack.length + 1 > limits.maxDepth) {
        return fail({ kind: 'depth', path: formatJsonPath(root, path), depth: stack.length + 1 });
      }
      const keys = Array.isArray(container) ? undefined : Object.keys(container);
      open.set(container, stack.length);
      stack.push({
        container,
        keys,
        length: keys ? keys.length : (container as unknown[]).length,
        index: 0,
        written: 0,
      });
      bytes += 2;
    }
    return bytes > maxBytes ? fail({ kind: 'size', bytes }) : undefined;
  };

  const top = read(() => value, '');
  if ('error' in top) return valueProblem(top.error);
  const first = enter(top.value, false);
  if (first) return first;
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.index >= frame.length) {
      stack.pop();
      open.delete(frame.container);
      path.length = stack.length;
      continue;
    }
    const index = frame.index++;
    const key: Key = frame.keys ? frame.keys[index]! : index;
    path.length = stack.length;
    path[stack.length - 1] = key;
    const member = read(() => (frame.container as Record<Key, unknown>)[key], key);
    if ('error' in member) return valueProblem(member.error);
    if (frame.keys && member.value === undefined) continue;
    if (frame.written > 0) bytes += 1;
    if (frame.keys) bytes += stringBytes(key as string) + 1;
    frame.written += 1;
    const problem = enter(member.value, frame.keys === undefined);
    if (problem) return problem;
  }
  return { ok: true, bytes };
}
