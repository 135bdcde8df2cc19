/**
 * The audit trail's hash chain: each row's hash covers the previous row's hash and the row's
 * own canonical content (its id included), so editing, deleting, inserting or reordering a
 * row breaks the chain at that row. The chain's head (last id and hash) is kept apart, so
 * dropping rows from the end is caught too.
 *
 * It detects tampering by anyone who does not recompute the chain; it is not a signature
 * (someone able to rewrite every later row and the head can forge it).
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import type { AuditEntry, AuditRow } from './audit-entries.js';

/** The `prevHash` of the first row. */
export const GENESIS_HASH = '0'.repeat(64);

/** The result of `verifyAudit()`. */
export type AuditVerification =
  | { readonly ok: true; readonly rows: number }
  | {
      readonly ok: false;
      /** The first row that is wrong, or the id of the first row that is missing. */
      readonly firstBadId: number;
      /** What is wrong with it. */
      readonly reason: string;
    };

/** The stored chain head: the last row's id and hash (id 0 and the genesis hash when empty). */
export interface AuditHead {
  readonly lastId: number;
  readonly hash: string;
}

/**
 * The hash of a row: sha256 (hex) of `prevHash`, a newline, and the canonical JSON of
 * `{ id, at, runId, stepId, action, by, details }` (absent fields as null).
 *
 * @example
 * ```ts
 * const hash = auditHash(GENESIS_HASH, 1, { at: 1, runId: 'r', action: 'run.created', details: {} });
 * ```
 */
export function auditHash(prevHash: string, id: number, entry: AuditEntry): string {
  const content = canonicalJson({
    id,
    at: entry.at,
    runId: entry.runId,
    stepId: entry.stepId ?? null,
    action: entry.action,
    by: entry.by ?? null,
    details: entry.details,
  });
  return createHash('sha256').update(prevHash).update('\n').update(content).digest('hex');
}

/**
 * Links `entries` onto the chain after `head`: ids follow `head.lastId`, each row's
 * `prevHash` is the hash before it. Returns the rows and the new head.
 */
export function chainEntries(
  head: AuditHead,
  entries: readonly AuditEntry[],
): { rows: AuditRow[]; head: AuditHead } {
  const rows: AuditRow[] = [];
  let prevHash = head.hash;
  let id = head.lastId;
  for (const entry of entries) {
    id += 1;
    const hash = auditHash(prevHash, id, entry);
    rows.push({ ...entry, id, prevHash, hash });
    prevHash = hash;
  }
  return { rows, head: { lastId: id, hash: prevHash } };
}

/**
 * Walks every stored row in id order and checks the chain: ids without gaps from 1, each
 * `prevHash` equal to the hash before, each `hash` recomputed from the content, and the
 * stored head equal to the last row.
 *
 * @example
 * ```ts
 * verifyAuditChain(rowsInIdOrder, head); // { ok: true, rows: 42 } or { ok: false, firstBadId: 7, reason: '...' }
 * ```
 */
export function verifyAuditChain(rows: Iterable<AuditRow>, head: AuditHead): AuditVerification {
  let expectedId = 1;
  let prevHash = GENESIS_HASH;
  let count = 0;
  for (const row of rows) {
    if (row.id !== expectedId) {
      return row.id > expectedId
        ? bad(expectedId, `row ${expectedId} is missing (the next row is ${row.id})`)
        : bad(row.id, `row ${row.id} is out of order (expected ${expectedId})`);
    }
    if (row.prevHash !== prevHash) {
      return bad(row.id, `row ${row.id} does not link to the row before it (prevHash differs)`);
    }
    if (auditHash(row.prevHash, row.id, row) !== row.hash) {
      return bad(
        row.id,
        `row ${row.id} was changed after it was written (its hash does not match its content)`,
      );
    }
    prevHash = row.hash;
    expectedId += 1;
    count += 1;
  }
  const lastId = expectedId - 1;
  if (head.lastId > lastId) {
    return bad(
      lastId + 1,
      `rows ${lastId + 1} to ${head.lastId} are missing (the chain head is row ${head.lastId})`,
    );
  }
  if (head.lastId < lastId) {
    return bad(
      head.lastId + 1,
      `row ${head.lastId + 1} was added outside the chain (the chain head is row ${head.lastId})`,
    );
  }
  if (head.hash !== prevHash) {
    return bad(lastId, `row ${lastId} does not match the chain head's hash`);
  }
  return { ok: true, rows: count };
}

function bad(firstBadId: number, reason: string): AuditVerification {
  return { ok: false, firstBadId, reason };
}
