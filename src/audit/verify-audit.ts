/**
 * `verifyAudit()`: every run's chain checked against itself, its head and its anchor, and
 * every audited step output against what the log stores.
 *
 * What is caught: an edited row (its hash), a deleted middle row (a gap in positions), a cut
 * tail (the anchor — the chain length the run's events, attempts and artifacts were
 * written with — is past the chain's end, even when the head was rewound to match), a run
 * whose rows were all wiped (every run has at least its `run.created` row), an edited
 * output (its reference is a SHA-256 of its text, and the audited attempt names it), and,
 * with an audit key, any row forged without the key, however well chained.
 *
 * What a chain without a key cannot catch: someone with write access who rewrites a run's
 * rows, head and anchors consistently (recomputing the hashes), or who deletes a whole run
 * — its run row, events and audit rows — as `prune` does. A key makes forged rows fail;
 * deleting a whole run stays visible only to whoever kept a copy of the run list.
 */
import type { TaskvisorEvent } from '../model/events.js';
import type { AuditAnchor, AuditRow } from '../store/rows.js';
import type { AuditLog, EventLog, RecordStore } from '../store/store.js';
import { auditHash, GENESIS_HASH, keyedSince, sha256 } from './hash-chain.js';

/** The result of `verifyAudit()`. */
export type AuditVerification =
  | { readonly ok: true; readonly rows: number; readonly runs: number }
  | {
      readonly ok: false;
      /** The first row that is wrong; 0 when no stored row is wrong but rows are missing. */
      readonly firstBadId: number;
      readonly runId?: string;
      /** The chain position that is wrong or missing. */
      readonly position?: number;
      /** What is wrong, in words. */
      readonly reason: string;
    };

type Failure = Extract<AuditVerification, { ok: false }>;

export interface ChainCheck {
  /** The audit key, when one is configured. */
  readonly key?: string;
  /** Runs created at or after this time must have keyed rows (from the key record). */
  readonly keyedSince?: number;
}

/**
 * Checks one run's chain: positions 1..n without gaps, each row linked to the one before
 * and hashed from its content (HMAC under the key for keyed rows), the head equal to the
 * last row, and the anchor not past it.
 *
 * @example
 * ```ts
 * verifyRunChain(anchor, rowsByPosition, {}); // undefined when intact, else what is wrong
 * ```
 */
export function verifyRunChain(
  anchor: AuditAnchor,
  rows: readonly AuditRow[],
  check: ChainCheck,
): Failure | undefined {
  const runId = anchor.runId;
  const fail = (firstBadId: number, position: number, reason: string): Failure => ({
    ok: false,
    firstBadId,
    runId,
    position,
    reason: `run ${runId}: ${reason}`,
  });
  if (anchor.createdAt === undefined)
    return fail(rows[0]?.id ?? 0, 1, 'has audit rows but no run (its run row was deleted)');
  if (rows.length === 0)
    return anchor.anchor > 0
      ? fail(0, 1, `rows 1 to ${anchor.anchor} are missing (the run's log was written with ${anchor.anchor})`)
      : fail(0, 1, 'has no audit rows, though every run has at least its run.created row');
  const mustBeKeyed = check.keyedSince !== undefined && anchor.createdAt >= check.keyedSince;
  let prevHash = GENESIS_HASH;
  let position = 0;
  for (const row of rows) {
    position += 1;
    if (row.position !== position) {
      return row.position > position
        ? fail(row.id, position, `row ${position} is missing (the next row is ${row.position}, id ${row.id})`)
        : fail(row.id, row.position, `row ${row.position} (id ${row.id}) is out of order`);
    }
    if (row.prevHash !== prevHash)
      return fail(row.id, position, `row ${position} (id ${row.id}) does not link to the row before it`);
    if (row.keyed && check.key === undefined)
      return fail(row.id, position, `row ${position} is keyed: configure the audit key to verify it`);
    if (!row.keyed && mustBeKeyed)
      return fail(row.id, position, `row ${position} (id ${row.id}) was written without the audit key`);
    if (auditHash(row.prevHash, position, row, row.keyed ? check.key : undefined) !== row.hash)
      return fail(
        row.id,
        position,
        `row ${position} (id ${row.id}) was changed after it was written (its hash does not match its content)`,
      );
    prevHash = row.hash;
  }
  if (anchor.anchor > position)
    return fail(
      0,
      position + 1,
      `rows ${position + 1} to ${anchor.anchor} are missing (the run's log was written with ${anchor.anchor})`,
    );
  if (anchor.head.position !== position || anchor.head.hash !== prevHash)
    return fail(
      rows[rows.length - 1]!.id,
      position,
      `its head (row ${anchor.head.position}) does not match its last row (${position})`,
    );
  return undefined;
}

