/**
 * The local web monitor behind `taskvisor serve`: JSON endpoints over the supervisor's
 * read model and commands, and one HTML page that polls them. It listens on 127.0.0.1 by
 * default; commands need a JSON body from the page's own origin.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isTaskvisorError } from '../../errors.js';
import { RunPhaseSchema } from '../../model/states.js';
import type { Supervisor } from '../../supervisor.js';
import { runToMermaid } from '../mermaid-dag.js';
import { MONITOR_PAGE } from './page.js';

export interface MonitorServer {
  readonly url: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY_BYTES = 64 * 1024;

function readJson(request: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) reject(new HttpError(413, 'the request body is too large'));
      else chunks.push(chunk);
    });
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        const value: unknown = text === '' ? {} : JSON.parse(text);
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          reject(new HttpError(400, 'the body must be a JSON object'));
        } else resolve(value as Record<string, unknown>);
      } catch {
        reject(new HttpError(400, 'the body is not valid JSON'));
      }
    });
    request.on('error', reject);
  });
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new HttpError(400, `"${key}" must be a string`);
  return value;
}

function statusOf(error: unknown): number {
  if (error instanceof HttpError) return error.status;
  if (isTaskvisorError(error))
    return error.code.startsWith('UNKNOWN_') ? 404 : error.code === 'INVALID_STATE' ? 409 : 400;
  return 500;
}

export function startMonitor(
  sv: Supervisor,
  options: { host: string; port: number },
): Promise<MonitorServer> {
  const by = 'web monitor';
  const send = (response: http.ServerResponse, status: number, body: unknown, type = 'application/json') => {
    const text = type === 'application/json' ? JSON.stringify(body) : String(body);
    response.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' });
    response.end(text);
  };

  async function route(request: http.IncomingMessage, response: http.ServerResponse, origin: string) {
    const url = new URL(request.url ?? '/', origin);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (request.method === 'GET') {
      if (url.pathname === '/') return send(response, 200, MONITOR_PAGE, 'text/html');
      if (parts[0] !== 'api') throw new HttpError(404, `no page ${url.pathname}`);
      if (parts[1] === 'pending' && parts.length === 2) return send(response, 200, await sv.pending());
      if (parts[1] === 'runs' && parts.length === 2) {
        const phase = url.searchParams.getAll('phase');
        for (const value of phase) {
          if (!RunPhaseSchema.safeParse(value).success) throw new HttpError(400, `unknown phase "${value}"`);
        }
        const limit = Number(url.searchParams.get('limit') ?? 100);
        return send(
          response,
          200,
          await sv.list({
            ...(phase.length > 0 ? { phase: phase as never } : {}),
            limit: Number.isFinite(limit) ? limit : 100,
          }),
        );
      }
      if (parts[1] === 'runs' && parts[2] !== undefined) {
        const view = await sv.get(parts[2]);
        if (!view) throw new HttpError(404, `no run "${parts[2]}"`);
        if (parts.length === 3) return send(response, 200, view);
        if (parts[3] === 'trace' && parts.length === 4) return send(response, 200, await sv.trace(view.id));
        if (parts[3] === 'mermaid' && parts.length === 4)
          return send(response, 200, runToMermaid(view), 'text/plain');
      }
      throw new HttpError(404, `no endpoint GET ${url.pathname}`);
    }
    if (request.method !== 'POST') throw new HttpError(405, `${request.method} is not supported`);
    // Commands: JSON only (a cross-site form cannot send it) and, when the browser says, from this origin.
    if (!(request.headers['content-type'] ?? '').startsWith('application/json')) {
      throw new HttpError(415, 'send commands as application/json');
    }
    const host = request.headers.host ?? '';
    const hostname = host.replace(/:\d+$/, '');
    if (!['localhost', '127.0.0.1', '[::1]', options.host].includes(hostname)) {
      throw new HttpError(403, `commands are accepted through ${origin} only`);
    }
    if (request.headers.origin !== undefined && request.headers.origin !== `http://${host}`) {
      throw new HttpError(403, `commands are accepted from the monitor's own page only (${origin})`);
    }
    const body = await readJson(request);
    if (parts[0] === 'api' && parts[1] === 'runs' && parts[2] !== undefined && parts.length === 4) {
      const runId = parts[2];
      const stepId = optionalString(body, 'stepId');
      switch (parts[3]) {
        case 'approve':
          if (stepId === undefined) await sv.approvePlan(runId, { by });
          else await sv.confirmStep(runId, stepId, { approved: true, by });
          return send(response, 202, { ok: true });
        case 'reject': {
          const reason = optionalString(body, 'reason');
          const decision = optionalString(body, 'decision');
          if (decision !== undefined && decision !== 'skip' && decision !== 'fail') {
            throw new HttpError(400, '"decision" must be "skip" or "fail"');
          }
          if (stepId === undefined) {
            if (!reason) throw new HttpError(400, 'rejecting a plan needs a "reason"');
            await sv.rejectPlan(runId, { by, reason });
          } else {
            await sv.confirmStep(runId, stepId, {
              approved: false,
              by,
              ...(reason ? { reason } : {}),
              ...(decision ? { decision } : {}),
            });
          }
          return send(response, 202, { ok: true });
        }
        case 'cancel': {
          const reason = optionalString(body, 'reason');
          await sv.cancel(runId, { by, ...(reason ? { reason } : {}) });
          return send(response, 202, { ok: true });
        }
        case 'control': {
          const action = optionalString(body, 'action');
          if (stepId === undefined || action === undefined)
            throw new HttpError(400, 'control needs "stepId" and "action"');
          await sv.control(runId, stepId, action as never, { by });
          return send(response, 202, { ok: true });
        }
      }
    }
    if (parts[0] === 'api' && parts[1] === 'requests' && parts[2] !== undefined && parts[3] === 'answer') {
      const text = optionalString(body, 'text');
      const optionId = optionalString(body, 'optionId');
      if ((text === undefined) === (optionId === undefined))
        throw new HttpError(400, 'answer with one of "text" or "optionId"');
      await sv.answer(parts[2], { by, ...(text !== undefined ? { text } : { optionId: optionId! }) });
      return send(response, 202, { ok: true });
    }
    throw new HttpError(404, `no endpoint POST ${url.pathname}`);
  }

  return new Promise((resolve, reject) => {
    let origin = '';
    const server = http.createServer((request, response) => {
      route(request, response, origin).catch((error: unknown) => {
        const status = statusOf(error);
        send(response, status, {
          error: error instanceof Error ? error.message : String(error),
          ...(isTaskvisorError(error) ? { code: error.code } : {}),
        });
      });
    });
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      const { port } = server.address() as AddressInfo;
      const host = options.host.includes(':') ? `[${options.host}]` : options.host;
      origin = `http://${host}:${port}`;
      resolve({
        url: origin,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
