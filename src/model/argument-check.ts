/**
 * Checking one argument of a public method against its zod schema, with an error that
 * names the method, the argument (and the field inside it), the bad value and its type, and
 * what is expected: `approvePlan: options.by must be a string, got 42 (number).`
 *
 * Codes: the argument itself is wrong (not a string, not an object) — `INVALID_ARGUMENT`;
 * a field inside an object argument is wrong or unknown — `INVALID_OPTION`.
 */
import type { z } from 'zod';
import { TaskvisorError } from '../errors.js';
import { formatJsonPath } from './json-check.js';
import { didYouMean } from './suggest.js';
import { previewJson } from './thrown-value.js';

/** What a value is, for a message: `42 (number)`, `"x" (string)`, `a function`, `{"a":1} (object)`. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `${JSON.stringify(value.length > 60 ? `${value.slice(0, 59)}…` : value)} (string)`;
    case 'number':
      return `${String(value)} (number)`;
    case 'bigint':
      return `${String(value)}n (bigint)`;
    case 'boolean':
      return `${String(value)} (boolean)`;
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    case 'symbol':
      return `${String(value)} (symbol)`;
    default:
      break;
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return `${previewJson(value, 60)} (array)`;
  const prototype = Object.getPrototypeOf(value) as object | null;
  if (prototype === null || prototype === Object.prototype) return `${previewJson(value, 60)} (object)`;
  const name = (prototype as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? `a ${name}` : 'an object with a prototype';
}

/** The value at `path` below `root` (undefined where the path leads nowhere or a getter throws). */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    try {
      node = (node as Record<PropertyKey, unknown>)[key];
    } catch {
      return undefined;
    }
  }
  return node;
}

export interface ArgumentSite {
  /** The method, as the caller wrote it: `approvePlan`, `memory.search`. */
  readonly method: string;
  /** The argument's name: `runId`, `options`. */
  readonly name: string;
  /** What the argument looks like, for unknown fields: `{ by?, note? }`. */
  readonly shape?: string;
}

/**
 * The error for the first issue zod found in an argument. Issue messages of our schemas
 * are phrases that start with "must" (`must be a non-empty string`); zod's own are quoted
 * after "is invalid".
 */
export function argumentError(site: ArgumentSite, issue: z.core.$ZodIssue, value: unknown): TaskvisorError {
  const where = formatJsonPath(site.name, issue.path as ReadonlyArray<string | number>);
  if (issue.code === 'unrecognized_keys') {
    const known = site.shape ? `; ${site.name} takes ${site.shape}` : '';
    const names = issue.keys.map((key) => JSON.stringify(key)).join(', ');
    const hint = site.shape && issue.keys[0] ? didYouMean(issue.keys[0], fieldsOf(site.shape)) : '';
    return new TaskvisorError(
      'INVALID_OPTION',
      `${site.method}: ${where} has no field ${names}${hint}${known}.`,
      { method: site.method, argument: site.name, path: where, unknown: issue.keys },
    );
  }
  const bad = valueAt(value, issue.path);
  const phrase = issue.message.startsWith('must') ? issue.message : `is invalid (${issue.message})`;
  const suggestion =
    typeof bad === 'string' && issue.code === 'invalid_value'
      ? didYouMean(
          bad,
          issue.values.filter((option): option is string => typeof option === 'string'),
        )
      : '';
  return new TaskvisorError(
    issue.path.length === 0 ? 'INVALID_ARGUMENT' : 'INVALID_OPTION',
    `${site.method}: ${where} ${phrase}, got ${describeValue(bad)}${suggestion}.`,
    { method: site.method, argument: site.name, path: where },
  );
}

/** `{ by?, note? }` → `['by', 'note']`. */
function fieldsOf(shape: string): string[] {
  return [...shape.matchAll(/([A-Za-z$_][A-Za-z0-9$_]*)\??\s*[,}:]/g)].map((match) => match[1]!);
}

/**
 * `value` parsed by `schema`, or the `TaskvisorError` for its first issue (see `argumentError`).
 *
 * @example
 * ```ts
 * const runId = checkArgument(RunIdSchema, input, { method: 'cancel', name: 'runId' });
 * ```
 */
export function checkArgument<T>(schema: z.ZodType<T>, value: unknown, site: ArgumentSite): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw argumentError(site, result.error.issues[0]!, value);
}
