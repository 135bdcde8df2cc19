/**
 * The command line as a user meets it (issue 14, item 8): hints that work as printed, a
 * closed pipe that ends it quietly, errors in its own words (`--allow`, `--config`,
 * `--model`), a path that is a file, missing models refused before anything starts, JSON
 * errors under --json, the Ctrl-C line that stays on a terminal, unpriced cost shown as
 * unknown, and runs waiting for a human marked in `ls`.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { invocationPrefix } from '../../src/cli/invocation.js';
import { formatUsage } from '../../src/cli/style.js';
import { fanoutOutputLines, workerRows } from '../../src/cli/fanout-lines.js';
import { RunProjection, type RunView } from '../../src/model/views.js';
import { BIN, EXAMPLES, start, tempDir, tv } from './cli.js';

const temp = tempDir('fixes');
const cwd = temp.dir;
afterAll(() => temp.remove());
const HELLO = path.join(EXAMPLES, 'hello.json');

function plan(name: string, value: unknown): string {
  const file = path.join(cwd, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

describe('hints that work as printed', () => {
  it('says npx taskvisor under npx, taskvisor when that is on PATH, and node <bin> otherwise', () => {
    expect(invocationPrefix({ env: { npm_command: 'exec' }, script: BIN, cwd })).toBe('npx taskvisor');
    expect(invocationPrefix({ env: { PATH: path.dirname(BIN) }, script: BIN, cwd })).toBe('node ' + BIN);
    expect(invocationPrefix({ env: {}, script: BIN, cwd: path.dirname(BIN) })).toBe('node bin.js');
  });

  it('prints hints with the invocation that started it', async () => {
    const db = path.join(cwd, 'hints.db');
    const runner = start(['run', HELLO, '--db', db, '--require-approval'], {
      cwd,
      env: { npm_command: '' },
    });
    const waiting = await runner.line('waiting: plan waits for approval');
    expect(waiting.line).toContain(`node ${BIN} approve run_`);
    const listed = await tv(['ls', '--db', db], { cwd });
    // A run waiting for a human is marked as such, not as plain running.
    expect(listed.stdout).toMatch(/awaitingApproval +live, waits: approval/);
    runner.process.kill('SIGTERM');
    await runner.exited;
  });
});

describe('a closed pipe', () => {
  it('ends the command quietly: no EPIPE stack trace', async () => {
    // `viz` writes much more than a pipe holds; the reader goes away before it writes.
    const viz = spawn(process.execPath, [BIN, 'viz'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    viz.stdout.destroy();
    let stderr = '';
    viz.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => viz.on('close', (exit) => resolve(exit)));
    expect(stderr).not.toContain('EPIPE');
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('errors in the command line’s words', () => {
  it('names --allow for a shell binary that is not allowed, --config for an unknown kind', async () => {
    const shell = plan('shell.json', {
      goal: 'g',
      steps: [{ id: 'list', action: { kind: 'shell', command: 'node', args: ['-v'] } }],
    });
    const notAllowed = await tv(['run', shell, '--db', path.join(cwd, 'words.db')], { cwd });
    expect(notAllowed.code).toBe(2);
    expect(notAllowed.stderr).toContain('pass --allow node');
    expect(notAllowed.stderr).not.toContain('createSupervisor');
    const custom = plan('custom.json', { goal: 'g', steps: [{ id: 'w', action: { kind: 'wait', ms: 1 } }] });
    const unknown = await tv(['run', custom, '--db', path.join(cwd, 'words.db')], { cwd });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('step kind "wait", which nothing registers');
    expect(unknown.stderr).toContain('pass --config <file>');
    expect(unknown.stderr).not.toContain('createSupervisor');
  });

  it('takes a path-like argument as a file: a missing one is exit 2, not a goal', async () => {
    const exit = await tv(['run', './plans/nope', '--db', path.join(cwd, 'nope.db')], { cwd });
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain('no plan file "./plans/nope"');
  });

  it('refuses up front (exit 2, no run) a plan with model steps, a goal or a fanout when there is no model', async () => {
    const db = path.join(cwd, 'no-model.db');
    const research = plan('research.json', {
      goal: 'g',
      steps: [
        { id: 'ask', action: { kind: 'research', query: 'why?' } },
        { id: 'many', action: { kind: 'fanout', prompt: 'p', targets: ['m1'] } },
      ],
    });
    const steps = await tv(['run', research, '--db', db], { cwd });
    expect(steps.code).toBe(2);
    expect(steps.stderr).toContain('steps ask (research), many (fan-out to m1 with no baseURL) need a model');
    expect(steps.stderr).toContain('pass --model <name>');
    const goal = await tv(['run', 'Tidy the docs', '--db', db], { cwd });
    expect(goal.code).toBe(2);
    expect(goal.stderr).toContain(
      'it is a goal for the model to plan, but no model is configured; pass --model',
    );
    const fanout = await tv(['fanout', 'Name it', '--target', 'm1', '--db', db], { cwd });
    expect(fanout.code).toBe(2);
    expect(fanout.stderr).toContain('fanout --target m1: no endpoint to ask it; pass --model');
    const replan = await tv(['run', HELLO, '--replan', '--db', db], { cwd });
    expect(replan.code).toBe(2);
    expect(replan.stderr).toContain(
      '--replan has the model write corrective steps, but no model is configured',
    );
    expect((await tv(['ls', '--db', db], { cwd })).stderr).toContain('no taskvisor database');
  });

  it('prints errors as JSON under --json: bad input, library errors and usage errors', async () => {
    const db = path.join(cwd, 'json-errors.db');
    await tv(['run', HELLO, '--db', db], { cwd });
    const missing = await tv(['show', 'run_nope', '--db', db, '--json'], { cwd });
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout)).toEqual({
      error: { code: 'BAD_INPUT', message: expect.stringContaining('no run "run_nope"') },
    });
    const cyclic = plan('cyclic.json', {
      goal: 'c',
      steps: [
        { id: 'a', dependsOn: ['b'], action: { kind: 'note', output: 1 } },
        { id: 'b', dependsOn: ['a'], action: { kind: 'note', output: 2 } },
      ],
    });
    const cycle = await tv(['run', cyclic, '--db', db, '--json'], { cwd });
    expect(cycle.code).toBe(2);
    expect(JSON.parse(cycle.stdout)).toMatchObject({ error: { code: 'PLAN_CYCLE' } });
    const usage = await tv(['ls', '--db', db, '--json', '--bogus'], { cwd });
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stdout)).toEqual({
      error: { code: 'BAD_INPUT', message: expect.stringContaining("unknown option '--bogus'") },
    });
    expect(usage.stderr).toBe('');
  });
});

describe('Ctrl-C on a terminal', () => {
  it('leaves the "stopped; resume with …" line on screen after the live display', async () => {
    const db = path.join(cwd, 'ctrl-c.db');
    const command = [
      process.execPath,
      BIN,
      'run',
      path.join(EXAMPLES, 'crash-resume.json'),
      '--config',
      path.join(EXAMPLES, 'actions.mjs'),
      '--db',
      db,
    ]
      .map((word) => `'${word}'`)
      .join(' ');
    // util-linux `script` runs the command on a pseudo-terminal; a 0x03 typed into it is Ctrl-C.
    const child = spawn('script', ['-qfec', `stty rows 30 cols 150; exec ${command}`, '/dev/null'], {
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TERM: 'xterm', npm_command: 'exec', NO_COLOR: '1' },
    });
    let screen = '';
    child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    await expect.poll(() => screen, { timeout: 15_000 }).toContain('deploy: waiting');
    child.stdin.write('\u0003');
    const code = await new Promise<number | null>((resolve) => child.on('close', (exit) => resolve(exit)));
    expect(code).toBe(130);
    const at = screen.lastIndexOf('taskvisor: stopped; run ');
    expect(at).toBeGreaterThan(-1);
    // Nothing after the line moves the cursor up or erases it.
    const escape = String.fromCharCode(27);
    expect(screen.slice(at)).not.toMatch(new RegExp(`${escape}\\[(\\d*A|2K|J|\\d*F)`));
    expect(screen.slice(at)).toContain('resumes with npx taskvisor resume run_');
  }, 30_000);
});

describe('cost and fan-out, readable', () => {
  it('shows a model with no price as an unknown cost, never $0.0000', () => {
    const projection = new RunProjection();
    projection.apply({
      seq: 1,
      at: 0,
      type: 'run.created',
      runId: 'r',
      goal: 'g',
      steps: [],
      requireApproval: false,
    });
    const usage = { at: 1, type: 'usage.recorded' as const, runId: 'r', inputTokens: 10, outputTokens: 5 };
    projection.apply({ ...usage, seq: 2, model: 'llama3.2', costUsd: 0, priced: false });
    expect(formatUsage(projection.view().usage)).toBe(
      '10 in + 5 out tokens, cost unknown (no price for llama3.2; set "prices" in a --config file)',
    );
    projection.apply({ ...usage, seq: 3, model: 'gpt-4o-mini', costUsd: 0.0012 });
    expect(formatUsage(projection.view().usage)).toBe(
      '20 in + 10 out tokens, $0.0012 + an unknown cost (no price for llama3.2; set "prices" in a --config file)',
    );
    expect(formatUsage({ inputTokens: 1, outputTokens: 1, costUsd: 0 })).toBe('1 in + 1 out tokens, $0.0000');
  });

  it('gives each fan-out worker a row, and each answer and the verdict a line at the end', () => {
    const view = {
      workers: [
        { stepId: 'f', label: 'a#1', model: 'a', state: 'completed', attempt: 1 },
        {
          stepId: 'f',
          label: 'b',
          model: 'b',
          state: 'failed',
          attempt: 2,
          error: 'the server answered 503',
        },
      ],
    } as unknown as RunView;
    expect(workerRows(view, 'f')).toEqual([
      '    ↳ a#1  a              completed   #1',
      '    ↳ b    b              failed      #2 the server answered 503',
    ]);
    expect(
      fanoutOutputLines({
        results: [
          { label: 'a#1', state: 'completed', text: 'Call it warden.' },
          { label: 'b', state: 'failed', error: 'the server answered 503' },
        ],
        reduction: {
          mode: 'best_of_n',
          model: 'a',
          verdict: { winner_label: 'a#1', rationale: 'Short and apt.', recommended_next_step: 'Ship it.' },
        },
      }),
    ).toEqual([
      'a#1 (completed): Call it warden.',
      'b (failed): the server answered 503',
      'verdict (best_of_n by a): winner: a#1',
      'why: Short and apt.',
      'next: Ship it.',
    ]);
  });
});
