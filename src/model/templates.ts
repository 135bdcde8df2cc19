/**
 * `{{steps.<id>.output}}` templates inside action fields. An optional path reads into a
 * JSON output: `{{steps.fetch.output.items.0.title}}`. Only `{{steps.` opens a template, so
 * other double braces in a command or message are left alone.
 */
import type { Json } from './json.js';

const TEMPLATE = /\{\{\s*steps\.([^{}]*?)\s*\}\}/g;
const REFERENCE = /^([A-Za-z_][A-Za-z0-9_-]*)\.output((?:\.[A-Za-z0-9_$-]+)*)$/;

export interface TemplateReference {
  /** The template as written, e.g. `{{steps.fetch.output}}`. */
  readonly raw: string;
  /** Where it was found inside the action, e.g. `args.1`. */
  readonly field: string;
  /** The referenced step, when the template is well formed. */
  readonly stepId?: string;
  /** Keys read from the output after `.output`. */
  readonly path: readonly string[];
  /** Why the template is malformed, when it is. */
  readonly problem?: string;
}

/** Every template in the string fields of `value` (recursively; the `kind` key is skipped). */
export function templateReferences(value: unknown, field = ''): TemplateReference[] {
  const found: TemplateReference[] = [];
  visitStrings(value, field, (text, at) => {
    for (const match of text.matchAll(TEMPLATE)) {
      found.push(parseReference(match[0], match[1] ?? '', at));
    }
  });
  return found;
}

function parseReference(raw: string, inner: string, field: string): TemplateReference {
  const parsed = REFERENCE.exec(inner.trim());
  if (!parsed) {
    return {
      raw,
      field,
      path: [],
      problem: `expected {{steps.<id>.output}} or {{steps.<id>.output.<key>}}, got ${raw}`,
    };
  }
  const path = parsed[2] ? parsed[2].slice(1).split('.') : [];
  return { raw, field, stepId: parsed[1]!, path };
}

function visitStrings(value: unknown, field: string, visit: (text: string, field: string) => void): void {
  if (typeof value === 'string') {
    visit(value, field);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      visitStrings(item, field ? `${field}.${index}` : String(index), visit);
    });
    return;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (field === '' && key === 'kind') continue;
      visitStrings(item, field ? `${field}.${key}` : key, visit);
    }
  }
}

/**
 * Replaces every template in the string fields of `value` with the referenced output:
 * strings are inserted as they are, other JSON values (`null` included) as compact JSON.
 * A step without output (`outputOf` returns `undefined`), or a path that leads nowhere, is
 * inserted as an empty string.
 *
 * @example
 * ```ts
 * interpolate({ message: 'Found {{steps.count.output}}' }, () => 3) // { message: 'Found 3' }
 * ```
 */
export function interpolate<T>(value: T, outputOf: (stepId: string) => Json | undefined): T {
  return mapStrings(value, (text) =>
    text.replace(TEMPLATE, (raw, inner: string) => {
      const reference = parseReference(raw, inner, '');
      if (!reference.stepId) return raw;
      let current: unknown = outputOf(reference.stepId);
      for (const key of reference.path) {
        // Own keys only: `.constructor` or `.__proto__` read nothing, never the prototype.
        current =
          current !== null && typeof current === 'object' && Object.hasOwn(current, key)
            ? (current as Record<string, unknown>)[key]
            : undefined;
      }
      if (current === undefined) return '';
      return typeof current === 'string' ? current : JSON.stringify(current);
    }),
  );
}

/** Rewrites templates that read `from` so they read `to` (used when a step is replaced). */
export function renameTemplateStep<T>(value: T, from: string, to: string): T {
  return mapStrings(value, (text) =>
    text.replace(TEMPLATE, (raw, inner: string) => {
      const reference = parseReference(raw, inner, '');
      if (reference.stepId !== from) return raw;
      const path = reference.path.length > 0 ? `.${reference.path.join('.')}` : '';
      return `{{steps.${to}.output${path}}}`;
    }),
  );
}

function mapStrings<T>(value: T, map: (text: string) => string): T {
  if (typeof value === 'string') return map(value) as T;
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, map)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = key === 'kind' ? item : mapStrings(item, map);
    return out as T;
  }
  return value;
}
