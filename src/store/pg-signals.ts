/**
 * Wake-ups across processes on PostgreSQL: one dedicated connection LISTENs on the store's
 * channels (events, commands, runs) while anyone listens. A dropped connection is noticed
 * (an error, its end, or a ping every few seconds that gets no answer), reopened with
 * backoff and LISTENs again; then every listener is called once, so each catches up from
 * its own cursor with whatever was committed while nobody heard.
 */
import pg from 'pg';
import type { StoreSignal, StoreSignals } from './store.js';

const PING_MS = 5_000;
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 2_000;

export type SignalChannels = Readonly<Record<StoreSignal, string>>;

/** The channel names of a schema (NOTIFY reaches every session of a database, so they name it). */
export function signalChannels(schema: string): SignalChannels {
  return {
    events: `taskvisor_events_${schema}`,
    commands: `taskvisor_commands_${schema}`,
    runs: `taskvisor_runs_${schema}`,
  };
}

export class PgSignals implements StoreSignals {
  private readonly listeners: Record<StoreSignal, Set<(lastSeq?: number) => void>> = {
    events: new Set(),
    commands: new Set(),
    runs: new Set(),
  };
  private client?: pg.Client;
  private connecting = false;
  private closed = false;
  private retries = 0;
  private pingTimer?: ReturnType<typeof setInterval>;
  private retryTimer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly channels: SignalChannels,
  ) {}

  /** Whether the listening connection is up (false while it reconnects, or before anyone listens). */
  get listening(): boolean {
    return this.client !== undefined;
  }

  on(signal: StoreSignal, listener: (lastSeq?: number) => void): () => void {
    this.listeners[signal].add(listener);
    this.ensure();
    return () => {
      this.listeners[signal].delete(listener);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private ensure(): void {
    if (this.closed || this.client || this.connecting || this.retryTimer) return;
    this.connecting = true;
    void this.connect().finally(() => {
      this.connecting = false;
    });
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ ...this.config, keepAlive: true });
    let dropped = false;
    const drop = () => {
      if (dropped) return;
      dropped = true;
      if (this.client === client) this.client = undefined;
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = undefined;
      void client.end().catch(() => undefined);
      this.retryLater();
    };
    client.on('error', drop);
    client.on('end', drop);
    client.on('notification', (message) => {
      const signal = (Object.keys(this.channels) as StoreSignal[]).find(
        (name) => this.channels[name] === message.channel,
      );
      if (!signal) return;
      const seq = signal === 'events' && message.payload ? Number(message.payload) : undefined;
      this.wake(signal, Number.isFinite(seq) ? seq : undefined);
    });
    try {
      await client.connect();
      for (const channel of Object.values(this.channels)) {
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
    } catch {
      drop();
      return;
    }
    if (this.closed || dropped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retries = 0;
    this.pingTimer = setInterval(() => {
      client.query('SELECT 1').catch(drop);
    }, PING_MS);
    this.pingTimer.unref?.();
    // Whatever was committed before this connection listened was not heard: catch up.
    for (const signal of Object.keys(this.listeners) as StoreSignal[]) this.wake(signal);
  }

  private retryLater(): void {
    if (this.closed || this.retryTimer) return;
    const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.retries);
    this.retries += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.ensure();
    }, delay);
    this.retryTimer.unref?.();
  }

  private wake(signal: StoreSignal, lastSeq?: number): void {
    for (const listener of [...this.listeners[signal]]) {
      try {
        listener(lastSeq);
      } catch {
        // A listener's failure is its own; the others still hear.
      }
    }
  }
}
