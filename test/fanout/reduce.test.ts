/**
 * Reductions: zod-validated verdicts per mode, JSON found in untidy answers, exactly one
 * repair call quoting the validation error, labels that name no candidate rejected, and
 * the Markdown and JSON renderings.
 */
import { describe, expect, it } from 'vitest';
import { isTaskvisorError } from '../../src/errors.js';
import type { FanoutClient } from '../../src/fanout/call-model.js';
import { reduceCandidates, reductionMessages, verdictSchema } from '../../src/fanout/reduce.js';
import { renderReductionMarkdown } from '../../src/fanout/render.js';
import type { ChatRequest } from '../../src/llm/chat.js';

/** A client answering from a script, recording what it was asked. */
function scriptedClient(...answers: string[]) {
  const requests: ChatRequest[] = [];
  const client: FanoutClient = {
    chat: async (request) => {
      requests.push(request);
      const text = answers.shift();
      if (text === undefined) throw new Error('no answer scripted');
      return {
        text,
        toolCalls: [],
        usage: { inputTokens: 100, outputTokens: 10 },
        model: 'judge',
        finishReason: 'stop',
      };
    },
  };
  return { client, requests };
}

const candidates = [
  { label: 'gpt-4o#1', text: '7' },
  { label: 'gpt-4o#2', text: '11' },
  { label: 'local', text: '9' },
];
const base = { prompt: 'Name a prime.', candidates, model: 'judge' };

describe('reducing fan-out answers', () => {
  it('gives the candidates by label with their text only', () => {
    const [system, user] = reductionMessages('best_of_n', 'Name a prime.', candidates);
    expect(system!.content).toContain(
      'Every label you name must be one of: "gpt-4o#1", "gpt-4o#2", "local".',
    );
    expect(user!.content).toBe(
      [
        'The task every candidate was given:',
        '<task>',
        'Name a prime.',
        '</task>',
        '',
        '<candidate label="gpt-4o#1">',
        '7',
        '</candidate>',
        '',
        '<candidate label="gpt-4o#2">',
        '11',
        '</candidate>',
        '',
        '<candidate label="local">',
        '9',
        '</candidate>',
        '',
      ].join('\n'),
    );
  });

  it('treats a label that names no candidate as a validation error and repairs it once', async () => {
    const { client, requests } = scriptedClient(
      '{"summary": "s", "winner_label": "gpt-5", "rationale": "r", "recommended_next_step": "n"}',
      'Fixed: {"summary": "s", "winner_label": "gpt-4o#2", "rationale": "r", "recommended_next_step": "n"}',
    );
    const reduction = await reduceCandidates({ ...base, mode: 'best_of_n', client });
    expect(requests).toHaveLength(2);
    expect(reduction.repairedError).toContain(
      '"gpt-5" names no candidate; use one of "gpt-4o#1", "gpt-4o#2", "local"',
    );
    expect(requests[1]!.messages.at(-1)!.content).toContain(reduction.repairedError);
    expect(reduction.verdict).toEqual({
      summary: 's',
      winner_label: 'gpt-4o#2',
      rationale: 'r',
      recommended_next_step: 'n',
    });
    expect(reduction.usage).toEqual({ inputTokens: 200, outputTokens: 20, costUsd: 0 });
  });

  it('gives up after exactly one repair call, with both errors and the usage spent', async () => {
    const { client, requests } = scriptedClient('I like 7.', 'Still prose, sorry.');
    const error = await reduceCandidates({ ...base, mode: 'summarize', client }).catch((e: unknown) => e);
    expect(requests).toHaveLength(2);
    expect(isTaskvisorError(error, 'LLM_BAD_OUTPUT')).toBe(true);
    expect((error as Error).message).toBe(
      'The summarize reducer (model "judge") gave no valid verdict after one repair call: the answer contains no JSON object or array',
    );
    expect((error as { details: unknown }).details).toMatchObject({
      calls: 2,
      usage: { inputTokens: 200, outputTokens: 20, costUsd: 0 },
    });
  });

  it('takes the first object that fits when an answer holds several', async () => {
    const { client, requests } = scriptedClient(
      'Draft: {"summary": "x"}\nFinal:\n```json\n{"summary": "All prime but 9.", "synthesis": "7 and 11 are prime.", "highlights": ["9 = 3 × 3"]}\n```\n{"also": 1}',
    );
    const reduction = await reduceCandidates({ ...base, mode: 'summarize', client });
    expect(requests).toHaveLength(1);
    expect(reduction.calls).toBe(1);
    expect(reduction.markdown).toBe(
      '## Summary\n\nAll prime but 9.\n\n### Synthesis\n\n7 and 11 are prime.\n\n### Highlights\n\n- 9 = 3 × 3\n',
    );
    expect(JSON.parse(reduction.json)).toEqual({
      summary: 'All prime but 9.',
      synthesis: '7 and 11 are prime.',
      highlights: ['9 = 3 × 3'],
    });
  });

  it('rejects a ranking that names a candidate twice or names none', () => {
    const schema = verdictSchema('compare', ['a', 'b']);
    const verdict = { summary: 's', comparison: 'c', recommendation: 'r' };
    expect(schema.safeParse({ ...verdict, ranked_labels: ['a', 'b'] }).success).toBe(true);
    expect(schema.safeParse({ ...verdict, ranked_labels: ['a', 'a'] }).error?.issues[0]?.message).toBe(
      '"a" is ranked more than once',
    );
    expect(schema.safeParse({ ...verdict, ranked_labels: ['c'] }).error?.issues[0]?.message).toBe(
      '"c" names no candidate; use one of "a", "b"',
    );
    expect(schema.safeParse({ ...verdict, ranked_labels: [] }).success).toBe(false);
  });

  it('needs at least one candidate', async () => {
    const { client } = scriptedClient();
    await expect(reduceCandidates({ ...base, candidates: [], mode: 'compare', client })).rejects.toThrowError(
      'A compare reduction needs at least one completed worker, got none; retry a failed worker first',
    );
  });

  it('renders each mode as Markdown', () => {
    expect(
      renderReductionMarkdown({
        mode: 'compare',
        summary: 'Two primes, one not.',
        comparison: '| label | prime |\n|---|---|\n| a | yes |',
        recommendation: 'Use a.',
        ranked_labels: ['a', 'b'],
      }),
    ).toBe(
      '## Comparison\n\nTwo primes, one not.\n\n| label | prime |\n|---|---|\n| a | yes |\n\n### Ranking\n\n1. `a`\n2. `b`\n\n### Recommendation\n\nUse a.\n',
    );
    expect(
      renderReductionMarkdown({
        mode: 'best_of_n',
        summary: 'Both fine.',
        winner_label: 'gpt-4o#2',
        rationale: 'Shorter.',
        recommended_next_step: 'Ship it.',
      }),
    ).toBe(
      '## Best of N\n\n**Winner:** `gpt-4o#2`\n\nBoth fine.\n\n### Rationale\n\nShorter.\n\n### Recommended next step\n\nShip it.\n',
    );
  });
});
