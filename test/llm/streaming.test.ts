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

describe('a streaming chat call', () => {
  it('assembles the text from its deltas and takes usage from the final chunk', async () => {
    const { llm, usage } = clientFor(server);
    server.script({
      text: 'The quick brown fox',
      textChunks: ['The', ' quick', ' brown', ' fox'],
      usage: { prompt_tokens: 20, completion_tokens: 4 },
    });

    const result = await llm.chat({ messages: [{ role: 'user', content: 'Say it' }], stream: true });

    expect(result).toEqual({
      text: 'The quick brown fox',
      toolCalls: [],
      usage: { inputTokens: 20, outputTokens: 4 },
      model: 'test-model',
      finishReason: 'stop',
    });
    expect(usage).toEqual([{ model: 'test-model', inputTokens: 20, outputTokens: 4 }]);
  });

  it('asks the server to include usage in the stream', async () => {
    const { llm } = clientFor(server);
    server.script({ text: 'ok' });

    await llm.chat({ messages: [{ role: 'user', content: 'Hi' }], stream: true });

    expect(server.chatRequests[0]?.body).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('reports a stream that ended without a finish reason as unknown', async () => {
    const { llm } = clientFor(server);
    server.script({ text: 'partial', finishReason: null });

    const result = await llm.chat({ messages: [{ role: 'user', content: 'Hi' }], stream: true });

    expect(result.text).toBe('partial');
    expect(result.finishReason).toBe('unknown');
  });
});
