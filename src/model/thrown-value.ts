/**
 * A thrown value that is not an `Error` (`throw { reason, detail }`, `throw 'quota'`), kept
 * for a step's error: its content as bounded JSON text, never `"[object Object]"`.
 */

/** How many characters of a thrown value a step's error keeps. */
export const THROWN_VALUE_CHARS = 2_000;

/** Nesting kept in the text; deeper containers are written as "[…]". */
const PREVIEW_DEPTH = 20;

function describeNonJson(value: unknown): unknown {
  switch (typeof value) {
    case 'bigint':
      return `${String(value)}n`;
    case 'function':
      return `[function ${value.name || 'anonymous'}]`;
    case 'symbol':
      return String(value);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'undefined':
      return '[undefined]';
    default:
      return value;
  }
}

/**
 * `value` as JSON text of at most `maxChars` characters: values JSON cannot hold are
 * written as strings saying what they were (`"12n"`, `"NaN"`, `"[function f]"`, `"[Map]"`,
 * `"[seen before]"`), containers nested past 20 levels as `"[…]"`, a longer text is cut with `…`.
 *
 * @example
 * ```ts
 * previewJson({ reason: 'quota', detail: { left: 0 } }); // '{"reason":"quota","detail":{"left":0}}'
 * ```
 */
export function previewJson(value: unknown, maxChars = THROWN_VALUE_CHARS): string {
  const depths = new Map<unknown, number>();
  let text: string;
  try {
    text =
      JSON.stringify(value, function (this: unknown, _key: string, item: unknown) {
        const described = describeNonJson(item);
        if (described === null || typeof described !== 'object') return described;
        const depth = (depths.get(this) ?? 0) + 1;
        if (depths.has(described)) return '[seen before]';
        if (depth > PREVIEW_DEPTH) return '[…]';
        if (described instanceof Map) return '[Map]';
        if (described instanceof Set) return '[Set]';
        depths.set(described, depth);
        return described;
      }) ?? String(value);
  } catch (error) {
    text = `[unreadable: ${error instanceof Error ? error.message : String(error)}]`;
  }
  return text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text;
}

/**
 * The message of a step error for a thrown non-Error: a string as it is, anything else as
 * bounded JSON (see `previewJson`).
 *
 * @example
 * ```ts
 * thrownValueMessage({ reason: 'quota', detail: 'no credits left' });
 * // 'threw a non-Error value: {"reason":"quota","detail":"no credits left"}'
 * ```
 */
export function thrownValueMessage(value: unknown): string {
  if (typeof value === 'string') {
    return value.length > THROWN_VALUE_CHARS ? `${value.slice(0, THROWN_VALUE_CHARS - 1)}…` : value;
  }
  return `threw a non-Error value: ${previewJson(value)}`;
}
