/**
 * The audit trail: hash-chained rows written in the same transaction as what they record,
 * covering plan decisions (by whom), steps, shell facts, confirmations, answers, controls,
 * cancellations; `verifyAudit()` finds a row edited, deleted or appended with raw SQL.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { AuditRow } from '../../src/audit/audit-entries.js';
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
    expect(await sv.verifyAudit()).toEqual({ ok: true, rows: audit.length });
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

    expect(await sv.verifyAudit()).toEqual({
      ok: false,
      firstBadId: target,
      reason: `row ${target} was changed after it was written (its hash does not match its content)`,
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

  it('reports a deleted row by its id', async () => {
    const { sv, db } = await openWithRun();
    const file = raw(db);
    file.exec('DROP TRIGGER audit_no_delete');
    file.prepare('DELETE FROM audit WHERE id = 5').run();
    expect(await sv.verifyAudit()).toEqual({
      ok: false,
      firstBadId: 5,
      reason: 'row 5 is missing (the next row is 6)',
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
      firstBadId: last,
      reason: expect.stringContaining('missing'),
    });

    file
      .prepare(
        'INSERT INTO audit (id, at, run_id, step_id, action, by, details, prev_hash, hash) VALUES (@id, @at, @run_id, @step_id, @action, @by, @details, @prev_hash, @hash)',
      )
      .run(copy);
    expect(await sv.verifyAudit()).toMatchObject({ ok: true });
    file
      .prepare(
        "INSERT INTO audit (id, at, run_id, step_id, action, by, details, prev_hash, hash) VALUES (?, 0, 'run-1', NULL, 'plan.approved', 'mallory', '{}', ?, 'x')",
      )
      .run(last + 1, copy.hash);
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
    expect(await again.verifyAudit()).toMatchObject({ ok: true });
    const rows = (await again.trace('second')).audit;
    expect(rows[0]?.prevHash).not.toBe('0'.repeat(64));
  });
});
