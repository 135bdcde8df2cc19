/**
 * `notify` steps through a real supervisor: console, file (JSONL append), webhook (a local
 * node:http server; retries and backoff on the injected clock), custom function channels;
 * each delivery recorded as a `notification` artifact and audited; unknown channels refused
 * when the plan is validated.
 */
import fs from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NotifyMessage } from '../../src/actions/channels.js';
import { ManualClock } from '../../src/clock.js';
import type { SupervisorOptions } from '../../src/supervisor.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';
import { refusal } from './helpers.js';

const harness = useSupervisorHarness();

/** A ManualClock that remembers the delay of every timer armed on it. */
class WatchedClock extends ManualClock {
  readonly armed: number[] = [];
  override setTimeout(callback: () => void, ms: number): unknown {
    this.armed.push(ms);
    return super.setTimeout(callback, ms);
  }
}

interface Hook {
  url: string;
  received: Array<{ headers: IncomingHttpHeaders; body: unknown }>;
  close(): Promise<void>;
}

/** A local webhook receiver answering the given statuses in order (then 200). */
async function startHook(statuses: number[]): Promise<Hook> {
  const received: Hook['received'] = [];
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      received.push({ headers: request.headers, body: JSON.parse(text) as unknown });
      const status = statuses.shift() ?? 200;
      response.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'try later');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const hooks: Hook[] = [];
afterEach(async () => {
  for (const hook of hooks.splice(0)) await hook.close();
});

async function open(options: Partial<SupervisorOptions> = {}) {
  const clock = new WatchedClock(1_000_000);
  const sv = await harness.open({ db: harness.dbPath(), clock, ids: sequentialIds(), ...options });
  return { sv, clock };
}

const notify = (channel: string | undefined, message: string, id = 'tell') => ({
  id,
  action: { kind: 'notify', ...(channel === undefined ? {} : { channel }), message },
});

