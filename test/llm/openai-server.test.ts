import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startOpenAiServer, type OpenAiServer } from '../support/openai-server.js';

let server: OpenAiServer;
let openai: OpenAI;
beforeEach(async () => {
  server = await startOpenAiServer({ models: ['small', 'large'] });
  openai = new OpenAI({ baseURL: server.baseURL, apiKey: 'test', maxRetries: 0 });
});
afterEach(async () => {
  await server.close();
});

describe('the local OpenAI-compatible test server', () => {
  it('answers 500 naming that the test did not script a response', async () => {
    const error = await openai.chat.completions
      .create({ model: 'small', messages: [{ role: 'user', content: 'Hi' }] })
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain(
      'the test did not script a response',
    );
  });

  it('lists its models', async () => {
    const models = [];
    for await (const model of openai.models.list()) models.push(model.id);

    expect(models).toEqual(['small', 'large']);
    expect(server.requests[0]).toMatchObject({ method: 'GET', path: '/v1/models' });
  });

  it('answers from a handler when the queue is empty, passing it the request body', async () => {
    await server.close();
    server = await startOpenAiServer({ handler: (body) => ({ text: `echo ${String(body['model'])}` }) });
    openai = new OpenAI({ baseURL: server.baseURL, apiKey: 'test', maxRetries: 0 });

    const completion = await openai.chat.completions.create({
      model: 'small',
      messages: [{ role: 'user', content: 'Hi' }],
    });

    expect(completion.choices[0]?.message.content).toBe('echo small');
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);
  });

  it('sends usage chunks only when the stream asked for them', async () => {
    server.script({ text: 'a b' }, { text: 'a b' });

    const withoutUsage = [];
    const plain = await openai.chat.completions.create({
      model: 'small',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
    });
    for await (const chunk of plain) withoutUsage.push(chunk);
    const withUsage = [];
    const counted = await openai.chat.completions.create({
      model: 'small',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of counted) withUsage.push(chunk);

    expect(withoutUsage.some((chunk) => chunk.usage)).toBe(false);
    expect(withUsage.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: expect.any(Number) } });
  });
});
