import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { extractJson, firstJsonMatching } from '../../src/llm/json-extract.js';

describe('extractJson', () => {
  it('reads a ```json fenced block', () => {
    expect(extractJson('Here you go:\n```json\n{"winner": "a", "score": 3}\n```\nHope it helps.')).toEqual([
      { winner: 'a', score: 3 },
    ]);
  });

  it('reads a fence with no language or another language tag', () => {
    expect(extractJson('```\n[1, 2, 3]\n```')).toEqual([[1, 2, 3]]);
    expect(extractJson('```jsonc\n{"ok": true}\n```')).toEqual([{ ok: true }]);
  });

  it('finds an object inside a fence whose body is not JSON as a whole', () => {
    expect(extractJson('```ts\nconst verdict = {"winner": "b"};\n```')).toEqual([{ winner: 'b' }]);
  });

  it('reads a bare object surrounded by prose', () => {
    expect(extractJson('After comparing both, my verdict is {"winner": "b"} because it is shorter.')).toEqual(
      [{ winner: 'b' }],
    );
  });

  it('returns several objects in the order they appear', () => {
    expect(extractJson('First {"step": 1} then ```json\n{"step": 2}\n``` and finally [{"step": 3}]')).toEqual(
      [{ step: 1 }, { step: 2 }, [{ step: 3 }]],
    );
  });

  it('is not confused by braces, brackets and escaped quotes inside strings', () => {
    const text =
      'Result: {"template": "use {name} and ]", "quote": "she said \\"}\\"", "n": [1, {"x": "{"}]} end';
    expect(extractJson(text)).toEqual([
      { template: 'use {name} and ]', quote: 'she said "}"', n: [1, { x: '{' }] },
    ]);
  });

  it('skips bracketed prose and unbalanced braces to reach the JSON', () => {
    expect(extractJson('[see note] {not json} { "a": 1 } {"b": 2')).toEqual([{ a: 1 }]);
  });

  it('returns an empty list when there is no JSON', () => {
    expect(extractJson('I cannot decide between the two answers.')).toEqual([]);
    expect(extractJson('')).toEqual([]);
  });
});

describe('firstJsonMatching', () => {
  const Verdict = z.object({ winner: z.enum(['a', 'b']), reason: z.string() });

  it('returns the first candidate the schema accepts', () => {
    const text = 'Example shape: {"example": true}. Answer: {"winner": "a", "reason": "complete"}';
    expect(firstJsonMatching(text, Verdict)).toEqual({
      ok: true,
      value: { winner: 'a', reason: 'complete' },
    });
  });

  it("quotes zod's message for the closest candidate when none matches", () => {
    const match = firstJsonMatching('Refs [1]. Verdict: {"winner": "c", "reason": "tie"}', Verdict);

    expect(match.ok).toBe(false);
    if (match.ok) return;
    expect(match.error).toContain('JSON value 2 of 2 does not match the schema');
    expect(match.error).toContain('winner');
    expect(match.error).toContain('"a"');
  });

  it('says when there is no JSON at all', () => {
    expect(firstJsonMatching('No idea.', Verdict)).toEqual({
      ok: false,
      error: 'the answer contains no JSON object or array',
    });
  });
});