describe('notify channels', () => {
  it('appends one JSON line per message to a file channel and records each delivery', async () => {
    const file = path.join(harness.tempDir(), 'logs', 'notes.jsonl');
    const { sv } = await open({ channels: { file: { path: file } } });
    const run = await sv.start({
      goal: 'tell twice',
      plan: {
        steps: [
          { id: 'seed', action: { kind: 'note', output: 42 } },
          { ...notify('file', 'first: {{steps.seed.output}}', 'one'), dependsOn: ['seed'] },
          { ...notify('file', 'second', 'two'), dependsOn: ['one'] },
        ],
      },
    });
    const result = await run.done;
    expect(result.outputs.one).toEqual({ channel: 'file', delivered: true, attempts: 1 });
    const lines = fs
      .readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as NotifyMessage);
    expect(lines).toEqual([
      {
        channel: 'file',
        message: 'first: 42',
        runId: 'run-1',
        stepId: 'one',
        idempotencyKey: 'run-1/one',
        at: 1_000_000,
      },
      {
        channel: 'file',
        message: 'second',
        runId: 'run-1',
        stepId: 'two',
        idempotencyKey: 'run-1/two',
        at: 1_000_000,
      },
    ]);
    const trace = await sv.trace(run.id);
    expect(trace.artifacts.filter((a) => a.kind === 'notification').map((a) => [a.stepId, a.body])).toEqual([
      ['one', { channel: 'file', message: 'first: 42', delivered: true, attempts: 1, path: file }],
      ['two', { channel: 'file', message: 'second', delivered: true, attempts: 1, path: file }],
    ]);
    expect(trace.audit.filter((row) => row.action === 'notify.delivered').map((row) => row.stepId)).toEqual([
      'one',
      'two',
    ]);
  });

  it('writes a console channel message as one line on stdout (the default channel)', async () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const { sv } = await open();
      const result = await (
        await sv.start({ goal: 'hi', plan: { steps: [notify(undefined, 'hello there')] } })
      ).done;
      expect(result.outputs.tell).toEqual({ channel: 'console', delivered: true, attempts: 1 });
      expect(write).toHaveBeenCalledWith('[taskvisor] run-1/tell: hello there\n');
    } finally {
      write.mockRestore();
    }
  });

  it('hands a custom channel the message, and records a failed delivery when it throws', async () => {
    const sent: NotifyMessage[] = [];
    const { sv } = await open({
      channels: {
        slack: async (message) => {
          sent.push(message);
        },
        pager: () => {
          throw new Error('pager service is down');
        },
      },
    });
    const ok = await (await sv.start({ goal: 'ok', plan: { steps: [notify('slack', 'deployed')] } })).done;
    expect(ok.phase).toBe('completed');
    expect(sent).toEqual([
      expect.objectContaining({ channel: 'slack', message: 'deployed', stepId: 'tell' }),
    ]);

    const run = await sv.start({ goal: 'page', plan: { steps: [notify('pager', 'wake up')] } });
    expect((await run.done).phase).toBe('failed');
    expect(run.view().steps[0]?.error).toBe('Channel "pager" failed to deliver: pager service is down.');
    const trace = await sv.trace(run.id);
    expect(trace.artifacts[0]?.body).toMatchObject({
      channel: 'pager',
      delivered: false,
      error: 'pager service is down',
    });
    expect(trace.audit.find((row) => row.action === 'notify.failed')?.details).toMatchObject({
      channel: 'pager',
    });
  });

  it('POSTs JSON to a webhook, retrying 503s with exponential backoff on the injected clock until a 2xx', async () => {
    const hook = await startHook([503, 503, 200]);
    hooks.push(hook);
    const { sv, clock } = await open({
      channels: { webhook: { url: hook.url, backoffMs: 1_000, headers: { authorization: 'Bearer t' } } },
    });
    const run = await sv.start({ goal: 'hook', plan: { steps: [notify('webhook', 'build green')] } });

    await until(() => clock.armed.includes(1_000), { what: 'the first backoff' });
    expect(hook.received).toHaveLength(1);
    clock.advance(999);
    await until(() => hook.received.length === 1);
    clock.advance(1);
    await until(() => clock.armed.includes(2_000), { what: 'the second backoff' });
    expect(hook.received).toHaveLength(2);
    clock.advance(2_000);

    const result = await run.done;
    expect(result.outputs.tell).toEqual({ channel: 'webhook', delivered: true, attempts: 3, status: 200 });
    expect(hook.received).toHaveLength(3);
    expect(hook.received[0]?.body).toEqual({
      channel: 'webhook',
      message: 'build green',
      runId: 'run-1',
      stepId: 'tell',
      idempotencyKey: 'run-1/tell',
      at: 1_000_000,
    });
    expect(hook.received[0]?.headers).toMatchObject({
      'content-type': 'application/json',
      'idempotency-key': 'run-1/tell',
      authorization: 'Bearer t',
    });
    expect((await sv.trace(run.id)).artifacts[0]?.body).toMatchObject({
      delivered: true,
      attempts: 3,
      status: 200,
    });
  });

  it('does not retry a 4xx answer from a webhook', async () => {
    const hook = await startHook([404]);
    hooks.push(hook);
    const { sv } = await open({ channels: { alerts: { type: 'webhook', url: hook.url } } });
    const run = await sv.start({ goal: 'hook', plan: { steps: [notify('alerts', 'x')] } });
    expect((await run.done).phase).toBe('failed');
    expect(hook.received).toHaveLength(1);
    expect(run.view().steps[0]?.error).toContain('refused the message with HTTP 404: try later; not retried');
  });

  it('gives up after maxAttempts tries of a failing webhook', async () => {
    const hook = await startHook([500, 500]);
    hooks.push(hook);
    const { sv, clock } = await open({
      channels: { webhook: { url: hook.url, maxAttempts: 2, backoffMs: 10 } },
    });
    const run = await sv.start({ goal: 'hook', plan: { steps: [notify('webhook', 'x')] } });
    await until(() => clock.armed.includes(10));
    clock.advance(10);
    expect((await run.done).phase).toBe('failed');
    expect(run.view().steps[0]?.error).toContain(
      'was not delivered after 2 tries; the last one got HTTP 500: try later',
    );
    expect((await sv.trace(run.id)).artifacts[0]?.body).toMatchObject({
      delivered: false,
      attempts: 2,
      status: 500,
    });
  });

  it('rejects a plan that names an unknown channel, listing the configured ones', async () => {
    const { sv } = await open({ channels: { slack: () => {} } });
    const error = await refusal(
      () => sv.start({ goal: 'x', plan: { steps: [notify('slak', 'x')] } }),
      'UNKNOWN_CHANNEL',
    );
    expect(error.message).toContain('notifies channel "slak", which is not configured');
    expect(error.message).toContain('did you mean "slack"');
    expect(error.message).toContain('channels: "console", "slack"');
  });

  it('rejects a file or webhook channel that is not configured', async () => {
    const { sv } = await open();
    const error = await refusal(
      () => sv.start({ goal: 'x', plan: { steps: [notify('file', 'x')] } }),
      'UNKNOWN_CHANNEL',
    );
    expect(error.message).toContain('channels: "console"');
  });

  it.each([
    [
      { alerts: { url: 'http://x' } },
      "Option channels.alerts must be a channel type: add type: 'console' | 'file' | 'webhook'",
    ],
    [{ webhook: { url: 'ftp://x' } }, 'Option channels.webhook.url: an http(s) URL'],
    [{ file: {} }, 'Option channels.file.path'],
    [{ file: { path: 'x', mode: 1 } }, 'Option channels.file'],
    [{ slack: 'https://hooks' }, 'Option channels.slack'],
  ])('refuses bad channel options: %j', async (channels, message) => {
    const error = await refusal(() => open({ channels: channels as never }), 'INVALID_OPTION');
    expect(error.message).toContain(message);
  });
});
