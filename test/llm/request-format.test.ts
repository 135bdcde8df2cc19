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

const verdictSchema = {
  type: 'object',
  properties: { winner: { type: 'string' }, reason: { type: 'string' } },
  required: ['winner', 'reason'],
  additionalProperties: false,
};

describe('request formats', () => {
  it('sends a json_schema response format as the OpenAI API expects', async () => {
    const { llm } = clientFor(server);
    server.script({ text: '{"winner":"a","reason":"shorter"}' });

    await llm.chat({
      messages: [{ role: 'user', content: 'Compare' }],
      responseFormat: { type: 'json_schema', name: 'verdict', schema: verdictSchema, strict: true },
    });

    expect(server.chatRequests[0]?.body['response_format']).toEqual({
      type: 'json_schema',
      json_schema: { name: 'verdict', schema: verdictSchema, strict: true },
    });
  });

  it('sends a json_object response format as the OpenAI API expects', async () => {
    const { llm } = clientFor(server);
    server.script({ text: '{}' });

    await llm.chat({
      messages: [{ role: 'user', content: 'JSON please' }],
      responseFormat: { type: 'json_object' },
    });

    expect(server.chatRequests[0]?.body['response_format']).toEqual({ type: 'json_object' });
  });

  it('sends tools as function tools with their JSON Schema parameters', async () => {
    const { llm } = clientFor(server);
    server.script({ text: 'no tool needed' });
    const parameters = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };

    await llm.chat({
      messages: [{ role: 'user', content: 'Weather in Oslo?' }],
      tools: [{ name: 'get_weather', description: 'Current weather for a city', parameters }],
    });

    expect(server.chatRequests[0]?.body['tools']).toEqual([
      {
        type: 'function',
        function: { name: 'get_weather', description: 'Current weather for a city', parameters },
      },
    ]);
  });

  it('sends an assistant tool call and the tool result back in the wire format', async () => {
    const { llm } = clientFor(server);
    server.script({ text: 'It is 4°C in Oslo.' });

    await llm.chat({
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        {
          role: 'assistant',
          content: null,
          toolCalls: [
            {
              id: 'call_1',
              name: 'get_weather',
              arguments: { city: 'Oslo' },
              argumentsText: '{"city":"Oslo"}',
            },
          ],
        },
        { role: 'tool', toolCallId: 'call_1', content: '{"celsius":4}' },
      ],
    });

    expect(server.chatRequests[0]?.body['messages']).toEqual([
      { role: 'user', content: 'Weather in Oslo?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"celsius":4}' },
    ]);
  });

  it('sends neither response_format nor tools when the request has none', async () => {
    const { llm } = clientFor(server);
    server.script({ text: 'ok' });

    await llm.chat({ messages: [{ role: 'user', content: 'Hi' }], tools: [] });

    expect(server.chatRequests[0]?.body).not.toHaveProperty('response_format');
    expect(server.chatRequests[0]?.body).not.toHaveProperty('tools');
  });
});
