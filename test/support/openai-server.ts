/**
 * A local OpenAI-compatible HTTP server for tests: the real `openai` client talks HTTP to it
 * on 127.0.0.1, and each test scripts what the "model" answers, call by call.
 *
 * - `POST /v1/chat/completions`: a JSON completion, or SSE chunks when `stream: true`
 *   (with a final usage chunk when `stream_options.include_usage` is true).
 * - `GET /v1/models`: the configured model list.
 * - Scripted failures: an HTTP status with an OpenAI-style error body and headers, or a
 *   dropped connection (before the response, or part-way through a stream).
 * - An empty script answers 500 naming that the test did not script a response.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Token counts as the OpenAI API reports them. */
export interface ScriptedUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens?: number;
}

export interface ScriptedToolCall {
  /** Defaults to `call_<n>`. */
  id?: string;
  name: string;
  /** A JSON string as the model wrote it, or a value to serialise. */
  arguments: string | Record<string, unknown>;
}

/** A successful model answer. */
export interface ScriptedReply {
  text?: string;
  toolCalls?: ScriptedToolCall[];
  /** Defaults to `tool_calls` when there are tool calls, else `stop`; `null` sends none. */
  finishReason?: string | null;
  /** Defaults to counts derived from the request and answer lengths. */
  usage?: ScriptedUsage;
  /** The `model` field of the answer; defaults to the requested model. */
  model?: string;
  /** Streaming only: how the text is split into deltas (defaults to word by word). */
  textChunks?: string[];
  /** Streaming only: destroy the socket after this many SSE events (a network failure mid-stream). */
  dropAfterEvents?: number;
}

/** An HTTP error with an OpenAI-style body `{ error: { message, type, code } }`. */
export interface ScriptedError {
  status: number;
  error: { message: string; type?: string; code?: string | null };
  headers?: Record<string, string>;
}

/** The connection is destroyed before any response byte is written. */
export interface ScriptedDrop {
  drop: true;
}

export type ScriptedResponse = ScriptedReply | ScriptedError | ScriptedDrop;

/** Computes a response from the parsed request body (may wait, to hold a request open). */
export type ScriptHandler = (
  body: Record<string, unknown>,
  request: RecordedRequest,
) => ScriptedResponse | Promise<ScriptedResponse>;

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (`{}` for a request without one). */
  body: Record<string, unknown>;
}

export interface OpenAiServerOptions {
  /** Served by `GET /v1/models`. */
  models?: string[];
  /** Answers chat requests when the script queue is empty (instead of the 500). */
  handler?: ScriptHandler;
}

export interface OpenAiServer {
  /** `http://127.0.0.1:<port>/v1`, ready for `new OpenAI({ baseURL })`. */
  readonly baseURL: string;
  /** Every request received, in order (chat and models). */
  readonly requests: RecordedRequest[];
  /** Chat requests only, in order. */
  readonly chatRequests: RecordedRequest[];
  /** Appends responses (or one-shot handlers) to the queue; each answers one chat request. */
  script(...responses: Array<ScriptedResponse | ScriptHandler>): void;
  /** Scripted responses not consumed yet. */
  readonly remaining: number;
  close(): Promise<void>;
}

/**
 * Starts the server on a free loopback port.
 *
 * @example
 * ```ts
 * const server = await startOpenAiServer();
 * server.script({ text: 'hello', usage: { prompt_tokens: 3, completion_tokens: 1 } });
 * const openai = new OpenAI({ baseURL: server.baseURL, apiKey: 'test', maxRetries: 0 });
 * await server.close();
 * ```
 */
