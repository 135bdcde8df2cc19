/**
 * The audit trail: hash-chained rows written in the same transaction as what they record,
 * covering plan decisions (by whom), steps, shell facts, confirmations, answers, controls,
 * cancellations; `verifyAudit()` finds a row edited, deleted or appended with raw SQL.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { auditHash, GENESIS_HASH } from '../../src/audit/hash-chain.js';
import type { AuditRow } from '../../src/store/rows.js';
import type { Supervisor } from '../../src/supervisor.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';
import { untilStep } from '../actions/helpers.js';

const harness = useSupervisorHarness();

/** One line per row: `action step by: details` with the noisy details left out. */
function log(rows: readonly AuditRow[]): string[] {
  return rows.map((row) =>
    [row.action, row.stepId, row.by ? `by ${row.by}` : undefined].filter(Boolean).join(' '),
  );
}

async function openWithRun() {
  const db = harness.dbPath();
  const sv = await harness.open({
    db,
    clock: new ManualClock(1_000_000),
    ids: sequentialIds(),
    // The policy alone, chosen explicitly: the same rows with or without bubblewrap (a run that
    // falls back from the jail adds sandbox.unjailed, tested in test/actions/model-written).
    sandbox: { allow: ['echo'], cwd: harness.tempDir(), isolation: 'none' },
    actions: {
      ask: async (_input, ctx) => {
        const answer = await ctx.ask({
          key: 'size',
          question: 'How big?',
          options: [{ id: 'xl', label: 'XL' }],
        });
        return { output: answer.optionId ?? null };
      },
    },
  });
  const run = await sv.start({
    goal: 'audited',
    requireApproval: true,
    plan: {
      steps: [
        { id: 'say', action: { kind: 'shell', command: 'echo', args: ['hi'] } },
        { id: 'size', dependsOn: ['say'], action: { kind: 'ask' } },
        { id: 'drop', tier: 'destructive', dependsOn: ['size'], action: { kind: 'note', output: 'dropped' } },
      ],
    },
  });
  await until(async () => (await sv.get(run.id))?.phase === 'awaitingApproval');
  await sv.approvePlan(run.id, { by: 'ann', note: 'looks right' });
  await untilStep(sv, run.id, 'size', 'awaitingInput');
  const [request] = (await sv.pending()).requests;
  await sv.answer(request!.requestId, { optionId: 'xl', by: 'bob' });
  await untilStep(sv, run.id, 'drop', 'awaitingConfirmation');
  await sv.confirmStep(run.id, 'drop', { approved: true, by: 'cid' });
  expect((await run.done).phase).toBe('completed');
  return { sv, db, runId: run.id };
}

function raw(file: string): Database.Database {
  const db = new Database(file);
  harness.defer(() => db.close());
  return db;
}

