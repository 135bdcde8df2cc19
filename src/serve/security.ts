/**
 * The console's guards, applied to every request: a per-start token (in the printed URL;
 * then in an `Authorization: Bearer` header, or `?token=` for what a page cannot give a
 * header: its script, stylesheet and event stream), the `Host` header (so a DNS-rebinding
 * page cannot read runs through the user's browser), the `Origin` header, an exact JSON
 * content type for commands, and headers that forbid framing and inline script.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import os from 'node:os';

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The `Host` values the console answers to: loopback names, plus this machine's names when bound wider. */
export function allowedHosts(bind: string, port: number): Set<string> {
  const names = new Set(LOOPBACK_NAMES);
  if (!isLoopback(bind)) {
    if (bind === '0.0.0.0' || bind === '::') {
      names.add(os.hostname());
      for (const addresses of Object.values(os.networkInterfaces())) {
        for (const address of addresses ?? []) {
          names.add(address.family === 'IPv6' ? `[${address.address}]` : address.address);
        }
      }
    } else names.add(bind.includes(':') ? `[${bind}]` : bind);
  }
  return new Set([...names].map((name) => `${name}:${port}`.toLowerCase()));
}

/** Every response: no framing (clickjacking), no inline or foreign script, no referrer (the token). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-resource-policy': 'same-origin',
};

export class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function tokenMatches(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The token a request carries: `Authorization: Bearer <token>`, else `?token=`. */
export function tokenOf(request: http.IncomingMessage, url: URL): string | undefined {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim();
  return url.searchParams.get('token') ?? undefined;
}

/**
 * Throws a `Refusal` (403 or 401) unless the request names an allowed host, comes from
 * the console's own origin (when it says where it comes from) and carries the token.
 */
export function checkRequest(
  request: http.IncomingMessage,
  url: URL,
  options: { readonly hosts: ReadonlySet<string>; readonly token: string },
): void {
  const host = (request.headers.host ?? '').toLowerCase();
  if (!options.hosts.has(host)) {
    throw new Refusal(403, `the console answers to ${[...options.hosts][0]} only, not Host "${host}"`);
  }
  const origin = request.headers.origin;
  if (origin !== undefined && origin.toLowerCase() !== `http://${host}`) {
    throw new Refusal(403, `requests from ${origin} are refused; use the console's own page`);
  }
  if (request.headers['sec-fetch-site'] === 'cross-site') {
    throw new Refusal(403, "cross-site requests are refused; use the console's own page");
  }
  if (!tokenMatches(tokenOf(request, url), options.token)) {
    throw new Refusal(
      401,
      'this needs the token: open the URL that `taskvisor serve` printed (it ends in ?token=…)',
    );
  }
}

/** Commands are `application/json` exactly (a charset parameter is allowed, nothing else). */
export function checkJsonContentType(request: http.IncomingMessage): void {
  const [type, ...parameters] = (request.headers['content-type'] ?? '')
    .split(';')
    .map((part) => part.trim().toLowerCase());
  const charsetOk = parameters.every((parameter) => parameter === 'charset=utf-8');
  if (type !== 'application/json' || !charsetOk) {
    throw new Refusal(
      415,
      `send commands as Content-Type: application/json, not "${request.headers['content-type'] ?? ''}"`,
    );
  }
}
