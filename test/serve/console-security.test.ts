/**
 * The console's guards and the inspector relay's: a per-start token on every request, the
 * Host header (DNS rebinding) and Origin checked on GET as on POST, no framing, an exact
 * JSON content type for commands, a warning for a non-loopback bind, and a relay bound to
 * 127.0.0.1 that never passes one page's messages on to another.
 */
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import { createActor, createMachine } from 'xstate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInspector } from '../../src/cli/inspector.js';
import { EXAMPLES, type Running, start, tempDir, tv } from '../cli/cli.js';

const temp = tempDir('console-security');
const cwd = temp.dir;
const db = path.join(cwd, 'runs.db');
let server: Running;
let base: URL;
let token = '';
let runId = '';

beforeAll(async () => {
  const run = await tv(['run', path.join(EXAMPLES, 'hello.json'), '--db', db], { cwd });
  runId = /^run (\S+)$/m.exec(run.stdout)![1]!;
  server = start(['serve', '--db', db, '--port', '0', '--json'], { cwd });
  base = new URL((JSON.parse((await server.line(/^\{"url"/)).line) as { url: string }).url);
  token = base.searchParams.get('token')!;
});
afterAll(async () => {
  server.process.kill('SIGTERM');
  await server.exited;
  temp.remove();
});

/** A raw request, so the Host and Origin headers are exactly what a hostile page would send. */
function request(
  pathname: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      {
        host: '127.0.0.1',
        port: base.port,
        path: pathname,
        method: options.method ?? 'GET',
        headers: options.headers,
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

const auth = () => ({ authorization: `Bearer ${token}` });

describe('the console server', () => {
  it('prints http://127.0.0.1:<port>/?token=<token>, and serves the page only with the token', async () => {
    expect(base.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const page = await request(`/?token=${token}`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('<title>taskvisor console</title>');
    expect((await request('/')).status).toBe(401);
    expect((await request('/?token=wrong')).status).toBe(401);
    expect((await request('/api/runs')).status).toBe(401);
    expect((await request('/assets/app.js')).status).toBe(401);
    expect((await request(`/assets/app.js?token=${token}`)).status).toBe(200);
    const runs = await request('/api/runs', { headers: auth() });
    expect(runs.status).toBe(200);
    expect(JSON.parse(runs.body)).toMatchObject([{ view: { id: runId }, status: { driver: 'ended' } }]);
  });

  it('forbids framing and inline script on every response, errors included', async () => {
    for (const response of [await request(`/?token=${token}`), await request('/api/runs')]) {
      expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(response.headers['content-security-policy']).toContain("script-src 'self'");
      expect(response.headers['x-frame-options']).toBe('DENY');
      expect(response.headers['referrer-policy']).toBe('no-referrer');
    }
  });

  it('refuses another Host (a DNS-rebinding page) and another Origin, on GET routes too', async () => {
    const rebound = await request(`/api/runs/${runId}`, {
      headers: { ...auth(), host: `evil.example:${base.port}` },
    });
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain('hello from taskvisor');
    const page = await request(`/?token=${token}`, { headers: { host: `evil.example:${base.port}` } });
    expect(page.status).toBe(403);
    const foreign = await request('/api/runs', { headers: { ...auth(), origin: 'http://evil.example' } });
    expect(foreign.status).toBe(403);
    const sameSite = await request('/api/runs', {
      headers: { ...auth(), origin: `http://127.0.0.1:${base.port}` },
    });
    expect(sameSite.status).toBe(200);
  });

  it('takes commands only as exactly application/json', async () => {
    const send = (contentType: string) =>
      request(`/api/runs/${runId}/cancel`, {
        method: 'POST',
        headers: { ...auth(), 'content-type': contentType },
        body: '{}',
      });
    expect((await send('text/plain')).status).toBe(415);
    expect((await send('application/jsonp')).status).toBe(415);
    expect((await send('application/json; boundary=x')).status).toBe(415);
    expect((await send('multipart/form-data')).status).toBe(415);
    // The right type gets through to the run (which has ended, so it is refused for that).
    const cancel = await send('application/json; charset=utf-8');
    expect(cancel.status).toBe(409);
    expect(JSON.parse(cancel.body)).toMatchObject({ error: { code: 'INVALID_STATE' } });
  });

  it('binds beyond loopback only with a printed warning, and still needs the token', async () => {
    const wide = start(['serve', '--db', db, '--port', '0', '--host', '0.0.0.0', '--json'], { cwd });
    try {
      const url = new URL((JSON.parse((await wide.line(/^\{"url"/)).line) as { url: string }).url);
      expect(url.hostname).toBe('127.0.0.1');
      expect(url.searchParams.get('token')).toMatch(/^[\w-]{20,}$/);
      expect((await fetch(new URL('/api/runs', url))).status).toBe(401);
      expect((await fetch(url)).status).toBe(200);
    } finally {
      wide.process.kill('SIGTERM');
    }
    const exit = await wide.exited;
    expect(exit.stderr).toContain('warning: the console listens on 0.0.0.0, beyond this machine');
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

describe('the inspector relay', () => {
  it('listens on 127.0.0.1 only and never forwards a message from one page to another', async () => {
    const relay = await startInspector({ port: await freePort(), open: false });
    try {
      expect(relay.address).toBe('127.0.0.1');
      const connect = () =>
        new Promise<{ socket: WebSocket; messages: string[] }>((resolve, reject) => {
          const socket = new WebSocket(relay.url.replace('http', 'ws'));
          const messages: string[] = [];
          socket.on('message', (data: Buffer) => messages.push(data.toString()));
          socket.once('open', () => resolve({ socket, messages }));
          socket.once('error', reject);
        });
      const a = await connect();
      const b = await connect();
      a.socket.send(JSON.stringify({ type: '@xstate.event', forged: 'from page a' }));
      // An actor inspected after it: b receives the actor, and nothing a sent.
      createActor(createMachine({ id: 'probe', initial: 'idle', states: { idle: {} } }), {
        inspect: relay.inspect,
      }).start();
      await expect.poll(() => b.messages.some((message) => message.includes('"probe"'))).toBe(true);
      expect(b.messages.join('\n')).not.toContain('from page a');
      expect(a.messages.join('\n')).not.toContain('from page a');
      const rebound = new WebSocket(relay.url.replace('http', 'ws'), { headers: { host: 'evil.example' } });
      await expect(
        new Promise((resolve, reject) => {
          rebound.once('open', resolve);
          rebound.once('error', reject);
        }),
      ).rejects.toThrow(/403|Unexpected server response/);
      a.socket.close();
      b.socket.close();
    } finally {
      relay.stop();
    }
  });
});
