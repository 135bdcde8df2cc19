/**
 * Live updates for the console as Server-Sent Events: every event committed to the log
 * (from whichever process drives the run) is pushed as `event: run` with its run id, seq
 * and type; every change of a run's driver (a process picked it up, or died) is pushed as
 * `event: status`. Pages fetch what changed; nothing polls from the browser.
 */
import type http from 'node:http';
import type { Subscription } from 'rxjs';
import type { RunView } from '../model/views.js';
import type { Supervisor } from '../supervisor.js';
import type { DriverProbe } from '../cli/driver.js';

const UNFINISHED = ['queued', 'planning', 'awaitingApproval', 'running', 'replanning', 'paused'] as const;

export interface LiveHub {
  /** Takes over `response` as an event stream until the client goes. */
  attach(request: http.IncomingMessage, response: http.ServerResponse): void;
  close(): void;
}

export async function createLiveHub(
  sv: Supervisor,
  probe: DriverProbe,
  options: { readonly driverCheckMs: number },
): Promise<LiveHub> {
  const clients = new Set<http.ServerResponse>();
  const send = (name: string, data: unknown) => {
    const frame = `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const client of clients) client.write(frame);
  };
  // From the newest event already in the log on: the pages load what came before.
  const newest = (await sv.list({ limit: 200 })).reduce((max, view: RunView) => Math.max(max, view.seq), 0);
  const subscription: Subscription = sv.events({ after: newest }).subscribe({
    next: (event) => send('run', { runId: event.runId, seq: event.seq, type: event.type }),
    error: () => send('error', { message: 'the event log cannot be read; reload the page' }),
  });
  const drivers = new Map<string, string>();
  let checking = false;
  const checkDrivers = async () => {
    if (checking) return;
    checking = true;
    try {
      for (const view of await sv.list({ phase: [...UNFINISHED], limit: 500 })) {
        const driver = await probe.driver(view.id);
        if (drivers.get(view.id) !== driver.state) {
          if (drivers.has(view.id)) send('status', { runId: view.id, driver: driver.state });
          drivers.set(view.id, driver.state);
        }
      }
    } catch {
      // The database is busy for a moment: look again at the next tick.
    } finally {
      checking = false;
    }
  };
  await checkDrivers();
  const timer = setInterval(() => void checkDrivers(), options.driverCheckMs);
  timer.unref();
  const heartbeat = setInterval(() => {
    for (const client of clients) client.write(': keep-alive\n\n');
  }, 15_000);
  heartbeat.unref();
  return {
    attach(request, response) {
      response.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        connection: 'keep-alive',
      });
      response.write('retry: 1000\n\n');
      clients.add(response);
      request.on('close', () => clients.delete(response));
    },
    close() {
      clearInterval(timer);
      clearInterval(heartbeat);
      subscription.unsubscribe();
      for (const client of clients) client.end();
      clients.clear();
    },
  };
}