export async function startOpenAiServer(options: OpenAiServerOptions = {}): Promise<OpenAiServer> {
  const models = options.models ?? ['test-model'];
  const queue: Array<ScriptedResponse | ScriptHandler> = [];
  const requests: RecordedRequest[] = [];
  let created = 1_700_000_000;

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        sendError(res, {
          status: 500,
          error: { message: `openai-server crashed: ${String(error)}`, type: 'test_server_error' },
        });
      } else {
        res.destroy();
      }
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    let body: Record<string, unknown> = {};
    if (raw.length > 0) {
      try {
        const parsed: unknown = JSON.parse(raw);
        body = isRecord(parsed) ? parsed : { value: parsed };
      } catch {
        sendError(res, {
          status: 400,
          error: { message: 'openai-server: the request body is not JSON', type: 'invalid_request_error' },
        });
        return;
      }
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const recorded: RecordedRequest = { method: req.method ?? 'GET', path, headers: req.headers, body };
    requests.push(recorded);

    if (recorded.method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: models.map((id) => ({ id, object: 'model', created, owned_by: 'taskvisor-test' })),
      });
      return;
    }
    if (recorded.method !== 'POST' || path !== '/v1/chat/completions') {
      sendError(res, {
        status: 404,
        error: {
          message: `openai-server: no route for ${recorded.method} ${path}`,
          type: 'invalid_request_error',
          code: 'unknown_url',
        },
      });
      return;
    }

    const next = queue.shift() ?? options.handler;
    if (next === undefined) {
      sendError(res, {
        status: 500,
        error: {
          message:
            `openai-server: the test did not script a response for chat request #${countChat()} ` +
            '(call server.script(...) before the request, or pass a handler)',
          type: 'test_not_scripted',
        },
      });
      return;
    }
    const response = typeof next === 'function' ? await next(body, recorded) : next;

    if ('drop' in response) {
      req.socket.destroy();
      return;
    }
    if ('status' in response) {
      sendError(res, response);
      return;
    }
    created += 1;
    const completion = completionOf(response, body, created);
    if (body['stream'] === true) {
      const streamOptions = body['stream_options'];
      const includeUsage = isRecord(streamOptions) && streamOptions['include_usage'] === true;
      sendStream(req, res, response, completion, includeUsage);
    } else {
      sendJson(res, 200, completion.json);
    }
  }

  function countChat(): number {
    return requests.filter((r) => r.path === '/v1/chat/completions').length;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    get chatRequests() {
      return requests.filter((r) => r.path === '/v1/chat/completions');
    },
    script(...responses) {
      queue.push(...responses);
    },
    get remaining() {
      return queue.length;
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

interface Completion {
  id: string;
  model: string;
  created: number;
  text: string | null;
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  finishReason: string | null;
  usage: Required<ScriptedUsage>;
  json: Record<string, unknown>;
}

function completionOf(reply: ScriptedReply, body: Record<string, unknown>, created: number): Completion {
  const model = reply.model ?? (typeof body['model'] === 'string' ? body['model'] : 'test-model');
  const toolCalls = (reply.toolCalls ?? []).map((call, index) => ({
    id: call.id ?? `call_${index + 1}`,
    name: call.name,
    arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
  }));
  const text = reply.text ?? (toolCalls.length > 0 ? null : '');
  const finishReason =
    reply.finishReason !== undefined ? reply.finishReason : toolCalls.length > 0 ? 'tool_calls' : 'stop';
  const usage = usageOf(reply, body, text, toolCalls);
  const id = `chatcmpl-test-${created}`;
  const message: Record<string, unknown> = { role: 'assistant', content: text, refusal: null };
  if (toolCalls.length > 0) {
    message['tool_calls'] = toolCalls.map((call) => ({
      id: call.id,
      type: 'function',
      function: { name: call.name, arguments: call.arguments },
    }));
  }
  const json = {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
    usage,
  };
  return { id, model, created, text, toolCalls, finishReason, usage, json };
}

function usageOf(
  reply: ScriptedReply,
  body: Record<string, unknown>,
  text: string | null,
  toolCalls: Array<{ arguments: string }>,
): Required<ScriptedUsage> {
  if (reply.usage) {
    const { prompt_tokens, completion_tokens } = reply.usage;
    return {
      prompt_tokens,
      completion_tokens,
      total_tokens: reply.usage.total_tokens ?? prompt_tokens + completion_tokens,
    };
  }
  // Roughly four characters a token, so counts are deterministic and plausible.
  const prompt_tokens = Math.max(1, Math.ceil(JSON.stringify(body['messages'] ?? []).length / 4));
  const answer = (text ?? '') + toolCalls.map((call) => call.arguments).join('');
  const completion_tokens = Math.max(1, Math.ceil(answer.length / 4));
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

function sendStream(
  req: IncomingMessage,
  res: ServerResponse,
  reply: ScriptedReply,
  completion: Completion,
  includeUsage: boolean,
): void {
  const base = {
    id: completion.id,
    object: 'chat.completion.chunk',
    created: completion.created,
    model: completion.model,
  };
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });

  const events: Array<Record<string, unknown>> = [chunk({ role: 'assistant', content: '', refusal: null })];
  if (completion.text) {
    const pieces = reply.textChunks ?? completion.text.split(/(?<= )/);
    for (const piece of pieces) events.push(chunk({ content: piece }));
  }
  completion.toolCalls.forEach((call, index) => {
    events.push(
      chunk({
        tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }],
      }),
    );
    const half = Math.ceil(call.arguments.length / 2);
    for (const piece of [call.arguments.slice(0, half), call.arguments.slice(half)]) {
      if (piece) events.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
    }
  });
  events.push(chunk({}, completion.finishReason));
  if (includeUsage) events.push({ ...base, choices: [], usage: completion.usage });

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  let sent = 0;
  for (const event of events) {
    if (reply.dropAfterEvents !== undefined && sent >= reply.dropAfterEvents) {
      // Let what was written reach the client, then cut the connection as a network failure would.
      setImmediate(() => req.socket.destroy());
      return;
    }
    res.write(`data: ${JSON.stringify(event)}\n\n`);
    sent += 1;
  }
  res.end('data: [DONE]\n\n');
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, scripted: ScriptedError): void {
  const { message, type = 'api_error', code = null } = scripted.error;
  sendJson(res, scripted.status, { error: { message, type, param: null, code } }, scripted.headers);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
