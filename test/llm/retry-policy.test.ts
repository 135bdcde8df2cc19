import { APIConnectionError, APIError, RateLimitError } from 'openai';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, classifyFailure, retryAfterMs } from '../../src/llm/retry-policy.js';

describe('backoffDelayMs', () => {
  it('doubles the ceiling each retry, applies full jitter and caps at maxDelayMs', () => {
    const delays = [1, 2, 3, 4, 5, 6].map((retry) =>
      backoffDelayMs({ retry, baseDelayMs: 500, maxDelayMs: 8_000, random: () => 0.5 }),
    );
    expect(delays).toEqual([250, 500, 1_000, 2_000, 4_000, 4_000]);
    expect(backoffDelayMs({ retry: 3, baseDelayMs: 500, maxDelayMs: 8_000, random: () => 0 })).toBe(0);
  });

  it("uses the server's requested wait when there is one", () => {
    expect(
      backoffDelayMs({
        retry: 1,
        baseDelayMs: 500,
        maxDelayMs: 8_000,
        random: () => 0.5,
        retryAfterMs: 3_000,
      }),
    ).toBe(3_000);
  });
});

describe('retryAfterMs', () => {
  it('reads seconds, milliseconds and HTTP dates', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': '2' }), 0)).toBe(2_000);
    expect(retryAfterMs(new Headers({ 'retry-after': '0.5' }), 0)).toBe(500);
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '150', 'retry-after': '2' }), 0)).toBe(150);
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterMs(new Headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:07 GMT' }), now)).toBe(7_000);
  });

  it('ignores a missing or unreadable header', () => {
    expect(retryAfterMs(new Headers(), 0)).toBeUndefined();
    expect(retryAfterMs(new Headers({ 'retry-after': 'soon' }), 0)).toBeUndefined();
    expect(retryAfterMs(undefined, 0)).toBeUndefined();
  });
});

describe('classifyFailure', () => {
  const headers = new Headers();

  it('retries rate limits, server errors and connection failures', () => {
    const rateLimit = new RateLimitError(
      429,
      { message: 'slow down', code: 'rate_limit_exceeded' },
      undefined,
      headers,
    );
    expect(classifyFailure(rateLimit, 0)).toMatchObject({ kind: 'http', status: 429, retryable: true });
    expect(
      classifyFailure(APIError.generate(502, { error: { message: 'bad gateway' } }, undefined, headers), 0),
    ).toMatchObject({ status: 502, serverMessage: 'bad gateway', retryable: true });
    expect(classifyFailure(new APIConnectionError({ message: 'Connection error.' }), 0)).toMatchObject({
      kind: 'connection',
      retryable: true,
    });
    const cut = new TypeError('terminated', {
      cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
    });
    expect(classifyFailure(cut, 0)).toMatchObject({
      kind: 'connection',
      serverMessage: 'terminated (other side closed)',
    });
  });

  it('does not retry other client errors, insufficient quota or unexpected errors', () => {
    const quota = APIError.generate(
      429,
      { error: { message: 'quota', type: 'insufficient_quota', code: 'insufficient_quota' } },
      undefined,
      headers,
    );
    expect(classifyFailure(quota, 0).retryable).toBe(false);
    expect(
      classifyFailure(APIError.generate(404, { error: { message: 'no such model' } }, undefined, headers), 0),
    ).toMatchObject({ status: 404, retryable: false });
    expect(classifyFailure(new SyntaxError('Unexpected token'), 0)).toMatchObject({
      kind: 'other',
      retryable: false,
    });
  });
});
