/** Which process drives a run now, from its lease (for `watch` and `resume` to say so). */
import os from 'node:os';
import { isProcessAlive } from '../runtime/leases.js';
import { openStore } from '../store/open-store.js';

export type Driver =
  { readonly state: 'alive'; readonly pid: number; readonly host: string } | { readonly state: 'none' };

export async function driverOf(db: string, runId: string, now = Date.now()): Promise<Driver> {
  const store = await openStore(db);
  try {
    const lease = (await store.runs.getRun(runId))?.lease;
    if (!lease || lease.expiresAt <= now) return { state: 'none' };
    if (lease.host === os.hostname() && !isProcessAlive(lease.pid)) return { state: 'none' };
    return { state: 'alive', pid: lease.pid, host: lease.host };
  } finally {
    await store.close();
  }
}
