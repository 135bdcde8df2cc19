/**
 * Which process drives a run now, from its lease: `live` (a process holds it: this host's
 * pid is alive, or another host's lease has not expired), `orphaned` (an unfinished run
 * nobody drives: `resume` continues it) or `ended`. Also the commands stored for a run and
 * not applied yet. `ls`, `show`, `watch`, the gates and the console all read it here.
 */
import os from 'node:os';
import type { Json } from '../model/json.js';
import { isTerminalPhase, type RunPhase } from '../model/states.js';
import { isProcessAlive } from '../runtime/leases.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import type { Lease } from '../store/rows.js';
import type { RunView } from '../model/views.js';
import { type HumanWait, waitingFor } from '../model/waiting.js';

export type Driver =
  | { readonly state: 'live'; readonly pid: number; readonly host: string }
  | { readonly state: 'orphaned' }
  | { readonly state: 'ended' };

/** A command stored for a run that no process has applied yet. */
export interface StoredCommand {
  readonly kind: string;
  readonly stepId?: string;
  readonly by?: string;
  readonly storedAt: number;
}

/** The driver a lease means for a run in `phase`, at `now`. Pure but for the pid check. */
export function driverFromLease(phase: RunPhase, lease: Lease | undefined, now: number): Driver {
  if (isTerminalPhase(phase)) return { state: 'ended' };
  if (!lease || lease.expiresAt <= now) return { state: 'orphaned' };
  if (lease.host === os.hostname() && !isProcessAlive(lease.pid)) return { state: 'orphaned' };
  return { state: 'live', pid: lease.pid, host: lease.host };
}

/** Reads drivers and stored commands from one database, opened once. */
export interface DriverProbe {
  driver(runId: string): Promise<Driver>;
  storedCommands(runId: string): Promise<StoredCommand[]>;
  close(): Promise<void>;
}

function storedCommand(command: Json, createdAt: number): StoredCommand {
  const record = (
    typeof command === 'object' && command !== null && !Array.isArray(command) ? command : {}
  ) as {
    kind?: unknown;
    stepId?: unknown;
    by?: unknown;
  };
  return {
    kind: typeof record.kind === 'string' ? record.kind : 'command',
    ...(typeof record.stepId === 'string' ? { stepId: record.stepId } : {}),
    ...(typeof record.by === 'string' ? { by: record.by } : {}),
    storedAt: createdAt,
  };
}

/**
 * A probe of the database `db` names (a SQLite file or a postgres:// URL), opened at once
 * and closed by `close()`; a database that cannot be opened fails the first question.
 */
export function openDriverProbe(db: string, now: () => number = Date.now): DriverProbe {
  const opening: Promise<Store> = openStore(db);
  // Nobody may ask before close(): the failure is then the first question's, not unhandled.
  opening.catch(() => undefined);
  return {
    driver: async (runId) => {
      const run = await (await opening).runs.getRun(runId);
      return run ? driverFromLease(run.phase, run.lease, now()) : { state: 'ended' };
    },
    storedCommands: async (runId) =>
      (await (await opening).inbox.pendingCommands())
        .filter((row) => row.runId === runId)
        .map((row) => storedCommand(row.command, row.createdAt)),
    close: async () => {
      const store = await opening.catch(() => undefined);
      await store?.close();
    },
  };
}

/** One run's driver, opening the database for the question. */
export async function driverOf(db: string, runId: string): Promise<Driver> {
  const probe = openDriverProbe(db);
  try {
    return await probe.driver(runId);
  } finally {
    await probe.close();
  }
}

/** How a stored command reads: `cancel`, `confirmStep wipe by ann`. */
export function describeStoredCommand(command: StoredCommand): string {
  return `${command.kind}${command.stepId ? ` ${command.stepId}` : ''}${command.by ? ` by ${command.by}` : ''}`;
}

/** What `ls --json` adds to each RunView: who drives the run, what it waits for, what is stored for it. */
export interface RunStatus {
  readonly driver: Driver['state'];
  readonly pid?: number;
  readonly host?: string;
  readonly waitingFor: HumanWait[];
  /** Commands stored for the run and not applied yet (their kinds). */
  readonly pendingCommands: string[];
}

export async function runStatus(probe: DriverProbe, view: RunView): Promise<RunStatus> {
  const driver = await probe.driver(view.id);
  return {
    driver: driver.state,
    ...(driver.state === 'live' ? { pid: driver.pid, host: driver.host } : {}),
    waitingFor: waitingFor(view),
    pendingCommands: (await probe.storedCommands(view.id)).map((command) => command.kind),
  };
}