describe('the audit trail', () => {
  it('records the plan decision, every step, the shell facts, the answer and the confirmation, with who did it', async () => {
    const { sv, runId } = await openWithRun();
    const audit = (await sv.trace(runId)).audit;
    expect(log(audit)).toMatchInlineSnapshot(`
      [
        "run.created",
        "plan.approvalRequested",
        "plan.approved by ann",
        "run.running",
        "step.started say",
        "shell.exited say",
        "attempt.succeeded say",
        "step.succeeded say",
        "step.started size",
        "question.asked size",
        "question.answered size by bob",
        "attempt.succeeded size",
        "step.succeeded size",
        "step.confirmationRequested drop",
        "step.confirmed drop by cid",
        "step.started drop",
        "attempt.succeeded drop",
        "step.succeeded drop",
        "run.completed",
      ]
    `);
    expect(audit.find((row) => row.action === 'plan.approved')?.details).toEqual({
      decision: 'approve',
      reason: 'looks right',
    });
    expect(audit.find((row) => row.action === 'shell.exited')?.details).toMatchObject({
      command: 'echo',
      args: ['hi'],
      exitCode: 0,
      outcome: 'exited',
      durationMs: 0,
    });
    expect(audit.find((row) => row.action === 'question.answered')?.details).toMatchObject({
      answer: { optionId: 'xl' },
    });
    // Ids are contiguous and each row links to the one before.
    audit.forEach((row, index) => {
      if (index > 0) expect(row.prevHash).toBe(audit[index - 1]!.hash);
    });
    expect(await sv.verifyAudit()).toEqual({ ok: true, rows: audit.length, runs: 1 });
  });

  it('records a plan rejection with who rejected it and why, and a cancellation', async () => {
    const sv = await harness.open({ db: harness.dbPath(), clock: new ManualClock(5), ids: sequentialIds() });
    const plan = { steps: [{ id: 'a', action: { kind: 'note', output: 1 } }] };
    const rejected = await sv.start({ goal: 'no', requireApproval: true, plan });
    await until(async () => (await sv.get(rejected.id))?.phase === 'awaitingApproval');
    await sv.rejectPlan(rejected.id, { by: 'dee', reason: 'too risky' });
    await rejected.done;
    const cancelled = await sv.start({ goal: 'stop', requireApproval: true, plan });
    await until(async () => (await sv.get(cancelled.id))?.phase === 'awaitingApproval');
    await sv.cancel(cancelled.id, { by: 'eve', reason: 'not needed' });
    await cancelled.done;

    const first = (await sv.trace(rejected.id)).audit;
    expect(first.find((row) => row.action === 'plan.rejected')).toMatchObject({
      by: 'dee',
      details: { decision: 'reject', reason: 'too risky' },
    });
    const second = (await sv.trace(cancelled.id)).audit;
    expect(second.at(-1)).toMatchObject({
      action: 'run.cancelled',
      details: { reason: 'cancelled by eve: not needed' },
    });
  });

  it('records worker controls with who applied them', async () => {
    const sv = await harness.open({
      db: harness.dbPath(),
      clock: new ManualClock(5),
      ids: sequentialIds(),
      actions: {
        hang: (_input, ctx) =>
          new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
      },
    });
    const run = await sv.start({ goal: 'g', plan: { steps: [{ id: 'w', action: { kind: 'hang' } }] } });
    await untilStep(sv, run.id, 'w', 'running');
    await sv.control(run.id, 'w', 'cancel', { by: 'fay' });
    await run.done;
    const audit = (await sv.trace(run.id)).audit;
    expect(audit.find((row) => row.action === 'control.cancel')).toMatchObject({ stepId: 'w', by: 'fay' });
    expect(log(audit)).toContain('step.cancelled w');
  });
});

