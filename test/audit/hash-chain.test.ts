/**
 * The pure parts of the audit trail: canonical JSON, the hash of a row, chaining entries and
 * verifying a chain (an edit, a gap, a reorder, a dropped tail are each caught).
 */
import { describe, expect, it } from 'vitest';
import type { AuditEntry, AuditRow } from '../../src/audit/audit-entries.js';
import { canonicalJson } from '../../src/audit/canonical-json.js';
import { auditHash, chainEntries, GENESIS_HASH, verifyAuditChain } from '../../src/audit/hash-chain.js';

const entries: AuditEntry[] = [
  { at: 1, runId: 'r', action: 'run.created', details: { goal: 'g', steps: ['a'] } },
  { at: 2, runId: 'r', action: 'plan.approved', by: 'ann', details: { decision: 'approve' } },
  { at: 3, runId: 'r', stepId: 'a', action: 'step.started', details: { attempt: 1 } },
];

function chain(): { rows: AuditRow[]; head: { lastId: number; hash: string } } {
  return chainEntries({ lastId: 0, hash: GENESIS_HASH }, entries);
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and leaves out undefined members', () => {
    expect(canonicalJson({ b: 1, a: [true, { d: null, c: 'x' }] })).toBe(
      '{"a":[true,{"c":"x","d":null}],"b":1}',
    );
    expect(canonicalJson({ z: 1, a: 2 })).toBe(canonicalJson({ a: 2, z: 1 }));
    expect(canonicalJson({ a: undefined, b: 'é"\n' } as never)).toBe('{"b":"é\\"\\n"}');
  });
});

describe('the hash chain', () => {
  it('links each row to the one before, from the genesis hash, and moves the head', () => {
    const { rows, head } = chain();
    expect(rows.map((row) => row.id)).toEqual([1, 2, 3]);
    expect(rows[0]?.prevHash).toBe(GENESIS_HASH);
    expect(rows[1]?.prevHash).toBe(rows[0]?.hash);
    expect(head).toEqual({ lastId: 3, hash: rows[2]?.hash });
    expect(rows[0]?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(auditHash(GENESIS_HASH, 1, entries[0]!)).toBe(rows[0]?.hash);
    // The hash covers the id and the previous hash, not only the content.
    expect(auditHash(GENESIS_HASH, 2, entries[0]!)).not.toBe(rows[0]?.hash);
    expect(auditHash(rows[0]!.hash, 1, entries[0]!)).not.toBe(rows[0]?.hash);
  });

  it('verifies an intact chain', () => {
    const { rows, head } = chain();
    expect(verifyAuditChain(rows, head)).toEqual({ ok: true, rows: 3 });
    expect(verifyAuditChain([], { lastId: 0, hash: GENESIS_HASH })).toEqual({ ok: true, rows: 0 });
  });

  it.each([
    [
      'an edited detail',
      (rows: AuditRow[]) => [rows[0]!, { ...rows[1]!, details: { decision: 'reject' } }, rows[2]!],
      2,
      'was changed',
    ],
    [
      'an edited actor',
      (rows: AuditRow[]) => [rows[0]!, { ...rows[1]!, by: 'mallory' }, rows[2]!],
      2,
      'was changed',
    ],
    ['a deleted row', (rows: AuditRow[]) => [rows[0]!, rows[2]!], 2, 'row 2 is missing'],
    ['swapped rows', (rows: AuditRow[]) => [rows[0]!, rows[2]!, rows[1]!], 2, 'missing'],
    [
      'a rehashed row that no longer links',
      (rows: AuditRow[]) => {
        const forged = { ...rows[1]!, by: 'mallory' };
        return [rows[0]!, { ...forged, hash: auditHash(forged.prevHash, 2, forged) }, rows[2]!];
      },
      3,
      'does not link',
    ],
  ])('catches %s', (_name, tamper, firstBadId, reason) => {
    const { rows, head } = chain();
    const result = verifyAuditChain(tamper(rows), head);
    expect(result).toMatchObject({ ok: false, firstBadId });
    expect((result as { reason: string }).reason).toContain(reason);
  });

  it('catches rows dropped from the end through the head', () => {
    const { rows, head } = chain();
    expect(verifyAuditChain(rows.slice(0, 2), head)).toEqual({
      ok: false,
      firstBadId: 3,
      reason: 'rows 3 to 3 are missing (the chain head is row 3)',
    });
  });
});
