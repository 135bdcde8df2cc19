import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTaskvisorError } from '../../src/errors.js';
import { createLlmClient, type LlmClientOptions } from '../../src/llm/client.js';
import { startOpenAiServer, type OpenAiServer } from '../support/openai-server.js';

let server: OpenAiServer;
beforeEach(async () => {
  server = await startOpenAiServer();
});
afterEach(async () => {
  await server.close();
});

function creationError(options: LlmClientOptions): unknown {
  try {
    createLlmClient(options);
  } catch (error) {
    return error;
  }
  throw new Error('expected createLlmClient to throw');
}

describe('createLlmClient options', () => {
  it('reads the base URL, API key and model from the environment', async () => {
    const llm = createLlmClient({
      env: { OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: 'env-key', TASKVISOR_MODEL: 'env-model' },
    });
    server.script({ text: 'from env' });

    const result = await llm.chat({ messages: [{ role: 'user', content: 'Hi' }] });

    expect(llm.model).toBe('env-model');
    expect(result.text).toBe('from env');
    expect(server.chatRequests[0]?.headers['authorization']).toBe('Bearer env-key');
    expect(server.chatRequests[0]?.body['model']).toBe('env-model');
  });

  it('accepts any explicit API key, for a local server', async () => {
    const llm = createLlmClient({ baseURL: server.baseURL, apiKey: 'local', model: 'llama', env: {} });
    server.script({ text: 'hi' });

    await llm.chat({ messages: [{ role: 'user', content: 'Hi' }] });

    expect(server.chatRequests[0]?.headers['authorization']).toBe('Bearer local');
  });

  it('fails clearly when no model is configured, naming TASKVISOR_MODEL', () => {
    const error = creationError({ baseURL: server.baseURL, apiKey: 'k', env: {} });

    expect(isTaskvisorError(error, 'INVALID_OPTION')).toBe(true);
    expect((error as Error).message).toContain('TASKVISOR_MODEL');
    expect((error as Error).message).toContain('`model`');
  });

  it('fails clearly when no API key is configured, naming OPENAI_API_KEY and the local-server way out', () => {
    const error = creationError({ baseURL: server.baseURL, model: 'm', env: { OPENAI_API_KEY: '' } });

    expect(isTaskvisorError(error, 'INVALID_OPTION')).toBe(true);
    expect((error as Error).message).toContain('OPENAI_API_KEY');
    expect((error as Error).message).toContain("apiKey: 'local'");
  });

  it('uses a given OpenAI client and switches its own retries off', async () => {
    const client = new OpenAI({ baseURL: server.baseURL, apiKey: 'own-key', maxRetries: 5 });
    const llm = createLlmClient({ client, model: 'm', maxRetries: 0, env: {} });
    server.script({ status: 503, error: { message: 'overloaded', type: 'server_error' } });

    await expect(llm.chat({ messages: [{ role: 'user', content: 'Hi' }] })).rejects.toMatchObject({
      code: 'LLM_ERROR',
      details: { status: 503, attempts: 1, retryable: true },
    });
    // The SDK would have retried the 503 itself, five times, had its retries been on.
    expect(server.chatRequests).toHaveLength(1);
    expect(server.chatRequests[0]?.headers['authorization']).toBe('Bearer own-key');
  });

  it('refuses a given client together with baseURL or apiKey', () => {
    const client = new OpenAI({ baseURL: server.baseURL, apiKey: 'k' });

    const error = creationError({ client, apiKey: 'other', model: 'm', env: {} });

    expect(isTaskvisorError(error, 'INVALID_OPTION')).toBe(true);
    expect((error as Error).message).toContain('`client`');
  });

  it('rejects a negative maxRetries, naming the value', () => {
    const error = creationError({
      baseURL: server.baseURL,
      apiKey: 'k',
      model: 'm',
      maxRetries: -1,
      env: {},
    });

    expect(isTaskvisorError(error, 'INVALID_OPTION')).toBe(true);
    expect((error as Error).message).toBe(
      'Expected `maxRetries` to be a non-negative integer, got -1 (number)',
    );
  });

  it('rejects a chat request without messages', async () => {
    const llm = createLlmClient({ baseURL: server.baseURL, apiKey: 'k', model: 'm', env: {} });

    await expect(llm.chat({ messages: [] })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    expect(server.chatRequests).toHaveLength(0);
  });
});
