/**
 * `--inspect`: starts the @statelyai/inspect WebSocket relay on a local port and connects
 * the supervisor to it, so the Stately inspector (opened through the relay's page) shows
 * the supervisor, task and step actors live.
 */
import net from 'node:net';
import type { InspectionEvent, Observer } from 'xstate';
import { CliError } from './exit-codes.js';

export const DEFAULT_INSPECT_PORT = 8080;

export interface InspectorRelay {
  /** The page to open: it embeds the Stately inspector and feeds it from the relay. */
  readonly url: string;
  /** The observer to pass as `createSupervisor({ inspect })`. */
  readonly inspect: Observer<InspectionEvent>;
  stop(): void;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, () => probe.close(() => resolve(true)));
  });
}

function untilListening(port: number, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline)
          reject(new CliError(`the inspector relay did not start on port ${port}.`, 1));
        else setTimeout(attempt, 10);
      });
    };
    attempt();
  });
}

export function parsePort(value: string, flag: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new CliError(`${flag} must be a port number from 0 to 65535, got ${JSON.stringify(value)}.`);
  }
  return port;
}

/** Starts the relay and an inspector connected to it. */
export async function startInspector(options: { port: number; open: boolean }): Promise<InspectorRelay> {
  const { port } = options;
  if (port === 0 || !(await portIsFree(port))) {
    throw new CliError(
      `--inspect-port ${port}: the port is ${port === 0 ? 'not fixed' : 'in use'}; pass --inspect-port <a free port>, e.g. --inspect-port ${DEFAULT_INSPECT_PORT + 1}.`,
    );
  }
  const { createInspectorServer } = await import('@statelyai/inspect/server');
  const { createWebSocketInspector } = await import('@statelyai/inspect');
  const server = createInspectorServer({ port, autoOpen: options.open });
  await untilListening(port, Date.now() + 5000);
  const inspector = createWebSocketInspector({ url: `ws://localhost:${port}` });
  return {
    url: `http://localhost:${port}`,
    inspect: inspector.inspect,
    stop: () => {
      inspector.stop();
      server.stop();
    },
  };
}
