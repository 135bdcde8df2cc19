import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTaskvisorError, type TaskvisorError } from '../../src/errors.js';
import { startOpenAiServer, type OpenAiServer, type ScriptedError } from '../support/openai-server.js';
import { clientFor, expectBackoff, rejection, settle, untilSleeping } from './harness.js';

let server: OpenAiServer;
beforeEach(async () => {
  server = await startOpenAiServer();
});
afterEach(async () => {
  await server.close();
});

const ask = { messages: [{ role: 'user' as const, content: 'Hi' }] };

const rateLimited: ScriptedError = {
  status: 429,
  error: { message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded' },
};
const serverError: ScriptedError = {
  status: 500,
  error: { message: 'The server had an error while processing your request', type: 'server_error' },
};

function llmError(error: unknown): TaskvisorError {
  if (!isTaskvisorError(error)) throw new Error(`expected a TaskvisorError, got ${String(error)}`);
  return error;
}

describe('retries on the injected clock', () => {
  it('retries a 429 after a jittered exponential backoff and returns the next answer', async () => {
    const { llm, clock } = clientFor(server); // baseDelayMs 500, random 0.5
    server.script(rateLimited, { text: 'finally' });

    const outcome = settle(llm.chat(ask));
    await untilSleeping(clock);
    expect(server.chatRequests).toHaveLength(1);
    expectBackoff(clock, 250); // 0.5 * min(20000, 500 * 2^0)

    const result = await outcome;
    expect(result).toMatchObject({ ok: true, value: { text: 'finally' } });
    expect(server.chatRequests).toHaveLength(2);
  });

  it('waits as long as the retry-after header says instead of its own backoff', async () => {
    const { llm, clock } = clientFor(server);
    server.script({ ...rateLimited, headers: { 'retry-after': '2' } }, { text: 'ok' });

    const outcome = settle(llm.chat(ask));
    await untilSleeping(clock);
    expectBackoff(clock, 2_000);

    expect((await outcome).ok).toBe(true);
    expect(server.chatRequests).toHaveLength(2);
  });

  it('gives up on 500 after maxRetries, naming the status, the server message and the attempts', async () => {
    const { llm, clock } = clientFor(server, { maxRetries: 3 });
    server.script(serverError, serverError, serverError, serverError, { text: 'never reached' });

    const outcome = settle(llm.chat(ask));
    for (const delay of [250, 500, 1_000]) {
      await untilSleeping(clock);
      expectBackoff(clock, delay);
    }

    const error = llmError(rejection(await outcome));
    expect(error.code).toBe('LLM_ERROR');
    expect(error.message).toContain('HTTP 500');
    expect(error.message).toContain('The server had an error while processing your request');
    expect(error.message).toContain('after 4 attempts');
    expect(error.details).toMatchObject({ status: 500, type: 'server_error', attempts: 4, retryable: true });
    expect(server.chatRequests).toHaveLength(4);
    expect(server.remaining).toBe(1);
  });

  it('caps the backoff at maxDelayMs', async () => {
    const { llm, clock } = clientFor(server, { baseDelayMs: 1_000, maxDelayMs: 1_500, random: () => 1 });
    server.script(serverError, serverError, { text: 'ok' });

    const outcome = settle(llm.chat(ask));
    await untilSleeping(clock);
    expectBackoff(clock, 1_000);
    await untilSleeping(clock);
    expectBackoff(clock, 1_500);

    expect((await outcome).ok).toBe(true);
  });

  it('does not retry a 400 and says the request was rejected', async () => {
    const { llm, clock } = clientFor(server);
    server.script(
      {
        status: 400,
        error: {
          message: "Invalid value for 'temperature'",
          type: 'invalid_request_error',
          code: 'invalid_value',
        },
      },
      { text: 'never reached' },
    );

    const error = llmError(rejection(await settle(llm.chat({ ...ask, temperature: 9 }))));

    expect(error.message).toContain('HTTP 400');
    expect(error.message).toContain("Invalid value for 'temperature'");
    expect(error.message).toContain('after 1 attempt;');
    expect(error.details).toMatchObject({
      status: 400,
      code: 'invalid_value',
      type: 'invalid_request_error',
      attempts: 1,
      retryable: false,
    });
    expect(server.chatRequests).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });

  it('does not retry a 429 for insufficient_quota and says to add credit', async () => {
    const { llm, clock } = clientFor(server);
    server.script({
      status: 429,
      error: {
        message: 'You exceeded your current quota',
        type: 'insufficient_quota',
        code: 'insufficient_quota',
      },
      headers: { 'retry-after': '1' },
    });

    const error = llmError(rejection(await settle(llm.chat(ask))));

    expect(error.code).toBe('LLM_ERROR');
    expect(error.message).toContain('HTTP 429');
    expect(error.message).toContain('You exceeded your current quota');
    expect(error.message).toContain('add credit');
    expect(error.details).toMatchObject({
      status: 429,
      code: 'insufficient_quota',
      attempts: 1,
      retryable: false,
    });
    expect(server.chatRequests).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });

  it('rejects at once when the signal aborts during a backoff, without another attempt', async () => {
    const { llm, clock } = clientFor(server);
    server.script(rateLimited, { text: 'never reached' });
    const controller = new AbortController();

    const outcome = settle(llm.chat({ ...ask, signal: controller.signal }));
    await untilSleeping(clock);
    controller.abort(new Error('user cancelled'));

    const error = llmError(rejection(await outcome));
    expect(error.code).toBe('ABORTED');
    expect(error.details).toMatchObject({ attempts: 1, retryable: false });
    expect(clock.pending).toBe(0);
    expect(server.chatRequests).toHaveLength(1);
  });

  it('rejects an already aborted call without sending it', async () => {
    const { llm } = clientFor(server);
    server.script({ text: 'never reached' });

    const error = llmError(rejection(await settle(llm.chat({ ...ask, signal: AbortSignal.abort() }))));

    expect(error.code).toBe('ABORTED');
    expect(server.chatRequests).toHaveLength(0);
  });

  it('rejects an aborted in-flight request without retrying it', async () => {
    const { llm, clock } = clientFor(server);
    const controller = new AbortController();
    server.script(() => {
      controller.abort();
      return new Promise(() => {}); // the server never answers
    });

    const error = llmError(rejection(await settle(llm.chat({ ...ask, signal: controller.signal }))));

    expect(error.code).toBe('ABORTED');
    expect(clock.pending).toBe(0);
    expect(server.chatRequests).toHaveLength(1);
  });

  it('retries a dropped connection', async () => {
    const { llm, clock } = clientFor(server);
    server.script({ drop: true }, { text: 'reconnected' });

    const outcome = settle(llm.chat(ask));
    await untilSleeping(clock);
    expectBackoff(clock, 250);

    expect(await outcome).toMatchObject({ ok: true, value: { text: 'reconnected' } });
    expect(server.chatRequests).toHaveLength(2);
  });

  it('retries a stream cut off mid-way and returns the complete second answer', async () => {
    const { llm, clock, usage } = clientFor(server);
    server.script(
      { text: 'half of it', dropAfterEvents: 2 },
      { text: 'all of it', usage: { prompt_tokens: 5, completion_tokens: 3 } },
    );

    const outcome = settle(llm.chat({ ...ask, stream: true }));
    await untilSleeping(clock);
    expectBackoff(clock, 250);

    expect(await outcome).toMatchObject({ ok: true, value: { text: 'all of it' } });
    expect(usage).toEqual([{ model: 'test-model', inputTokens: 5, outputTokens: 3 }]);
  });

  it('names a connection error and marks it retryable when the retries run out', async () => {
    const { llm, clock } = clientFor(server, { maxRetries: 1 });
    server.script({ drop: true }, { drop: true });

    const outcome = settle(llm.chat(ask));
    await untilSleeping(clock);
    expectBackoff(clock, 250);

    const error = llmError(rejection(await outcome));
    expect(error.message).toContain('connection error');
    expect(error.message).toContain('after 2 attempts');
    expect(error.details).toMatchObject({ status: undefined, attempts: 2, retryable: true });
  });

  it('reports usage once per answer, not for failed attempts without usage', async () => {
    const { llm, clock, usage } = clientFor(server);
    server.script(serverError, { text: 'ok', usage: { prompt_tokens: 7, completion_tokens: 2 } });

    const outcome = settle(llm.chat(ask));
    await untilSleeping(clock);
    expectBackoff(clock, 250);
    await outcome;

    expect(usage).toEqual([{ model: 'test-model', inputTokens: 7, outputTokens: 2 }]);
  });
});
