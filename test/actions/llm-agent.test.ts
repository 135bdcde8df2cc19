/**
 * LLM persona agents: the `implement` action called directly with a real model client (the
 * `openai` SDK over HTTP to a local OpenAI-compatible server), and what happens without one.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveAgents } from '../../src/actions/agents.js';
import { resolveEscalation } from '../../src/actions/escalation.js';
import { createImplementAction } from '../../src/actions/implement.js';
import { ManualClock } from '../../src/clock.js';
import { createLlmClient } from '../../src/llm/client.js';
import { type OpenAiServer, startOpenAiServer } from '../support/openai-server.js';
import { fakeContext, refusal } from './helpers.js';

let server: OpenAiServer;
beforeEach(async () => {
  server = await startOpenAiServer();
});
afterEach(async () => {
  await server.close();
});

const clock = new ManualClock(0);
const reviewer = {
  name: 'reviewer',
  kind: 'llm' as const,
  system: 'You are a terse senior engineer.',
  model: 'persona-model',
};
const backup = {
  name: 'backup',
  kind: 'function' as const,
  run: (spec: string) => ({ output: `backup did: ${spec}` }),
};

function implement(fallbacks: string[] = []) {
  const agents = resolveAgents([reviewer, backup]);
  return createImplementAction({
    clock,
    agents,
    escalation: resolveEscalation({ fallbacks }, agents.keys()),
  });
}

function llm() {
  return createLlmClient({
    baseURL: server.baseURL,
    apiKey: 'test',
    model: 'default-model',
    clock,
    env: {},
    maxRetries: 0,
  });
}

describe('LLM persona agents', () => {
  it("answers with the supervisor's model: the persona as the system prompt, the spec as the user message", async () => {
    server.script({ text: 'Use a prepared statement.' });
    const ctx = fakeContext({ llm: llm() });
    const { output } = await implement()({ agent: 'reviewer', spec: 'Review the SQL in users.ts' }, ctx);
    expect(output).toMatchObject({
      agent: 'reviewer',
      recoveredVia: null,
      output: 'Use a prepared statement.',
    });
    const body = server.chatRequests[0]!.body;
    expect(body.model).toBe('persona-model');
    expect(body.messages).toEqual([
      { role: 'system', content: 'You are a terse senior engineer.' },
      { role: 'user', content: 'Review the SQL in users.ts' },
    ]);
    expect(ctx.artifacts).toEqual([
      {
        kind: 'delegation',
        name: 'reviewer',
        body: expect.objectContaining({
          agent: 'reviewer',
          agentKind: 'llm',
          outcome: 'succeeded',
          result: 'Use a prepared statement.',
        }),
      },
    ]);
  });

  it('escalates when the model answers with an error status, and when it answers nothing', async () => {
    server.script({ status: 400, error: { message: 'model not found', type: 'invalid_request_error' } });
    const first = fakeContext({ llm: llm() });
    const out1 = await implement(['backup'])({ agent: 'reviewer', spec: 'x' }, first);
    expect(out1.output).toMatchObject({
      agent: 'backup',
      recoveredVia: 'backup',
      attempts: [{ error: { code: 'LLM_ERROR' } }, {}],
    });

    server.script({ text: '' });
    const second = fakeContext({ llm: llm() });
    const out2 = await implement(['backup'])({ agent: 'reviewer', spec: 'x' }, second);
    expect(out2.output).toMatchObject({
      recoveredVia: 'backup',
      attempts: [{ error: { code: 'LLM_BAD_OUTPUT' } }, {}],
    });
  });

  it('fails with a clear error when no model is configured, and escalates to a fallback', async () => {
    const ctx = fakeContext();
    const { output } = await implement(['backup'])({ agent: 'reviewer', spec: 'x' }, ctx);
    expect(output).toMatchObject({
      agent: 'backup',
      recoveredVia: 'backup',
      attempts: [
        {
          agent: 'reviewer',
          error: {
            code: 'INVALID_OPTION',
            message:
              'Agent "reviewer" is an LLM persona, but no model is configured; pass llm to createSupervisor (or delegate to a function or CLI agent).',
          },
        },
        { agent: 'backup', outcome: 'succeeded' },
      ],
    });
  });

  it('asks a human when the persona was the only agent, and fails the step when told to', async () => {
    const ctx = fakeContext({ answers: [{ optionId: 'fail' }] });
    const error = await refusal(() => implement()({ agent: 'reviewer', spec: 'x' }, ctx), 'ACTION_FAILED');
    expect(ctx.questions).toHaveLength(1);
    expect(ctx.questions[0]?.question).toContain(
      '- reviewer: INVALID_OPTION: Agent "reviewer" is an LLM persona, but no model is configured',
    );
    expect(error.details.retryable).toBe(false);
  });
});
