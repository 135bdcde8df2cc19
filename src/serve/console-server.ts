/**
 * `taskvisor serve`: the local console. One HTML page and its built assets (shipped in the
 * package, nothing fetched from elsewhere), JSON endpoints over the read model, every human
 * command, a Server-Sent Events stream of changes, and a resume for orphaned runs. Every
 * request passes `checkRequest` (token, Host, Origin); commands need exact JSON.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isTaskvisorError } from '../errors.js';
import { RunPhaseSchema } from '../model/states.js';
import type { RunView } from '../model/views.js';
import type { Supervisor } from '../supervisor.js';
import { openDriverProbe, runStatus } from '../cli/driver.js';
import { runToMermaid } from '../cli/mermaid-dag.js';
import { createLiveHub } from './live.js';
import { type ResumeLauncher } from './resume-run.js';
import {
  allowedHosts,
  checkJsonContentType,
  checkRequest,
  isLoopback,
  newToken,
  Refusal,
  SECURITY_HEADERS,
} from './security.js';

export interface ConsoleOptions {
  readonly host: string;
  readonly port: number;
  /** The database, for drivers and stored commands. */
  readonly db: string;
  /** Starts `taskvisor resume <run>` in the background (after its own checks). */
  readonly resume: ResumeLauncher;
  /** How often drivers are checked for the live markers (default 2000 ms). */
  readonly driverCheckMs?: number;
}

export interface ConsoleServer {
  /** The page to open, with the token: `http://127.0.0.1:4317/?token=…`. */
  readonly url: string;
  readonly token: string;
  /** Set when bound beyond loopback: anyone who reaches the address and has the token can act. */
  readonly warning?: string;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024;
const BY = 'console';

/** The built page assets: dist/console/ beside dist/src/serve/ (or the build's output from the sources). */
function assetsDirectory(): URL | undefined {
  for (const relative of ['../../console/', '../../dist/console/']) {
    const url = new URL(relative, import.meta.url);
    if (existsSync(new URL('app.js', url))) return url;
  }
  return undefined;
}

function page(token: string): string {
  const query = `?token=${encodeURIComponent(token)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="taskvisor-token" content="${token}">
<title>taskvisor console</title>
<link rel="stylesheet" href="/assets/app.css${query}">
</head>
<body>
<div id="app"><p class="loading">Loading the taskvisor console…</p></div>
<script type="module" src="/assets/app.js${query}"></script>
</body>
</html>
`;
}

function readBody(request: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) reject(new Refusal(413, 'the request body is too large'));
      else chunks.push(chunk);
    });
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        const value: unknown = text === '' ? {} : JSON.parse(text);
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          reject(new Refusal(400, 'the body must be a JSON object'));
        } else resolve(value as Record<string, unknown>);
      } catch {
        reject(new Refusal(400, 'the body is not valid JSON'));
      }
    });
    request.on('error', reject);
  });
}

function stringField(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new Refusal(400, `"${key}" must be a string`);
  return value;
}

function numberField(body: Record<string, unknown>, key: string): number | undefined {
  const value = body[key];
  if (value === undefined || value === null || value === '') return undefined;
  const number = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new Refusal(400, `"${key}" must be a positive number`);
  return number;
}

function statusOf(error: unknown): number {
  if (error instanceof Refusal) return error.status;
  if (isTaskvisorError(error)) {
    if (error.code.startsWith('UNKNOWN_')) return 404;
    return error.code === 'INVALID_STATE' ? 409 : 400;
  }
  return 500;
}

