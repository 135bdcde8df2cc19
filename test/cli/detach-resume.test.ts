/**
 * `run --detach` hands the run to a background process that logs beside the database and
 * prints the run id at once; `watch` follows it. The crash-and-resume walkthrough of
 * examples/README.md: a killed process's run resumes in another, the idempotent step
 * re-runs and the other waits for a human to confirm it.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  appendFileSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunViewSchema } from '../../src/model/views.js';
import { EXAMPLES, json, start, tempDir, tv } from './cli.js';

const temp = tempDir('detach');
const cwd = temp.dir;
afterAll(() => temp.remove());
const ACTIONS = path.join(EXAMPLES, 'actions.mjs');

/** examples/crash-resume.json with its waits shortened to `ms`. */
function crashPlan(ms: number): string {
  const plan = JSON.parse(readFileSync(path.join(EXAMPLES, 'crash-resume.json'), 'utf8')) as {
    steps: Array<{ action: Record<string, unknown> }>;
  };
  for (const step of plan.steps) if (step.action.kind === 'wait') step.action.ms = ms;
  const file = path.join(cwd, `crash-resume-${ms}.json`);
  writeFileSync(file, JSON.stringify(plan));
  return file;
}

describe.concurrent('detached runs and resume', () => {
  it('run --detach prints the run id at once; watch follows the run to its end; the log is beside the db', async ({
    expect,
  }) => {
    const db = path.join(cwd, 'detach', 'runs.db');
    const exit = await tv(['run', crashPlan(1500), '--db', db, '--config', ACTIONS, '--detach', '--json'], {
      cwd,
    });
    const returnedAt = Date.now();
    expect(exit.stderr).toBe('');
    expect(exit.code).toBe(0);
    const { runId } = json<{ runId: string }>(exit);
    expect(runId).toMatch(/^run_/);

    const watch = await tv(['watch', runId, '--db', db], { cwd });
    expect(watch.code).toBe(0);
    expect(watch.stdout.split('\n')[0]).toBe(`run ${runId}`);
    expect(watch.stdout).toMatch(new RegExp(`^run ${runId} completed in`, 'm'));
    expect(watch.stdout).toContain('report: indexed and deployed');
    // The id came back before the run ended (its steps wait 1.5 s each).
    const view = RunViewSchema.parse(json(await tv(['show', runId, '--db', db, '--json'], { cwd })));
    expect(returnedAt).toBeLessThan(view.updatedAt);

    const log = path.join(cwd, 'detach', `${runId}.log`);
    expect(existsSync(log)).toBe(true);
    await expect
      .poll(() => readFileSync(log, 'utf8'), { timeout: 10_000 })
      .toMatch(new RegExp(`^run ${runId} completed in`, 'm'));
  });

  it('watch notices within a few seconds that the driving process died, and says what to run; ls marks the run orphaned', async () => {
    const db = path.join(cwd, 'orphan.db');
    const runner = start(['run', crashPlan(20_000), '--db', db, '--config', ACTIONS], { cwd });
    const runId = /^run (\S+)$/.exec((await runner.line(/^run run_/)).line)![1]!;
    await runner.line('step index: pending -> running');
    const listed = await tv(['ls', '--db', db], { cwd });
    expect(listed.stdout).toMatch(new RegExp(`^${runId} +running +live +`, 'm'));

    const watch = start(['watch', runId, '--db', db], { cwd });
    await watch.line('step index: pending -> running');
    runner.process.kill('SIGKILL');
    const killedAt = Date.now();
    await runner.exited;
    const notice = await watch.line(`the process driving run ${runId} (pid ${runner.process.pid}`);
    expect(notice.line).toContain(`is gone; continue it with`);
    expect(notice.line).toContain(`resume ${runId}`);
    expect(notice.at - killedAt).toBeLessThan(5000);

    const orphaned = await tv(['ls', '--db', db], { cwd });
    expect(orphaned.stdout).toMatch(new RegExp(`^${runId} +running +orphaned +`, 'm'));
    expect(orphaned.stdout).toContain('orphaned: no live process drives the run; continue it with');
    watch.process.kill('SIGINT');
    await watch.exited;
  });

  it("resume uses the run's own --config: refuses (exit 2, nothing touched) when it is gone or lacks a kind, warns when it changed", async () => {
    const db = path.join(cwd, 'own-config.db');
    const dir = path.join(cwd, 'own-config');
    mkdirSync(dir, { recursive: true });
    const config = path.join(dir, 'actions.mjs');
    copyFileSync(ACTIONS, config);
    const first = start(['run', crashPlan(3000), '--db', db, '--config', config], { cwd });
    const runId = /^run (\S+)$/.exec((await first.line(/^run run_/)).line)![1]!;
    await first.line('step deploy: pending -> running');
    first.process.kill('SIGKILL');
    await first.exited;
    const seqOf = async () =>
      RunViewSchema.parse(json(await tv(['show', runId, '--db', db, '--json'], { cwd }))).seq;
    const before = await seqOf();

    renameSync(config, `${config}.away`);
    const gone = await tv(['resume', runId, '--db', db], { cwd });
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain(
      `run ${runId} was started with --config ${config}, which is gone; pass --config <file>`,
    );

    const empty = path.join(dir, 'empty.json');
    writeFileSync(empty, '{}');
    const lacking = await tv(['resume', runId, '--db', db, '--config', empty], { cwd });
    expect(lacking.code).toBe(2);
    expect(lacking.stderr).toContain(
      `run ${runId} needs step kind "wait" (step index, deploy), which --config ${empty} does not register`,
    );
    expect(lacking.stderr).toContain(`it was started with --config ${config}`);
    expect(lacking.stderr).toContain('Pass --config <file> whose actions register it');
    // Refused before touching the run: no event was added, the run is still orphaned.
    expect(await seqOf()).toBe(before);

    renameSync(`${config}.away`, config);
    appendFileSync(config, '\n// edited after the run started\n');
    const resumed = start(['resume', runId, '--db', db], { cwd });
    await resumed.line(/^waiting: step deploy waits for confirmation \(interrupted\)/);
    resumed.process.kill('SIGINT');
    const exit = await resumed.exited;
    expect(exit.stderr).toContain(`taskvisor: warning: ${config} changed since the run started`);
    expect(exit.stdout).toContain('step index: running -> running');
  });

  it("run --detach with a bad plan exits 2 with the background process's message", async () => {
    const bad = path.join(cwd, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        goal: 'g',
        steps: [{ id: 'a', dependsOn: ['b'], action: { kind: 'note', output: 1 } }],
      }),
    );
    const exit = await tv(['run', bad, '--db', path.join(cwd, 'bad.db'), '--detach'], { cwd });
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain('Step "a" depends on "b", which is not a step of this plan');
  });

  it('resumes a killed run: the idempotent step re-runs, the other waits for confirmation, approve finishes it', async () => {
    const db = path.join(cwd, 'crash.db');
    const plan = crashPlan(3000);
    const first = start(['run', plan, '--db', db, '--config', ACTIONS], { cwd });
    const runId = /^run (\S+)$/.exec((await first.line(/^run run_/)).line)![1]!;
    await first.line('step index: pending -> running');
    await first.line('step deploy: pending -> running');
    first.process.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const resumed = start(['resume', runId, '--db', db, '--config', ACTIONS], { cwd });
    const waiting = await resumed.line(/^waiting: step deploy waits for confirmation \(interrupted\)/);
    expect(waiting.line).toContain(`taskvisor approve ${runId} deploy --db`);
    const approve = await tv(['approve', runId, 'deploy', '--db', db], { cwd });
    expect(approve.code).toBe(0);
    const exit = await resumed.exited;
    expect(exit.stderr).toBe('');
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain('report: indexed and deployed');
    // Only the step that is not safe to repeat waited for a human.
    expect(exit.stdout).not.toContain('waiting: step index');
    const trace = json<{ attempts: Array<{ stepId: string; attempt: number; status: string }> }>(
      await tv(['trace', runId, '--db', db, '--json'], { cwd }),
    );
    const attempts = (stepId: string) =>
      trace.attempts.filter((attempt) => attempt.stepId === stepId).map((attempt) => attempt.attempt);
    expect(attempts('index')).toEqual([1, 2]);
    expect(attempts('deploy')).toEqual([1, 2]);
  });
});
