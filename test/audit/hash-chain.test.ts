/**
 * The pure parts of the audit trail: canonical JSON, the hash of a row, chaining a run's
 * entries (keyed or not), and verifying one run's chain against its head and anchor (an
 * edit, a gap, a reorder, a cut tail with its head rewound, a wipe, a forged row are each
 * caught).
 */
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/audit/canonical-json.js';
import { auditHash, chainEntries, EMPTY_HEAD, GENESIS_HASH } from '../../src/audit/hash-chain.js';
import { verifyRunChain } from '../../src/audit/verify-audit.js';
import type { AuditAnchor, AuditEntry, AuditRow } from '../../src/store/rows.js';

const KEY = 'sixteen-characters-or-more';
const entries: AuditEntry[] = [
  { at: 1, runId: 'r', action: 'run.created', details: { goal: 'g', steps: ['a'] } },
  { at: 2, runId: 'r', action: 'plan.approved', by: 'ann', details: { decision: 'approve' } },
  { at: 3, runId: 'r', stepId: 'a', action: 'step.started', details: { attempt: 1 } },
];

function chain(key?: string): { rows: AuditRow[]; anchor: AuditAnchor } {
  const { rows, head } = chainEntries(EMPTY_HEAD, entries, key);
  return {
    rows: rows.map((row, index) => ({ ...row, id: 10 + index })),
    anchor: { runId: 'r', createdAt: 1, head, anchor: 3, rows: 3 },
  };
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

describe("a run's hash chain", () => {
  it('links each row to the one before, from the genesis hash, and moves the head', () => {
    const { rows, head } = chainEntries(EMPTY_HEAD, entries);
    expect(rows.map((row) => row.position)).toEqual([1, 2, 3]);
    expect(rows[0]?.prevHash).toBe(GENESIS_HASH);
    expect(rows[1]?.prevHash).toBe(rows[0]?.hash);
    expect(head).toEqual({ position: 3, hash: rows[2]?.hash });
    expect(rows[0]?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(auditHash(GENESIS_HASH, 1, entries[0]!)).toBe(rows[0]?.hash);
    // The hash covers the position and the previous hash, not only the content.
    expect(auditHash(GENESIS_HASH, 2, entries[0]!)).not.toBe(rows[0]?.hash);
    expect(auditHash(rows[0]!.hash, 1, entries[0]!)).not.toBe(rows[0]?.hash);
    // Keyed: an HMAC under the key, different from the plain hash.
    const keyed = chainEntries(EMPTY_HEAD, entries, KEY).rows;
    expect(keyed.every((row) => row.keyed)).toBe(true);
    expect(keyed[0]?.hash).not.toBe(rows[0]?.hash);
    expect(auditHash(GENESIS_HASH, 1, entries[0]!, KEY)).toBe(keyed[0]?.hash);
  });

  it('verifies an intact chain, plain or keyed', () => {
    const plain = chain();
    expect(verifyRunChain(plain.anchor, plain.rows, {})).toBeUndefined();
    const keyed = chain(KEY);
    expect(verifyRunChain(keyed.anchor, keyed.rows, { key: KEY })).toBeUndefined();
  });

  it.each([
    [
      'an edited detail',
      (rows: AuditRow[]) => [rows[0]!, { ...rows[1]!, details: { decision: 'reject' } }, rows[2]!],
      11,
      'was changed',
    ],
    [
      'an edited actor',
      (rows: AuditRow[]) => [rows[0]!, { ...rows[1]!, by: 'mallory' }, rows[2]!],
      11,
      'was changed',
    ],
    ['a deleted row', (rows: AuditRow[]) => [rows[0]!, rows[2]!], 12, 'row 2 is missing'],
    ['swapped rows', (rows: AuditRow[]) => [rows[0]!, rows[2]!, rows[1]!], 12, 'missing'],
    [
      'a rehashed row that no longer links',
      (rows: AuditRow[]) => {
        const forged = { ...rows[1]!, by: 'mallory' };
        return [rows[0]!, { ...forged, hash: auditHash(forged.prevHash, 2, forged) }, rows[2]!];
      },
      12,
      'does not link',
    ],
  ])('catches %s', (_name, tamper, firstBadId, reason) => {
    const { rows, anchor } = chain();
    const result = verifyRunChain(anchor, tamper(rows), {});
    expect(result).toMatchObject({ ok: false, firstBadId, runId: 'r' });
    expect(result?.reason).toContain(reason);
  });

  it('catches a cut tail even when the head was rewound to match it (the anchor does not move)', () => {
    const { rows, anchor } = chain();
    const cut = rows.slice(0, 2);
    const rewound = { ...anchor, head: { position: 2, hash: cut[1]!.hash } };
    expect(verifyRunChain(rewound, cut, {})).toMatchObject({
      ok: false,
      position: 3,
      reason: "run r: rows 3 to 3 are missing (the run's log was written with 3)",
    });
    // Without the rewind, the head says so too.
    expect(verifyRunChain({ ...anchor, anchor: 2 }, cut, {})?.reason).toContain(
      'does not match its last row',
    );
  });

  it('catches every row wiped, head reset, while the run exists', () => {
    const { anchor } = chain();
    expect(verifyRunChain({ ...anchor, head: EMPTY_HEAD, anchor: 0 }, [], {})?.reason).toContain(
      'has no audit rows',
    );
  });

  it('catches, with a key, a row forged without it even when chained correctly', () => {
    const { rows, anchor } = chain(KEY);
    // The forger appends a row, chained with a plain hash (marked keyed, or not).
    const extra = chainEntries(anchor.head, [
      { at: 9, runId: 'r', action: 'plan.approved', by: 'mallory', details: {} },
    ]).rows[0]!;
    const head = { position: 4, hash: extra.hash };
    const asKeyed = verifyRunChain(
      { ...anchor, head, anchor: 4 },
      [...rows, { ...extra, id: 13, keyed: true }],
      { key: KEY },
    );
    expect(asKeyed).toMatchObject({
      ok: false,
      firstBadId: 13,
      reason: expect.stringContaining('was changed'),
    });
    const asPlain = verifyRunChain({ ...anchor, head, anchor: 4 }, [...rows, { ...extra, id: 13 }], {
      key: KEY,
      keyedSince: 0,
    });
    expect(asPlain).toMatchObject({
      ok: false,
      firstBadId: 13,
      reason: expect.stringContaining('without the audit key'),
    });
    // Without the key, the forgery of a plain chain would pass: that is what the key is for.
    const plain = chain();
    const forged = chainEntries(plain.anchor.head, [{ at: 9, runId: 'r', action: 'x', details: {} }])
      .rows[0]!;
    expect(
      verifyRunChain(
        { ...plain.anchor, head: { position: 4, hash: forged.hash }, anchor: 4 },
        [...plain.rows, { ...forged, id: 13 }],
        {},
      ),
    ).toBeUndefined();
  });

  it('reports audit rows of a run that no longer exists', () => {
    const { rows, anchor } = chain();
    const { createdAt: _gone, ...orphan } = anchor;
    expect(verifyRunChain(orphan, rows, {})?.reason).toContain('no run');
  });
});
