/**
 * Commands from a second process: `approve`, `reject`, `answer`, `cancel` and `control`
 * reach a `run` in progress (the approval's latency printed, measured from the moment the
 * command was stored to the moment the running process prints the transition), and with
 * nothing running they are stored and applied by the next `resume`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { EXAMPLES, start, tempDir, tv } from './cli.js';

const temp = tempDir('cross');
const cwd = temp.dir;
afterAll(() => temp.remove());

const HELLO = path.join(EXAMPLES, 'hello.json');
const ACTIONS = path.join(EXAMPLES, 'actions.mjs');

function runIdOf(line: string): string {
  return /^run (\S+)$/.exec(line)![1]!;
}

/** When the command was stored (by the second process) and applied (by the first). */
function commandTimes(db: string): { createdAt: number; appliedAt: number } {
  const conn = new Database(db, { readonly: true });
  try {
    const row = conn
      .prepare('SELECT created_at, applied_at FROM commands ORDER BY id DESC LIMIT 1')
      .get() as {
      created_at: number;
      applied_at: number;
    };
    return { createdAt: row.created_at, appliedAt: row.applied_at };
  } finally {
    conn.close();
  }
}

describe.concurrent('commands from a second process', () => {
  it('extend continues a run paused on its step budget', async () => {
    const db = path.join(cwd, 'extend.db');
    const config = path.join(cwd, 'budget.json');
    writeFileSync(config, JSON.stringify({ budget: { maxSteps: 2 } }));
    const first = start(['run', HELLO, '--db', db, '--config', config], { cwd });
    const runId = runIdOf((await first.line(/^run run_/)).line);
    await first.line(`run ${runId}: running -> paused`);

    const bad = await tv(['extend', runId, '--db', db, '--max-steps', 'lots'], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--max-steps must be a positive whole number, got "lots"');
    const second = await tv(['extend', runId, '--db', db, '--max-steps', '3'], { cwd });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(`sent: new budget for run ${runId}: maxSteps 3`);
    await first.line(`run ${runId}: paused -> running`);
    expect((await first.exited).code).toBe(0);
  });

  it('approve reaches the running process while it runs (latency printed; the bound is measured, not asserted)', async () => {
    const db = path.join(cwd, 'approve.db');
    const first = start(['run', HELLO, '--db', db, '--require-approval'], { cwd });
    const runId = runIdOf((await first.line(/^run run_/)).line);
    await first.line('waiting: plan waits for approval');

    const second = await tv(['approve', runId, '--db', db], { cwd });
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`sent: approval of the plan of run ${runId}`);
    expect(second.stdout).toMatch(/the process driving run \S+ \(pid \d+\) applies it within 100 ms/);

    const seen = await first.line(`run ${runId}: awaitingApproval -> running`);
    const exit = await first.exited;
    expect(exit.code).toBe(0);
    const { createdAt, appliedAt } = commandTimes(db);
    const applied = appliedAt - createdAt;
    const printed = seen.at - createdAt;
    console.log(
      `approve latency: stored -> applied ${applied} ms; stored -> printed by the running process ${printed} ms`,
    );
    // Applied by the running process's own poll, before it went on and printed the change.
    expect(applied).toBeGreaterThanOrEqual(0);
    expect(printed).toBeGreaterThanOrEqual(applied);
  });

  it('reject ends the run: the running process exits 1', async () => {
    const db = path.join(cwd, 'reject.db');
    const first = start(['run', HELLO, '--db', db, '--require-approval'], { cwd });
    const runId = runIdOf((await first.line(/^run run_/)).line);
    await first.line('waiting: plan waits for approval');
    const second = await tv(['reject', runId, '--reason', 'not today', '--db', db], { cwd });
    expect(second.code).toBe(0);
    const exit = await first.exited;
    expect(exit.code).toBe(1);
    expect(exit.stdout).toContain('plan: reject');
    expect(exit.stdout).toMatch(new RegExp(`^run ${runId} (cancelled|failed) in`, 'm'));
  });

  it('answer replies to the question a step asked', async () => {
    const db = path.join(cwd, 'answer.db');
    const first = start(['run', path.join(EXAMPLES, 'ask.json'), '--db', db, '--config', ACTIONS], { cwd });
    const asked = await first.line(/^waiting: step decide asks: /);
    expect(asked.line).toContain('Plan: ship it on Friday. Go ahead? [yes = Go ahead, no = Wait]');
    const requestId = / answer (\S+) --option/.exec(asked.line)![1]!;
    const wrong = await tv(['answer', requestId, '--option', 'maybe', '--db', db], { cwd });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('its options are yes (Go ahead), no (Wait)');
    const second = await tv(['answer', requestId, '--option', 'yes', '--db', db], { cwd });
    expect(second.code).toBe(0);
    const exit = await first.exited;
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain('  decide: yes');
  });

  it('cancel stops a run in progress: its in-flight step is aborted and the process exits 1', async () => {
    const db = path.join(cwd, 'cancel.db');
    const slow = path.join(cwd, 'slow.json');
    writeFileSync(
      slow,
      JSON.stringify({ goal: 'slow', steps: [{ id: 'w', action: { kind: 'wait', ms: 60_000 } }] }),
    );
    const first = start(['run', slow, '--db', db, '--config', ACTIONS], { cwd });
    const runId = runIdOf((await first.line(/^run run_/)).line);
    await first.line('step w: pending -> running');
    const second = await tv(['cancel', runId, '--reason', 'enough', '--db', db], { cwd });
    expect(second.code).toBe(0);
    const exit = await first.exited;
    expect(exit.code).toBe(1);
    expect(exit.stdout).toMatch(new RegExp(`^run ${runId}: running -> cancelled`, 'm'));
  });

  it('control interrupts a step and then cancels it', async () => {
    const db = path.join(cwd, 'control.db');
    const slow = path.join(cwd, 'slow-control.json');
    writeFileSync(
      slow,
      JSON.stringify({ goal: 'slow', steps: [{ id: 'w', action: { kind: 'wait', ms: 60_000 } }] }),
    );
    const first = start(['run', slow, '--db', db, '--config', ACTIONS], { cwd });
    const runId = runIdOf((await first.line(/^run run_/)).line);
    await first.line('step w: pending -> running');
    expect((await tv(['control', runId, 'w', 'interrupt', '--db', db], { cwd })).code).toBe(0);
    await first.line('step w: running -> interrupted');
    await first.line(`waiting: step w is interrupted: npx taskvisor control ${runId} w resume`);
    expect((await tv(['control', runId, 'w', 'cancel', '--db', db], { cwd })).code).toBe(0);
    const exit = await first.exited;
    expect(exit.code).toBe(1);
    expect(exit.stdout).toContain('step w: interrupted -> cancelled');
  });

  it('with nothing running, a command is stored and the next resume applies it', async () => {
    const db = path.join(cwd, 'stored.db');
    const first = start(['run', HELLO, '--db', db, '--require-approval'], { cwd });
    const runId = runIdOf((await first.line(/^run run_/)).line);
    await first.line('waiting: plan waits for approval');
    first.process.kill('SIGKILL');
    await first.exited;

    const stored = await tv(['approve', runId, '--db', db], { cwd });
    expect(stored.code).toBe(0);
    // Stored, not done: the command line says so, and `show` lists it as pending.
    expect(stored.stdout).toContain(`stored, pending: approval of the plan of run ${runId}`);
    expect(stored.stdout).toContain(`no process drives run ${runId}, so nothing happened yet`);
    const show = await tv(['show', runId, '--db', db, '--json'], { cwd });
    expect(JSON.parse(show.stdout)).toMatchObject({ phase: 'awaitingApproval' });
    const shown = await tv(['show', runId, '--db', db], { cwd });
    expect(shown.stdout).toMatch(
      /driver {3}orphaned: no live process drives this run; continue it with .*resume/,
    );
    expect(shown.stdout).toMatch(
      /pending {2}approvePlan by \S+, stored .*: applies when a process drives the run/,
    );

    const resumed = await tv(['resume', runId, '--db', db], { cwd });
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`run ${runId}: awaitingApproval -> running`);
    expect(resumed.stdout).toMatch(new RegExp(`^run ${runId} completed in`, 'm'));
  });

  it('a cancel of a run nobody drives is reported as pending, and the run as still running, until a resume', async () => {
    const db = path.join(cwd, 'cancel-stored.db');
    const first = start(['run', HELLO, '--db', db, '--require-approval'], { cwd });
    const runId = runIdOf((await first.line(/^run run_/)).line);
    await first.line('waiting: plan waits for approval');
    first.process.kill('SIGKILL');
    await first.exited;

    const cancel = await tv(['cancel', runId, '--db', db, '--json'], { cwd });
    expect(cancel.code).toBe(0);
    expect(JSON.parse(cancel.stdout)).toMatchObject({
      ok: true,
      command: 'cancel',
      driven: false,
      pending: true,
    });
    const listed = JSON.parse((await tv(['ls', '--db', db, '--json'], { cwd })).stdout) as Array<{
      phase: string;
      status: unknown;
    }>;
    expect(listed[0]).toMatchObject({
      phase: 'awaitingApproval',
      status: { driver: 'orphaned', waitingFor: ['approval'], pendingCommands: ['cancel'] },
    });
    const resumed = await tv(['resume', runId, '--db', db], { cwd });
    expect(resumed.code).toBe(1);
    expect(resumed.stdout).toContain(`run ${runId}: awaitingApproval -> cancelled`);
  });
});
