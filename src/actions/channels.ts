/**
 * Notification channels for `notify` steps: `createSupervisor({ channels })`.
 *
 * - `console` (always there): one line on stdout (or stderr);
 * - `file`: one JSON line appended per message, `{ type: 'file', path }`;
 * - `webhook`: POST JSON with retries and backoff, `{ type: 'webhook', url, headers? }`;
 * - a function `(message, ctx) => ...`: anything else (Slack, email, ...).
 *
 * The keys `console`, `file` and `webhook` may leave out `type`; other names need it, so
 * `{ alerts: { type: 'webhook', url } }` and `{ file: { path: 'notes.jsonl' } }` both work.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { TaskvisorError } from '../errors.js';
import type { Json } from '../model/json.js';
import { postWebhook } from './webhook.js';

/** What a channel delivers. */
export interface NotifyMessage {
  readonly channel: string;
  readonly message: string;
  readonly runId: string;
  readonly stepId: string;
  /** `<runId>/<stepId>`: the same on every attempt, for receivers that dedupe. */
  readonly idempotencyKey: string;
  readonly at: number;
}

/** A custom channel; a throw is a failed delivery. */
export type ChannelFunction = (
  message: NotifyMessage,
  ctx: { readonly signal: AbortSignal },
) => unknown | Promise<unknown>;

/** How a delivery went, recorded as the `notification` artifact. */
export interface DeliveryReceipt {
  /** Tries it took (webhooks retry). */
  readonly attempts: number;
  /** The HTTP status of a webhook delivery. */
  readonly status?: number;
  /** Where a file channel wrote. */
  readonly path?: string;
}

/** A resolved channel. */
export type Channel = (
  message: NotifyMessage,
  ctx: { readonly signal: AbortSignal; readonly clock: Clock },
) => Promise<DeliveryReceipt>;

const ConsoleChannelSchema = z.strictObject({
  type: z.literal('console').optional(),
  stream: z.enum(['stdout', 'stderr']).optional(),
});
const FileChannelSchema = z.strictObject({
  type: z.literal('file').optional(),
  /** JSONL file; relative paths resolve against `process.cwd()` when the supervisor is created. */
  path: z.string().min(1),
});
const WebhookChannelSchema = z.strictObject({
  type: z.literal('webhook').optional(),
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }),
  headers: z.record(z.string(), z.string()).optional(),
  maxAttempts: z.int().min(1).max(20).optional(),
  backoffMs: z.int().min(0).max(600_000).optional(),
  timeoutMs: z.int().positive().max(600_000).optional(),
});

export type ConsoleChannelOptions = z.input<typeof ConsoleChannelSchema>;
export type FileChannelOptions = z.input<typeof FileChannelSchema>;
export type WebhookChannelOptions = z.input<typeof WebhookChannelSchema>;
export type ChannelOption =
  ChannelFunction | ConsoleChannelOptions | FileChannelOptions | WebhookChannelOptions;
export type ChannelsOption = Readonly<Record<string, ChannelOption>>;

/**
 * The `channels` option's shape for `createSupervisor`'s schema; `resolveChannels` checks
 * each channel's fields (with messages that name the channel and the fix).
 */
export const ChannelsOptionSchema = z.record(
  z.string().min(1),
  z.custom<ChannelOption>(
    (value) =>
      typeof value === 'function' || (typeof value === 'object' && value !== null && !Array.isArray(value)),
    'a channel is a function (message) => ..., or { type: "console" | "file" | "webhook", ... }',
  ),
);

const BUILT_IN_TYPES = ['console', 'file', 'webhook'] as const;

/**
 * Validates the `channels` option and builds every channel (plus `console`, unless it is
 * configured). Errors are `INVALID_OPTION` naming the channel, the field and the fix.
 *
 * @example
 * ```ts
 * const channels = resolveChannels({ file: { path: 'notes.jsonl' }, slack: async (msg) => postToSlack(msg.message) });
 * [...channels.keys()]; // ['console', 'file', 'slack']
 * ```
 */
export function resolveChannels(
  option: Readonly<Record<string, unknown>> | undefined,
): ReadonlyMap<string, Channel> {
  const channels = new Map<string, Channel>([['console', consoleChannel('stdout')]]);
  for (const [name, value] of Object.entries(option ?? {})) {
    channels.set(name, resolveChannel(name, value));
  }
  return channels;
}

function resolveChannel(name: string, value: unknown): Channel {
  if (typeof value === 'function') return customChannel(value as ChannelFunction);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(
      name,
      `a function (message) => ..., or { type: ${BUILT_IN_TYPES.map((t) => `'${t}'`).join(' | ')}, ... }`,
      value,
    );
  }
  const declared = (value as { type?: unknown }).type;
  const type = declared ?? ((BUILT_IN_TYPES as readonly string[]).includes(name) ? name : undefined);
  switch (type) {
    case 'console': {
      const config = parse(name, ConsoleChannelSchema, value);
      return consoleChannel(config.stream ?? 'stdout');
    }
    case 'file': {
      const config = parse(name, FileChannelSchema, value);
      return fileChannel(path.resolve(config.path));
    }
    case 'webhook': {
      const config = parse(name, WebhookChannelSchema, value);
      return (message, ctx) =>
        postWebhook(config, message as unknown as Json, {
          clock: ctx.clock,
          signal: ctx.signal,
          idempotencyKey: message.idempotencyKey,
        });
    }
    default:
      throw invalid(
        name,
        `a channel type: add type: 'console' | 'file' | 'webhook' (only the channels named console, file and webhook may leave it out), or pass a function`,
        value,
      );
  }
}

function consoleChannel(stream: 'stdout' | 'stderr'): Channel {
  return async (message) => {
    const out = stream === 'stdout' ? process.stdout : process.stderr;
    out.write(`[taskvisor] ${message.runId}/${message.stepId}: ${message.message}\n`);
    return { attempts: 1 };
  };
}

function fileChannel(file: string): Channel {
  return async (message) => {
    await mkdir(path.dirname(file), { recursive: true });
    // One write with O_APPEND: concurrent appends of a line each do not interleave.
    await appendFile(file, `${JSON.stringify(message)}\n`, { flag: 'a' });
    return { attempts: 1, path: file };
  };
}

function customChannel(send: ChannelFunction): Channel {
  return async (message, ctx) => {
    await send(message, { signal: ctx.signal });
    return { attempts: 1 };
  };
}

function parse<T>(name: string, schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.map(String).join('.');
  throw new TaskvisorError(
    'INVALID_OPTION',
    `Option channels.${name}${field ? `.${field}` : ''}: ${issue.message}.`,
    { field: `channels.${name}${field ? `.${field}` : ''}` },
  );
}

function invalid(name: string, expected: string, value: unknown): TaskvisorError {
  return new TaskvisorError(
    'INVALID_OPTION',
    `Option channels.${name} must be ${expected}; got ${JSON.stringify(value) ?? String(value)}.`,
    { field: `channels.${name}` },
  );
}
