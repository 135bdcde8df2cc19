/**
 * `--inspect`: a local relay for the Stately inspector. It listens on 127.0.0.1 only,
 * serves a page that embeds the inspector (stately.ai/inspect) and feeds it over a
 * WebSocket with the supervisor's actors, taken straight from this process's inspection
 * observer. Pages only receive: a message a client sends is dropped, never forwarded to
 * another client.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InspectionEvent, Observer } from 'xstate';
import { WebSocket, WebSocketServer } from 'ws';
import { CliError } from './exit-codes.js';

export const DEFAULT_INSPECT_PORT = 8080;
const INSPECTOR_PAGE = 'https://stately.ai/inspect';
/** Messages replayed to a page that connects late. */
const REPLAYED = 200;

export interface InspectorRelay {
  /** The page to open: it embeds the Stately inspector and feeds it from the relay. */
  readonly url: string;
  /** The address the relay listens on (always a loopback one). */
  readonly address: string;
  /** The observer to pass as `createSupervisor({ inspect })`. */
  readonly inspect: Observer<InspectionEvent>;
  stop(): void;
}

export function parsePort(value: string, flag: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new CliError(`${flag} must be a port number from 0 to 65535, got ${JSON.stringify(value)}.`);
  }
  return port;
}

function bridgePage(port: number): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>taskvisor: Stately inspector</title>
<style>html, body, iframe { margin: 0; width: 100%; height: 100%; border: 0; }</style></head>
<body>
<iframe id="inspector" src="${INSPECTOR_PAGE}"></iframe>
<script>
  // Hands the relay's messages to the embedded inspector once it says it is ready.
  const frame = document.getElementById('inspector');
  const waiting = [];
  let ready = false;
  addEventListener('message', (message) => {
    if (message.data && message.data.type === '@statelyai.connected') {
      ready = true;
      for (const data of waiting.splice(0)) frame.contentWindow.postMessage(data, '*');
    }
  });
  const socket = new WebSocket('ws://127.0.0.1:${port}');
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (ready) frame.contentWindow.postMessage(data, '*');
    else waiting.push(data);
  };
</script>
</body>
</html>
`;
}

/** JSON that survives cycles (a repeated object becomes `"[circular]"`). */
function stringify(value: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === 'function') return undefined;
    if (typeof item === 'object' && item !== null) {
      if (seen.has(item)) return '[circular]';
      seen.add(item);
    }
    return item;
  });
}

/** Starts the relay on 127.0.0.1:`port` and an inspector that feeds it. */
export async function startInspector(options: { port: number; open: boolean }): Promise<InspectorRelay> {
  const { port } = options;
  if (port === 0) {
    throw new CliError(
      `--inspect-port 0: the port must be fixed (the page connects back to it); pass e.g. --inspect-port ${DEFAULT_INSPECT_PORT}.`,
    );
  }
  const allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const server = http.createServer((request, response) => {
    if (!allowedHosts.has((request.headers.host ?? '').toLowerCase())) {
      response.writeHead(403, { 'content-type': 'text/plain' }).end('open the relay through 127.0.0.1');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    response.end(bridgePage(port));
  });
  const sockets = new WebSocketServer({
    server,
    verifyClient: ({ req }: { req: http.IncomingMessage }) =>
      allowedHosts.has((req.headers.host ?? '').toLowerCase()),
  });
  const replay: string[] = [];
  sockets.on('connection', (socket) => {
    for (const message of replay) socket.send(message);
    // Pages only listen: whatever a client sends is dropped, never passed on to others.
    socket.on('message', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new CliError(
              `--inspect-port ${port}: the port is in use; pass --inspect-port <a free port>, e.g. --inspect-port ${port + 1}.`,
            )
          : error,
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const broadcast = (message: string) => {
    replay.push(message);
    if (replay.length > REPLAYED) replay.shift();
    for (const client of sockets.clients) if (client.readyState === WebSocket.OPEN) client.send(message);
  };
  const { createInspector } = await import('@statelyai/inspect');
  const inspector = createInspector({
    send: (event) => {
      try {
        broadcast(stringify(event));
      } catch {
        // An event that cannot be serialized is left out of the inspector's view.
      }
    },
  });
  inspector.start?.();
  const url = `http://127.0.0.1:${port}`;
  if (options.open) {
    const { exec } = await import('node:child_process');
    const opener =
      process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'start' : 'xdg-open';
    exec(`${opener} ${url}`, () => {});
  }
  return {
    url,
    address: (server.address() as AddressInfo).address,
    inspect: inspector.inspect,
    stop: () => {
      inspector.stop?.();
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      server.closeAllConnections();
      server.close();
    },
  };
}
