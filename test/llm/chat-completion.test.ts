import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startOpenAiServer, type OpenAiServer } from '../support/openai-server.js';
import { clientFor } from './harness.js';

let server: OpenAiServer;
beforeEach(async () => {
  server = await startOpenAiServer();
});
afterEach(async () => {
  await server.close();
});

describe('a non-streaming chat call', () => {
  it('returns the text, usage, model and finish reason the server sent', async () => {
    const { llm, usage } = clientFor(server);
    server.script({
      text: 'Paris.',
      model: 'test-model-2024-08-06',
      usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
    });

    const result = await llm.chat({ messages: [{ role: 'user', content: 'Capital of France?' }] });

    expect(result).toEqual({
      text: 'Paris.',
      toolCalls: [],
      usage: { inputTokens: 12, outputTokens: 3 },
      model: 'test-model-2024-08-06',
      finishReason: 'stop',
    });
    expect(usage).toEqual([{ model: 'test-model', inputTokens: 12, outputTokens: 3 }]);
  });

  it('sends the model, messages, token limit and temperature with the API key as a bearer token', async () => {
    const { llm } = clientFor(server);
    server.script({ text: 'ok' });

    await llm.chat({
      model: 'other-model',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      maxTokens: 64,
      temperature: 0.2,
    });

    const [request] = server.chatRequests;
    expect(request?.headers['authorization']).toBe('Bearer test-key');
    expect(request?.body).toEqual({
      model: 'other-model',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      max_completion_tokens: 64,
      temperature: 0.2,
      stream: false,
    });
  });

  it('sends the token limit as max_tokens when the server needs the older field', async () => {
    const { llm } = clientFor(server, { maxTokensField: 'max_tokens' });
    server.script({ text: 'ok' });

    await llm.chat({ messages: [{ role: 'user', content: 'Hi' }], maxTokens: 10 });

    expect(server.chatRequests[0]?.body).toMatchObject({ max_tokens: 10 });
    expect(server.chatRequests[0]?.body).not.toHaveProperty('max_completion_tokens');
  });

  it('reports the finish reason when the answer was cut at the token limit', async () => {
    const { llm } = clientFor(server);
    server.script({ text: 'The answer is', finishReason: 'length' });

    const result = await llm.chat({ messages: [{ role: 'user', content: 'Explain' }], maxTokens: 3 });

    expect(result.finishReason).toBe('length');
    expect(result.text).toBe('The answer is');
  });
});