export async function startConsole(sv: Supervisor, options: ConsoleOptions): Promise<ConsoleServer> {
  const token = newToken();
  const probe = openDriverProbe(options.db);
  const live = await createLiveHub(sv, probe, { driverCheckMs: options.driverCheckMs ?? 2000 });
  const assets = assetsDirectory();
  let hosts = new Set<string>();

  const send = (response: http.ServerResponse, status: number, body: unknown, type = 'application/json') => {
    const text = type === 'application/json' ? JSON.stringify(body) : String(body);
    response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': `${type}; charset=utf-8` });
    response.end(text);
  };

  const runOrFail = async (runId: string): Promise<RunView> => {
    const view = await sv.get(runId);
    if (!view)
      throw new Refusal(404, `no run "${runId}" in ${options.db}; the run list shows the runs there`);
    return view;
  };

  /** After a command: whether a live process applies it now, or it waits (stored) for a resume. */
  const outcome = async (runId: string, what: string) => {
    const driver = await probe.driver(runId);
    return driver.state === 'live'
      ? { ok: true, pending: false, message: `${what}: sent; the process driving the run applies it now` }
      : {
          ok: true,
          pending: true,
          message: `${what}: stored, pending; no process drives this run, it applies when the run resumes`,
        };
  };

  async function get(
    url: URL,
    parts: string[],
    response: http.ServerResponse,
    request: http.IncomingMessage,
  ) {
    if (parts[0] === 'assets' && parts.length === 2 && (parts[1] === 'app.js' || parts[1] === 'app.css')) {
      if (!assets) throw new Refusal(500, 'the console was not built; run npm run build');
      const type = parts[1].endsWith('.js') ? 'text/javascript' : 'text/css';
      return send(response, 200, readFileSync(new URL(parts[1], assets), 'utf8'), type);
    }
    if (parts[0] !== 'api') throw new Refusal(404, `no page ${url.pathname}; the console is at /`);
    if (parts[1] === 'events' && parts.length === 2) return live.attach(request, response);
    if (parts[1] === 'pending' && parts.length === 2) return send(response, 200, await sv.pending());
    if (parts[1] === 'runs' && parts.length === 2) {
      const phases = url.searchParams.getAll('phase').filter(Boolean);
      for (const phase of phases) {
        if (!RunPhaseSchema.safeParse(phase).success) {
          throw new Refusal(400, `unknown phase "${phase}"; phases are ${RunPhaseSchema.options.join(', ')}`);
        }
      }
      const words = (url.searchParams.get('q') ?? '').toLowerCase().split(/\s+/).filter(Boolean);
      const limit = Math.min(500, Math.max(1, Number(url.searchParams.get('limit') ?? 200) || 200));
      const views = await sv.list({ ...(phases.length > 0 ? { phase: phases as never } : {}), limit });
      const matching = views.filter((view) => {
        const text = `${view.goal} ${view.id}`.toLowerCase();
        return words.every((word) => text.includes(word));
      });
      const rows = [];
      for (const view of matching) rows.push({ view, status: await runStatus(probe, view) });
      return send(response, 200, rows);
    }
    if (parts[1] === 'runs' && parts[2] !== undefined) {
      const view = await runOrFail(parts[2]);
      if (parts.length === 3) {
        const pending = await sv.pending();
        const mine = <T extends { runId: string }>(items: readonly T[]) =>
          items.filter((item) => item.runId === view.id);
        return send(response, 200, {
          view,
          status: await runStatus(probe, view),
          storedCommands: await probe.storedCommands(view.id),
          pending: {
            approvals: mine(pending.approvals),
            confirmations: mine(pending.confirmations),
            requests: mine(pending.requests),
          },
        });
      }
      if (parts[3] === 'trace' && parts.length === 4) return send(response, 200, await sv.trace(view.id));
      if (parts[3] === 'mermaid' && parts.length === 4)
        return send(response, 200, runToMermaid(view), 'text/plain');
    }
    throw new Refusal(404, `no endpoint GET ${url.pathname}`);
  }

  async function post(
    url: URL,
    parts: string[],
    request: http.IncomingMessage,
    response: http.ServerResponse,
  ) {
    checkJsonContentType(request);
    const body = await readBody(request);
    if (parts[0] === 'api' && parts[1] === 'requests' && parts[2] !== undefined && parts[3] === 'answer') {
      const text = stringField(body, 'text');
      const optionId = stringField(body, 'optionId');
      if ((text === undefined) === (optionId === undefined)) {
        throw new Refusal(400, 'answer with one of "text" or "optionId"');
      }
      const request = (await sv.pending()).requests.find((open) => open.requestId === parts[2]);
      if (!request) throw new Refusal(404, `no open request "${parts[2]}" (answered already?)`);
      await sv.answer(parts[2], { by: BY, ...(text !== undefined ? { text } : { optionId: optionId! }) });
      return send(response, 202, await outcome(request.runId, 'answer'));
    }
    if (parts[0] !== 'api' || parts[1] !== 'runs' || parts[2] === undefined || parts.length !== 4) {
      throw new Refusal(404, `no endpoint POST ${url.pathname}`);
    }
    const view = await runOrFail(parts[2]);
    const runId = view.id;
    const stepId = stringField(body, 'stepId');
    switch (parts[3]) {
      case 'approve':
        if (stepId === undefined) await sv.approvePlan(runId, { by: BY });
        else await sv.confirmStep(runId, stepId, { approved: true, by: BY });
        return send(response, 202, await outcome(runId, stepId ? `confirmation of ${stepId}` : 'approval'));
      case 'reject': {
        const reason = stringField(body, 'reason');
        const decision = stringField(body, 'decision');
        if (decision !== undefined && decision !== 'skip' && decision !== 'fail') {
          throw new Refusal(400, '"decision" must be "skip" or "fail"');
        }
        if (stepId === undefined) {
          if (!reason) throw new Refusal(400, 'rejecting a plan needs a "reason"');
          await sv.rejectPlan(runId, { by: BY, reason });
        } else {
          await sv.confirmStep(runId, stepId, {
            approved: false,
            by: BY,
            ...(reason ? { reason } : {}),
            ...(decision ? { decision } : {}),
          });
        }
        return send(
          response,
          202,
          await outcome(runId, stepId ? `${decision ?? 'rejection'} of ${stepId}` : 'rejection'),
        );
      }
      case 'cancel': {
        const reason = stringField(body, 'reason');
        await sv.cancel(runId, { by: BY, ...(reason ? { reason } : {}) });
        return send(response, 202, await outcome(runId, 'cancel'));
      }
      case 'control': {
        const action = stringField(body, 'action');
        if (stepId === undefined || action === undefined)
          throw new Refusal(400, 'control needs "stepId" and "action"');
        await sv.control(runId, stepId, action as never, { by: BY });
        return send(response, 202, await outcome(runId, `${action} of ${stepId}`));
      }
      case 'extend': {
        const budget = {
          ...(numberField(body, 'maxCostUsd') === undefined
            ? {}
            : { maxCostUsd: numberField(body, 'maxCostUsd')! }),
          ...(numberField(body, 'maxTokens') === undefined
            ? {}
            : { maxTokens: numberField(body, 'maxTokens')! }),
          ...(numberField(body, 'maxSteps') === undefined
            ? {}
            : { maxSteps: numberField(body, 'maxSteps')! }),
        };
        if (Object.keys(budget).length === 0) {
          throw new Refusal(400, 'extend needs one of "maxCostUsd", "maxTokens", "maxSteps"');
        }
        await sv.extendBudget(runId, budget, { by: BY });
        return send(response, 202, await outcome(runId, 'new budget'));
      }
      case 'resume': {
        const driver = await probe.driver(runId);
        if (driver.state !== 'orphaned') {
          throw new Refusal(
            409,
            driver.state === 'live'
              ? `run ${runId} is driven by pid ${driver.pid} already`
              : `run ${runId} has ended`,
          );
        }
        const started = await options.resume(view);
        return send(response, 202, {
          ok: true,
          pending: false,
          message: `resuming in the background (pid ${started.pid}); log: ${started.log}`,
        });
      }
    }
    throw new Refusal(404, `no endpoint POST ${url.pathname}`);
  }

  async function route(request: http.IncomingMessage, response: http.ServerResponse) {
    const url = new URL(request.url ?? '/', 'http://console.invalid');
    checkRequest(request, url, { hosts, token });
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (request.method === 'GET' && url.pathname === '/')
      return send(response, 200, page(token), 'text/html');
    if (request.method === 'GET') return get(url, parts, response, request);
    if (request.method === 'POST') return post(url, parts, request, response);
    throw new Refusal(405, `${request.method} is not supported`);
  }

  const server = http.createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      if (response.headersSent) return void response.end();
      const status = statusOf(error);
      const message = error instanceof Error ? error.message : String(error);
      if (status === 401 && request.method === 'GET' && (request.url ?? '/').split('?')[0] === '/') {
        return send(
          response,
          401,
          `<!doctype html><title>taskvisor console</title><p>${message.replace(/[<>&]/g, '')}</p>`,
          'text/html',
        );
      }
      send(response, status, {
        error: { code: isTaskvisorError(error) ? error.code : `HTTP_${status}`, message },
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  hosts = allowedHosts(options.host, port);
  const wildcard = options.host === '0.0.0.0' || options.host === '::';
  const shownHost =
    isLoopback(options.host) || wildcard
      ? '127.0.0.1'
      : options.host.includes(':')
        ? `[${options.host}]`
        : options.host;
  return {
    url: `http://${shownHost}:${port}/?token=${token}`,
    token,
    ...(isLoopback(options.host)
      ? {}
      : {
          warning: `warning: the console listens on ${options.host}, beyond this machine: anyone who can reach it and has the token can approve, answer and cancel runs, over plain HTTP. Bind to 127.0.0.1 (the default) unless you mean it.`,
        }),
    close: async () => {
      live.close();
      await new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      });
      await probe.close();
    },
  };
}