describe('verifyAudit', () => {
  it('reports a row edited with raw SQL as the first bad row', async () => {
    const { sv, db } = await openWithRun();
    const file = raw(db);
    const target = (
      file.prepare("SELECT id FROM audit WHERE action = 'plan.approved'").get() as { id: number }
    ).id;
    // The store's own triggers refuse the edit ...
    expect(() => file.prepare("UPDATE audit SET by = 'mallory' WHERE id = ?").run(target)).toThrow(
      'append-only',
    );
    // ... so a tamperer drops them first.
    file.exec('DROP TRIGGER audit_no_update');
    file.prepare("UPDATE audit SET by = 'mallory' WHERE id = ?").run(target);

    expect(await sv.verifyAudit()).toMatchObject({
      ok: false,
      firstBadId: target,
      runId: 'run-1',
      reason: expect.stringContaining(
        'was changed after it was written (its hash does not match its content)',
      ),
    });
  });

  it('reports an edit of the details, even one that recomputes nothing else', async () => {
    const { sv, db } = await openWithRun();
    const file = raw(db);
    file.exec('DROP TRIGGER audit_no_update');
    const row = file.prepare("SELECT id, details FROM audit WHERE action = 'shell.exited'").get() as {
      id: number;
      details: string;
    };
    file
      .prepare('UPDATE audit SET details = ? WHERE id = ?')
      .run(row.details.replace('"exitCode":0', '"exitCode":1'), row.id);
    expect(await sv.verifyAudit()).toMatchObject({ ok: false, firstBadId: row.id });
  });

  it('reports a deleted middle row by its position, and the row after the gap', async () => {
    const { sv, db } = await openWithRun();
    const file = raw(db);
    file.exec('DROP TRIGGER audit_no_delete');
    file.prepare("DELETE FROM audit WHERE run_id = 'run-1' AND position = 5").run();
    const next = (
      file.prepare("SELECT id FROM audit WHERE run_id = 'run-1' AND position = 6").get() as { id: number }
    ).id;
    expect(await sv.verifyAudit()).toEqual({
      ok: false,
      firstBadId: next,
      runId: 'run-1',
      position: 5,
      reason: `run run-1: row 5 is missing (the next row is 6, id ${next})`,
    });
  });

  it('reports a cut tail even when the head was rewound to the new last row', async () => {
    const { sv, db } = await openWithRun();
    const file = raw(db);
    file.exec('DROP TRIGGER audit_no_delete');
    const last = file.prepare("SELECT MAX(position) AS n FROM audit WHERE run_id = 'run-1'").get() as {
      n: number;
    };
    file.prepare("DELETE FROM audit WHERE run_id = 'run-1' AND position > ?").run(last.n - 2);
    const kept = file
      .prepare("SELECT position, hash FROM audit WHERE run_id = 'run-1' ORDER BY position DESC LIMIT 1")
      .get() as { position: number; hash: string };
    file
      .prepare("UPDATE runs SET audit_position = ?, audit_hash = ? WHERE id = 'run-1'")
      .run(kept.position, kept.hash);
    expect(await sv.verifyAudit()).toMatchObject({
      ok: false,
      runId: 'run-1',
      position: last.n - 1,
      reason: expect.stringContaining(`rows ${last.n - 1} to ${last.n} are missing`),
    });
  });

  it('reports every row wiped, with the heads reset, while the runs exist', async () => {
    const { sv, db } = await openWithRun();
    const file = raw(db);
    file.exec('DROP TRIGGER audit_no_delete; DELETE FROM audit;');
    file.prepare('UPDATE runs SET audit_position = 0, audit_hash = ?').run(GENESIS_HASH);
    expect(await sv.verifyAudit()).toMatchObject({
      ok: false,
      runId: 'run-1',
      reason: expect.stringContaining('missing'),
    });
    file.exec(
      'UPDATE events SET audit_position = 0; UPDATE attempts SET audit_position = 0; UPDATE artifacts SET audit_position = 0;',
    );
    expect(await sv.verifyAudit()).toMatchObject({
      ok: false,
      reason: expect.stringContaining('has no audit rows'),
    });
  });

  it('reports a step output edited where it is stored, or swapped in its attempt row', async () => {
    const { sv, db } = await openWithRun();
    const file = raw(db);
    const ref = (
      file.prepare("SELECT output_ref FROM attempts WHERE step_id = 'drop'").get() as { output_ref: string }
    ).output_ref;
    file.prepare('UPDATE outputs SET json = ? WHERE ref = ?').run('"not dropped"', ref);
    expect(await sv.verifyAudit()).toMatchObject({
      ok: false,
      reason: expect.stringContaining('the output of step drop attempt 1 was changed'),
    });
    file.prepare('UPDATE outputs SET json = ? WHERE ref = ?').run('"dropped"', ref);
    expect(await sv.verifyAudit()).toMatchObject({ ok: true });
    const other = (
      file.prepare("SELECT output_ref FROM attempts WHERE step_id = 'say'").get() as { output_ref: string }
    ).output_ref;
    file.prepare("UPDATE attempts SET output_ref = ? WHERE step_id = 'drop'").run(other);
    expect(await sv.verifyAudit()).toMatchObject({
      ok: false,
      reason: expect.stringContaining('in its attempt row was replaced'),
    });
  });

  it('reports rows dropped from the end, and rows appended outside the chain', async () => {
    const { sv, db } = await openWithRun();
    const file = raw(db);
    file.exec('DROP TRIGGER audit_no_delete');
    const last = (file.prepare('SELECT MAX(id) AS id FROM audit').get() as { id: number }).id;
    const copy = file.prepare('SELECT * FROM audit WHERE id = ?').get(last) as Record<string, unknown>;
    file.prepare('DELETE FROM audit WHERE id = ?').run(last);
    expect(await sv.verifyAudit()).toMatchObject({
      ok: false,
      firstBadId: 0,
      position: copy.position,
      reason: expect.stringContaining('missing'),
    });

    file
      .prepare(
        'INSERT INTO audit (id, run_id, position, at, step_id, action, by, details, prev_hash, hash, keyed) VALUES (@id, @run_id, @position, @at, @step_id, @action, @by, @details, @prev_hash, @hash, @keyed)',
      )
      .run(copy);
    expect(await sv.verifyAudit()).toMatchObject({ ok: true });
    file
      .prepare(
        "INSERT INTO audit (id, run_id, position, at, step_id, action, by, details, prev_hash, hash) VALUES (?, 'run-1', ?, 0, NULL, 'plan.approved', 'mallory', '{}', ?, 'x')",
      )
      .run(last + 1, (copy.position as number) + 1, copy.hash);
    expect(await sv.verifyAudit()).toMatchObject({ ok: false, firstBadId: last + 1 });
  });

  it('keeps the chain across supervisors and processes sharing the file', async () => {
    const { sv, db } = await openWithRun();
    await sv.close();
    const again: Supervisor = await harness.open({
      db,
      clock: new ManualClock(2_000_000),
      ids: { run: () => 'second' },
    });
    await (
      await again.start({ goal: 'g', plan: { steps: [{ id: 'a', action: { kind: 'note', output: 1 } }] } })
    ).done;
    expect(await again.verifyAudit()).toMatchObject({ ok: true, runs: 2 });
    // Each run has its own chain (no global head another writer would have to hold).
    const rows = (await again.trace('second')).audit;
    expect(rows[0]).toMatchObject({ position: 1, prevHash: GENESIS_HASH });
  });

  it('with an audit key, reports a row forged and chained correctly by someone without the key', async () => {
    const db = harness.dbPath();
    const key = 'a-secret-kept-outside-the-db';
    const sv = await harness.open({ db, clock: new ManualClock(5), ids: sequentialIds(), audit: { key } });
    const plan = { steps: [{ id: 'a', action: { kind: 'note', output: 1 } }] };
    await (
      await sv.start({ goal: 'keyed', plan })
    ).done;
    expect(await sv.verifyAudit()).toMatchObject({ ok: true, runs: 1 });
    const rows = (await sv.trace('run-1')).audit;
    expect(rows.every((row) => row.keyed)).toBe(true);

    // The forger knows the chain rule, not the key: a row linked after the head, head moved.
    const last = rows.at(-1)!;
    const entry = { at: 6, runId: 'run-1', action: 'plan.approved', by: 'mallory', details: {} };
    const file = raw(db);
    for (const keyed of [1, 0]) {
      const hash = auditHash(last.hash, last.position + 1, entry);
      file.exec('DROP TRIGGER IF EXISTS audit_no_delete');
      file.prepare("DELETE FROM audit WHERE run_id = 'run-1' AND position > ?").run(last.position);
      file
        .prepare(
          "INSERT INTO audit (run_id, position, at, action, by, details, prev_hash, hash, keyed) VALUES ('run-1', ?, 6, 'plan.approved', 'mallory', '{}', ?, ?, ?)",
        )
        .run(last.position + 1, last.hash, hash, keyed);
      file
        .prepare("UPDATE runs SET audit_position = ?, audit_hash = ? WHERE id = 'run-1'")
        .run(last.position + 1, hash);
      expect(await sv.verifyAudit(), `forged row marked keyed=${keyed}`).toMatchObject({
        ok: false,
        position: last.position + 1,
        reason: expect.stringMatching(keyed ? /was changed/ : /without the audit key/),
      });
    }
  });

  it('refuses to open a keyed database without its key, or with another key', async () => {
    const db = harness.dbPath();
    const sv = await harness.open({ db, audit: { key: 'the-first-key-0123456' } });
    await sv.close();
    await expect(harness.open({ db })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('TASKVISOR_AUDIT_KEY'),
    });
    await expect(harness.open({ db, audit: { key: 'another-key-012345678' } })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('is not the key'),
    });
    await expect(harness.open({ db: harness.dbPath(), audit: { key: 'short' } })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('at least 16 characters'),
    });
  });
});