/**
 * Checks that every audited step output is the output the log stores: the attempt row
 * refers to it, and its text still hashes to its reference.
 */
export async function verifyOutputs(
  runId: string,
  rows: readonly AuditRow[],
  records: RecordStore,
  events: readonly TaskvisorEvent[],
): Promise<Failure | undefined> {
  const audited = rows.filter((row) => typeof row.details.output === 'string');
  if (audited.length === 0) return undefined;
  const attempts = new Map(
    (await records.attempts(runId)).map((attempt) => [`${attempt.stepId}#${attempt.attempt}`, attempt]),
  );
  const outputEvents = new Map<string, unknown>();
  for (const event of events)
    if (event.type === 'step.output') outputEvents.set(`${event.stepId}#${event.attempt}`, event.output);
  for (const row of audited) {
    const ref = row.details.output as string;
    const key = `${row.stepId ?? ''}#${String(row.details.attempt)}`;
    const bad = (what: string): Failure => ({
      ok: false,
      firstBadId: row.id,
      runId,
      position: row.position,
      reason: `run ${runId}: the output of step ${row.stepId} attempt ${String(row.details.attempt)} ${what}`,
    });
    const text = await records.output(runId, ref);
    if (text === undefined) return bad('is missing');
    if (sha256(text) !== ref) return bad('was changed after it was written');
    if (attempts.get(key)?.outputRef !== ref) return bad('in its attempt row was replaced');
    if (outputEvents.has(key) && sha256(JSON.stringify(outputEvents.get(key) ?? null)) !== ref)
      return bad('in its step.output event was replaced');
  }
  return undefined;
}

/**
 * Verifies every run's audit chain and audited outputs, oldest run first; stops at the
 * first failure. Reads every audit row, and the attempts and events of runs with
 * audited outputs.
 */
export async function verifyAudit(
  ports: { readonly auditLog: AuditLog; readonly records: RecordStore; readonly events: EventLog },
  key?: string,
): Promise<AuditVerification> {
  const record = await ports.auditLog.auditKeyRecord();
  let since: number | undefined;
  if (record !== undefined) {
    if (key === undefined)
      return {
        ok: false,
        firstBadId: 0,
        reason:
          "this database's audit chains are keyed: configure the audit key (audit: { key } or TASKVISOR_AUDIT_KEY) to verify them",
      };
    since = keyedSince(record, key);
    if (since === undefined)
      return {
        ok: false,
        firstBadId: 0,
        reason: "the audit key does not match the key this database's audit chains were written with",
      };
  }
  const anchors = (await ports.auditLog.auditAnchors()).sort(
    (a, b) => (a.createdAt ?? -1) - (b.createdAt ?? -1) || a.runId.localeCompare(b.runId),
  );
  let total = 0;
  for (const anchor of anchors) {
    const rows = await ports.auditLog.audit({ runId: anchor.runId });
    const failure =
      verifyRunChain(anchor, rows, {
        ...(key ? { key } : {}),
        ...(since !== undefined ? { keyedSince: since } : {}),
      }) ??
      (rows.some((row) => typeof row.details.output === 'string')
        ? await verifyOutputs(
            anchor.runId,
            rows,
            ports.records,
            await ports.events.readEvents({ runId: anchor.runId }),
          )
        : undefined);
    if (failure) return failure;
    total += rows.length;
  }
  return { ok: true, rows: total, runs: anchors.length };
}
