import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startOpenAiServer, type OpenAiServer, type ScriptedReply } from '../support/openai-server.js';
import { clientFor } from './harness.js';

let server: OpenAiServer;
beforeEach(async () => {
  server = await startOpenAiServer();
});
afterEach(async () => {
  await server.close();
});

const tools = [
  { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  { name: 'now', parameters: { type: 'object', properties: {} } },
];

const twoCalls: ScriptedReply = {
  toolCalls: [
    { id: 'call_a', name: 'get_weather', arguments: { city: 'Oslo', note: 'braces {inside} "quotes"' } },
    { id: 'call_b', name: 'now', arguments: '' },
  ],
};

describe.each([
  { mode: 'non-streaming', stream: false },
  { mode: 'streaming', stream: true },
])('tool calls ($mode)', ({ stream }) => {
  it('come back with their ids, names and parsed arguments, in order', async () => {
    const { llm } = clientFor(server);
    server.script(twoCalls);

    const result = await llm.chat({
      messages: [{ role: 'user', content: 'Weather and time?' }],
      tools,
      stream,
    });

    expect(result.finishReason).toBe('tool_calls');
    expect(result.text).toBe('');
    expect(result.toolCalls).toEqual([
      {
        id: 'call_a',
        name: 'get_weather',
        arguments: { city: 'Oslo', note: 'braces {inside} "quotes"' },
        argumentsText: '{"city":"Oslo","note":"braces {inside} \\"quotes\\""}',
      },
      { id: 'call_b', name: 'now', arguments: {}, argumentsText: '' },
    ]);
  });

  it('keeps arguments that are not JSON as text, with no parsed value', async () => {
    const { llm } = clientFor(server);
    server.script({ toolCalls: [{ id: 'call_x', name: 'get_weather', arguments: '{"city": Oslo' }] });

    const result = await llm.chat({ messages: [{ role: 'user', content: 'Weather?' }], tools, stream });

    expect(result.toolCalls).toEqual([
      { id: 'call_x', name: 'get_weather', arguments: undefined, argumentsText: '{"city": Oslo' },
    ]);
  });
});
