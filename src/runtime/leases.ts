/**
 * One writer per run. A process claims a run's lease (owner, expiry, fence); a lease
 * whose holder is gone (same host, pid not alive) is taken over at once, any other only
 * after it expires. Every write carries the fence, so a process that lost its lease
 * cannot overwrite the new holder's work.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Lease, LeaseClaim } from '../store/rows.js';

/** This process, as a lease holder. */
export function ownerClaim(): LeaseClaim {
  const host = os.hostname();
  return { owner: `${host}:${process.pid}:${randomBytes(4).toString('hex')}`, host, pid: process.pid };
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The holder of `lease` when it is another process of this host that no longer exists. */
export function deadHolder(lease: Lease | undefined, claim: LeaseClaim): string | undefined {
  if (!lease || lease.owner === claim.owner || lease.host !== claim.host) return undefined;
  return isProcessAlive(lease.pid) ? undefined : lease.owner;
}
