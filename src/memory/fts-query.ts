/**
 * Turns free text into an FTS5 query that cannot be a syntax error: the text's words, each
 * quoted as a string, joined with OR (bm25 ranks episodes that match more of them higher).
 * Quotes, parentheses, `*`, `:`, `^`, `-` and the keywords AND / OR / NOT / NEAR in the
 * user's text are never read as FTS5 operators.
 */

/** Most words a query keeps (the first ones). */
const MAX_TERMS = 32;

/**
 * The FTS5 MATCH expression for `text`, or undefined when it has no word to search for.
 *
 * @example
 * ```ts
 * toFtsQuery('fix "login" (OAuth) NOT working*'); // '"fix" OR "login" OR "oauth" OR "not" OR "working"'
 * toFtsQuery('"(*)"'); // undefined
 * ```
 */
export function toFtsQuery(text: string): string | undefined {
  const terms = searchWords(text);
  if (terms.length === 0) return undefined;
  // A word holds only letters, digits and _, so it needs no escaping inside the quotes.
  return terms.map((term) => `"${term}"`).join(' OR ');
}

/**
 * The distinct words of `text` a search looks for (lower case, at most 32): letters, digits
 * and `_` only, so no word can carry a query language's syntax.
 *
 * @example
 * ```ts
 * searchWords('Fix "login" (OAuth)'); // ['fix', 'login', 'oauth']
 * ```
 */
export function searchWords(text: string): string[] {
  if (typeof text !== 'string') return [];
  const words =
    text
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}_]+/gu) ?? [];
  return [...new Set(words)].slice(0, MAX_TERMS);
}
