/**
 * The audit trail's hash chains, one per run: each row's hash covers the previous row's
 * hash and the row's own canonical content (its run and position included), so editing,
 * deleting, inserting or reordering a row breaks its run's chain at that row. There is no
 * global head: runs are written by different processes, each by one at a time (its lease).
 *
 * With an audit key, a row's hash is an HMAC-SHA-256 under that key, so a row forged by
 * someone without the key — even one chained correctly — does not verify.
 */
import { createHash, createHmac } from 'node:crypto';
import type { AuditEntry, AuditHead, ChainedAuditEntry } from '../store/rows.js';
import { canonicalJson } from './canonical-json.js';

/** The `prevHash` of a run's first row. */
export const GENESIS_HASH = '0'.repeat(64);

/** Where a run with no audit rows yet starts its chain. */
export const EMPTY_HEAD: AuditHead = { position: 0, hash: GENESIS_HASH };

/**
 * The hash of a row: SHA-256 (hex) — or HMAC-SHA-256 under `key` — of `prevHash`, a
 * newline, and the canonical JSON of `{ runId, position, at, stepId, action, by, details }`
 * (absent fields as null).
 *
 * @example
 * ```ts
 * const hash = auditHash(GENESIS_HASH, 1, { at: 1, runId: 'r', action: 'run.created', details: {} });
 * ```
 */
export function auditHash(prevHash: string, position: number, entry: AuditEntry, key?: string): string {
  const content = canonicalJson({
    runId: entry.runId,
    position,
    at: entry.at,
    stepId: entry.stepId ?? null,
    action: entry.action,
    by: entry.by ?? null,
    details: entry.details,
  });
  const digest = key === undefined ? createHash('sha256') : createHmac('sha256', key);
  return digest.update(prevHash).update('\n').update(content).digest('hex');
}

/**
 * Links `entries` (all of one run) onto the chain after `head`: positions follow
 * `head.position`, each row's `prevHash` is the hash before it. Returns the rows and the
 * run's new head.
 *
 * @example
 * ```ts
 * const { rows, head } = chainEntries(EMPTY_HEAD, [{ at: 1, runId: 'r', action: 'run.created', details: {} }]);
 * ```
 */
export function chainEntries(
  head: AuditHead,
  entries: readonly AuditEntry[],
  key?: string,
): { rows: ChainedAuditEntry[]; head: AuditHead } {
  const rows: ChainedAuditEntry[] = [];
  let prevHash = head.hash;
  let position = head.position;
  for (const entry of entries) {
    position += 1;
    const hash = auditHash(prevHash, position, entry, key);
    rows.push({ ...entry, position, prevHash, hash, keyed: key !== undefined });
    prevHash = hash;
  }
  return { rows, head: { position, hash: prevHash } };
}

/**
 * The database's audit-key record: when (ms) chains began to be keyed, and a MAC of that
 * time under the key, so the record cannot be moved or forged without the key and a
 * different key is recognised.
 */
export function auditKeyRecord(since: number, key: string): string {
  return `${since}.${createHmac('sha256', key).update(`taskvisor audit key since ${since}`).digest('hex')}`;
}

/** The time a key record says keying began, when `key` is the key that wrote it. */
export function keyedSince(record: string, key: string): number | undefined {
  const since = Number(record.slice(0, record.indexOf('.')));
  return Number.isFinite(since) && auditKeyRecord(since, key) === record ? since : undefined;
}

/** SHA-256 (hex) of a text: the reference of a stored output. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
