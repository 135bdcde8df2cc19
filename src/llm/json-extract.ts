/**
 * Finds JSON in untidy model answers: fenced blocks, bare objects or arrays surrounded by
 * prose, several values in one answer. Pure.
 */
import { z } from 'zod';

/** A fenced block: opening fence with an optional info string (```json), body, closing fence. */
const FENCE = /```[^\n`]*\n([\s\S]*?)```/g;

/**
 * The JSON values in `text`, in the order they appear: each fenced block whose body is JSON
 * (any language tag), and each bare object or array in the prose around (or inside a fence
 * whose body is not JSON as a whole). Braces inside JSON strings do not confuse it; a value
 * nested in another is not returned separately. Returns `[]` when there is none.
 *
 * @example
 * ```ts
 * extractJson('Sure! ```json\n{"verdict": "a"}\n``` Also {"note": "use {x}"}.');
 * // [{ verdict: 'a' }, { note: 'use {x}' }]
 * ```
 */
export function extractJson(text: string): unknown[] {
  const values: unknown[] = [];
  let cursor = 0;
  for (const match of text.matchAll(FENCE)) {
    collectBare(text.slice(cursor, match.index), values);
    const body = match[1] ?? '';
    const whole = parseJson(body.trim());
    if (whole.ok) values.push(whole.value);
    else collectBare(body, values);
    cursor = match.index + match[0].length;
  }
  collectBare(text.slice(cursor), values);
  return values;
}

/** Pushes every top-level object or array in `segment` that parses as JSON. */
function collectBare(segment: string, into: unknown[]): void {
  let index = 0;
  while (index < segment.length) {
    const char = segment[index];
    if (char === '{' || char === '[') {
      const end = closingIndex(segment, index);
      if (end !== -1) {
        const parsed = parseJson(segment.slice(index, end + 1));
        if (parsed.ok) {
          into.push(parsed.value);
          index = end + 1;
          continue;
        }
      }
    }
    index += 1;
  }
}

/**
 * The index of the bracket closing the one at `start`, skipping brackets inside JSON strings;
 * -1 when brackets are mismatched or never closed.
 */
function closingIndex(text: string, start: number): number {
  const expected: string[] = [];
  let inString = false;
  for (let index = start; index < text.length; index++) {
    const char = text[index];
    if (inString) {
      if (char === '\\') index += 1;
      else if (char === '"') inString = false;
      continue;
    }
    if (char === '"') inString = true;
    else if (char === '{') expected.push('}');
    else if (char === '[') expected.push(']');
    else if (char === '}' || char === ']') {
      if (expected.pop() !== char) return -1;
      if (expected.length === 0) return index;
    }
  }
  return -1;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  if (text === '') return { ok: false };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

export type JsonMatch<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * The first JSON value in `text` (see `extractJson`) that `schema` accepts. When none does,
 * `error` explains why in words fit for a repair prompt: zod's message for the closest
 * candidate (one of the expected shape, with the fewest issues), or that there is no JSON.
 *
 * @example
 * ```ts
 * const Verdict = z.object({ winner: z.string() });
 * const match = firstJsonMatching('I pick ```json\n{"winner": "b"}\n```', Verdict);
 * if (match.ok) console.log(match.value.winner); // "b"
 * else console.log(`Your answer was not valid: ${match.error}. Answer again with only the JSON.`);
 * ```
 */
export function firstJsonMatching<T>(text: string, schema: z.ZodType<T>): JsonMatch<T> {
  const candidates = extractJson(text);
  let best: { position: number; rank: number; error: z.ZodError } | undefined;
  for (const [position, candidate] of candidates.entries()) {
    const result = schema.safeParse(candidate);
    if (result.success) return { ok: true, value: result.data };
    const wrongShape = result.error.issues.some(
      (issue) => issue.path.length === 0 && issue.code === 'invalid_type',
    );
    const rank = wrongShape ? Number.POSITIVE_INFINITY : result.error.issues.length;
    if (!best || rank < best.rank) best = { position, rank, error: result.error };
  }
  if (!best) return { ok: false, error: 'the answer contains no JSON object or array' };
  const { position, error } = best;
  const which =
    candidates.length === 1 ? 'the JSON value' : `JSON value ${position + 1} of ${candidates.length}`;
  return { ok: false, error: `${which} does not match the schema:\n${z.prettifyError(error)}` };
}
