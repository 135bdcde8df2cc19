/** The escalation chain's decisions, as pure functions of data. */
import { describe, expect, it } from 'vitest';
import { agentChain, judgeAgentFailure, resolveEscalation } from '../../src/actions/escalation.js';
import { decide, composeSpec } from '../../src/actions/implement.js';
import { TaskvisorError } from '../../src/errors.js';
import { refusal } from './helpers.js';

const withTimeouts = { fallbacks: ['b'], retryOnTimeout: true };
const withoutTimeouts = { fallbacks: ['b'], retryOnTimeout: false };

describe('the escalation chain', () => {
  it('tries the step’s agent, then each fallback once, in order', () => {
    expect(agentChain('a', { fallbacks: ['b', 'c'], retryOnTimeout: false })).toEqual(['a', 'b', 'c']);
    expect(agentChain('b', { fallbacks: ['b', 'c'], retryOnTimeout: false })).toEqual(['b', 'c']);
    expect(agentChain('a', { fallbacks: [], retryOnTimeout: false })).toEqual(['a']);
  });

  it.each([
    ['a launch error', new TaskvisorError('ACTION_FAILED', 'spawn ENOENT'), withoutTimeouts, 'escalate'],
    ['a non-zero exit', new TaskvisorError('SHELL_FAILED', 'exit 1'), withoutTimeouts, 'escalate'],
    [
      'a model 400 (not retryable with the same model)',
      new TaskvisorError('LLM_ERROR', '400', { retryable: false }),
      withoutTimeouts,
      'escalate',
    ],
    ['no model configured', new TaskvisorError('INVALID_OPTION', 'no llm'), withoutTimeouts, 'escalate'],
    ['a plain error', new Error('boom'), withoutTimeouts, 'escalate'],
    [
      'a plain error marked not retryable',
      Object.assign(new Error('no'), { retryable: false }),
      withoutTimeouts,
      'ask',
    ],
    ['a timeout with retryOnTimeout', new TaskvisorError('STEP_TIMEOUT', 't'), withTimeouts, 'escalate'],
    ['a timeout without retryOnTimeout', new TaskvisorError('STEP_TIMEOUT', 't'), withoutTimeouts, 'ask'],
    ['an abort', new TaskvisorError('ABORTED', 'a'), withTimeouts, 'propagate'],
    ['an exhausted budget', new TaskvisorError('BUDGET_EXCEEDED', 'b'), withTimeouts, 'propagate'],
  ] as const)('judges %s: %s', (_name, error, policy, verdict) => {
    expect(judgeAgentFailure(error, policy, false)).toBe(verdict);
  });

  it('propagates anything once the step itself was aborted', () => {
    expect(judgeAgentFailure(new TaskvisorError('SHELL_FAILED', 'x'), withTimeouts, true)).toBe('propagate');
  });

  it('refuses a fallback listed twice', async () => {
    const error = await refusal(
      () => resolveEscalation({ fallbacks: ['b', 'b'] }, ['a', 'b']),
      'INVALID_OPTION',
    );
    expect(error.message).toBe(
      'escalation.fallbacks[1]: agent "b" is listed twice; list each fallback once.',
    );
  });
});

describe("a human's answer", () => {
  it.each([
    [{ optionId: 'retry' }, { decision: 'retry' }],
    [{ optionId: 'skip' }, { decision: 'skip' }],
    [{ text: ' FAIL ' }, { decision: 'fail' }],
    [{ text: 'try the v2 endpoint' }, { decision: 'retry', guidance: 'try the v2 endpoint' }],
    [{}, { decision: 'retry' }],
  ])('%j means %j', (answer, decision) => {
    expect(decide(answer)).toEqual(decision);
  });

  it('adds recalled episodes and guidance after the spec', () => {
    expect(composeSpec('do x', '', [])).toBe('do x');
    expect(composeSpec('do x', 'Relevant past episodes: ...', ['use y'])).toBe(
      'do x\n\nRelevant past episodes: ...\n\nGuidance from a human after earlier attempts failed:\n- use y',
    );
  });
});
