/**
 * Verdicts a model can give: the reducer climbs the structured-output ladder (JSON Schema
 * with the labels as an enum → JSON mode → JSON in the text) by what the server accepts,
 * and needs only the deciding field. The real `openai` client against the local server,
 * through `sv.fanout()`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { reduceCandidates } from '../../src/fanout/reduce.js';
import { createLlmClient } from '../../src/llm/client.js';
import { type OpenAiServer, type ScriptedResponse, startOpenAiServer } from '../support/openai-server.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';

const harness = useSupervisorHarness();
let server: OpenAiServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

const usage = { prompt_tokens: 50, completion_tokens: 10 };

function isReducer(body: Record<string, unknown>): boolean {
  const messages = (body['messages'] ?? []) as Array<{ role: string; content: string }>;
  return messages[0]?.role === 'system' && messages[0].content.startsWith('You review answers');
}

const formatOf = (body: Record<string, unknown>) =>
  (body['response_format'] as { type?: string } | undefined)?.type ?? 'text';

async function fanoutWith(reducer: (body: Record<string, unknown>) => ScriptedResponse) {
  server = await startOpenAiServer({
    handler: (body) =>
      isReducer(body) ? reducer(body) : { text: `answer from ${String(body['model'])}`, usage },
  });
  const sv = await harness.open({
    db: harness.dbPath(),
    llm: { baseURL: server.baseURL, apiKey: 'test', model: 'gpt-4o', maxRetries: 0 },
    ids: sequentialIds(),
  });
  const run = await sv.fanout({
    prompt: 'Name a prime',
    targets: ['gpt-4o', 'o3-mini'],
    reduce: { mode: 'best_of_n' },
  });
  const result = await run.done;
  const reducerRequests = server.chatRequests.filter((request) => isReducer(request.body));
  return { result, reducerRequests };
}

const refused = (type: string): ScriptedResponse => ({
  status: 400,
  error: { message: `response_format '${type}' is not supported`, type: 'invalid_request_error' },
});

describe('the reducer on the structured-output ladder', () => {
  it('asks with a JSON Schema whose labels are an enum and only the deciding field required', async () => {
    const { result, reducerRequests } = await fanoutWith(() => ({
      text: JSON.stringify({ winner_label: 'o3-mini', rationale: 'shorter' }),
      usage,
    }));
    expect(result.phase).toBe('completed');
    expect(reducerRequests).toHaveLength(1);
    const format = reducerRequests[0]!.body['response_format'] as {
      type: string;
      json_schema: { schema: { properties: Record<string, { enum?: string[] }>; required: string[] } };
    };
    expect(format.type).toBe('json_schema');
    expect(format.json_schema.schema.required).toEqual(['winner_label']);
    expect(format.json_schema.schema.properties['winner_label']!.enum).toEqual(['gpt-4o', 'o3-mini']);
  });

  it('falls back to JSON mode with a server that supports only JSON mode', async () => {
    const { result, reducerRequests } = await fanoutWith((body) => {
      const format = formatOf(body);
      if (format !== 'json_object') return refused(format);
      return {
        text: JSON.stringify({
          summary: 'both prime',
          winner_label: 'gpt-4o',
          rationale: 'first',
          recommended_next_step: 'use it',
        }),
        usage,
      };
    });
    expect(result.phase).toBe('completed');
    expect(reducerRequests.map((request) => formatOf(request.body))).toEqual(['json_schema', 'json_object']);
    const output = result.outputs['fanout'] as { reduction: { verdict: unknown; calls: number } };
    expect(output.reduction.verdict).toEqual({
      summary: 'both prime',
      winner_label: 'gpt-4o',
      rationale: 'first',
      recommended_next_step: 'use it',
    });
    expect(output.reduction.calls).toBe(1);
  });

  it('accepts a best_of_n verdict of only winner_label and rationale, and renders what it has', async () => {
    const { result, reducerRequests } = await fanoutWith(() => ({
      text: JSON.stringify({ winner_label: 'o3-mini', rationale: 'shorter and correct' }),
      usage,
    }));
    expect(result.phase).toBe('completed');
    expect(reducerRequests).toHaveLength(1); // no repair turn
    const output = result.outputs['fanout'] as {
      reduction: { verdict: unknown; markdown: string; calls: number };
    };
    expect(output.reduction.verdict).toEqual({ winner_label: 'o3-mini', rationale: 'shorter and correct' });
    expect(output.reduction.markdown).toBe(
      '## Best of N\n\n**Winner:** `o3-mini`\n\n### Rationale\n\nshorter and correct\n',
    );
  });

  it('reaches JSON in the text when the server refuses both response formats', async () => {
    server = await startOpenAiServer({
      handler: (body) => {
        const format = formatOf(body);
        if (format !== 'text') return refused(format);
        return { text: 'I rank them: {"ranked_labels": ["b", "a"], "summary": ""}', usage };
      },
    });
    const client = createLlmClient({
      baseURL: server.baseURL,
      apiKey: 'test',
      model: 'judge',
      maxRetries: 0,
    });
    const reduction = await reduceCandidates({
      mode: 'compare',
      prompt: 'Name a prime',
      candidates: [
        { label: 'a', text: '9' },
        { label: 'b', text: '7' },
      ],
      client,
      model: 'judge',
    });
    expect(server.chatRequests.map((request) => formatOf(request.body))).toEqual([
      'json_schema',
      'json_object',
      'text',
    ]);
    // The blank summary counts as absent; the recommendation falls back to the first ranked.
    expect(reduction.verdict).toEqual({ ranked_labels: ['b', 'a'] });
    expect(reduction.markdown).toBe(
      '## Comparison\n\n### Ranking\n\n1. `b`\n2. `a`\n\n### Recommendation\n\nUse `b` (ranked first).\n',
    );
  });
});
