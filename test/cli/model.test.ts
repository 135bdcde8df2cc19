/**
 * The command line with a model: a goal in words is planned by the model and waits for
 * `taskvisor approve`; `fanout` asks several targets. The model is a local
 * OpenAI-compatible server, reached through OPENAI_BASE_URL as a user would configure it.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RunViewSchema } from '../../src/model/views.js';
import { type OpenAiServer, startOpenAiServer } from '../support/openai-server.js';
import { json, start, tempDir, tv } from './cli.js';

const temp = tempDir('model');
const cwd = temp.dir;
let server: OpenAiServer;
let env: Record<string, string>;

beforeEach(async () => {
  server = await startOpenAiServer({ models: ['plan-model'] });
  env = { OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: 'test', TASKVISOR_MODEL: 'plan-model' };
});
afterEach(() => server.close());
afterAll(() => temp.remove());

describe('with a model configured in the environment', () => {
  it('run "<goal>" has the model plan it, waits for approval, and runs it once approved', async () => {
    const db = path.join(cwd, 'plan.db');
    server.script(
      {
        text: JSON.stringify({
          steps: [
            {
              id: 'facts',
              title: 'Collect facts',
              action: { kind: 'research', query: 'Three facts about SQLite' },
            },
            { id: 'done', dependsOn: ['facts'], action: { kind: 'note', output: 'noted' } },
          ],
        }),
      },
      { text: 'SQLite is a single file.' },
    );
    const first = start(['run', 'Tell me about SQLite', '--db', db], { cwd, env });
    const runId = /^run (\S+)$/.exec((await first.line(/^run run_/)).line)![1]!;
    await first.line('waiting: plan waits for approval');
    expect((await tv(['approve', runId, '--db', db], { cwd })).code).toBe(0);
    const exit = await first.exited;
    expect(exit.stderr).toBe('');
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain('facts: SQLite is a single file.');
    // plan-model has no price: its cost is unknown, not $0.0000.
    expect(exit.stdout).toMatch(/usage: \d+ in \+ \d+ out tokens, cost unknown \(no price for plan-model/);
    expect(exit.stdout).not.toContain('$0.0000');
    expect(server.remaining).toBe(0);
  });

  const failingPlan = () => {
    const file = path.join(cwd, 'failing.json');
    writeFileSync(
      file,
      JSON.stringify({
        goal: 'Build and report',
        steps: [
          { id: 'build', action: { kind: 'shell', command: 'node', args: ['-e', 'process.exit(3)'] } },
          { id: 'report', dependsOn: ['build'], action: { kind: 'note', output: 'built' } },
        ],
      }),
    );
    return file;
  };

  it('run <plan file> never has the model replan a hand-written plan unless --replan asks', async () => {
    const db = path.join(cwd, 'no-replan.db');
    const exit = await tv(['run', failingPlan(), '--db', db, '--allow', 'node'], { cwd, env });
    expect(exit.code).toBe(1);
    expect(exit.stdout).toContain('report: skipped');
    expect(server.chatRequests).toHaveLength(0);
  });

  it('run <plan file> --replan asks the model, and a replan with a notify step waits for approval as a diff', async () => {
    const db = path.join(cwd, 'replan.db');
    server.script({
      text: JSON.stringify({
        steps: [
          {
            id: 'rebuild',
            title: 'Build again',
            replaces: 'build',
            action: { kind: 'note', output: 'built differently' },
          },
          {
            id: 'tell',
            dependsOn: ['rebuild'],
            action: { kind: 'notify', message: 'rebuilt: {{steps.rebuild.output}}' },
          },
        ],
      }),
    });
    const runner = start(['run', failingPlan(), '--db', db, '--allow', 'node', '--replan'], { cwd, env });
    const runId = /^run (\S+)$/.exec((await runner.line(/^run run_/)).line)![1]!;
    await runner.line('waiting: replan waits for approval');
    await runner.line('    + 3. rebuild: Build again [note] (replaces build)');
    await runner.line('           notify console: rebuilt: {{steps.rebuild.output}}');
    await runner.line('    ~ report will wait on rebuild instead of build');
    expect((await tv(['reject', runId, '--reason', 'no', '--db', db], { cwd })).code).toBe(0);
    const exit = await runner.exited;
    expect(exit.code).toBe(1);
    expect(exit.stdout).not.toMatch(/\[notify\] run_/);
    expect(server.chatRequests).toHaveLength(1);
  });

  it('fanout asks every target and prints the run', async () => {
    const db = path.join(cwd, 'fanout.db');
    server.script({ text: 'answer one' }, { text: 'answer two' });
    const exit = await tv(
      ['fanout', 'Name a colour', '--target', 'plan-model,plan-model', '--db', db, '--json'],
      {
        cwd,
        env,
      },
    );
    expect(exit.stderr).toBe('');
    expect(exit.code).toBe(0);
    const view = RunViewSchema.parse(json(exit));
    expect(view.phase).toBe('completed');
  });

  it('fanout prints a line per worker as it goes, and each answer and the verdict at the end', async () => {
    const db = path.join(cwd, 'fanout-verdict.db');
    server.script(
      { text: 'Call it warden.' },
      { text: 'Call it shepherd.' },
      {
        text: JSON.stringify({
          summary: 'Both fine.',
          winner_label: 'plan-model#2',
          rationale: 'Shepherd says what it does.',
          recommended_next_step: 'Use shepherd.',
        }),
      },
    );
    const exit = await tv(
      ['fanout', 'Name the tool', '--target', 'plan-model,plan-model', '--reduce', 'best_of_n', '--db', db],
      { cwd, env },
    );
    expect(exit.stderr).toBe('');
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain('step fanout worker plan-model#1 (plan-model): running -> completed');
    expect(exit.stdout).toContain('step fanout worker plan-model#2 (plan-model): running -> completed');
    expect(exit.stdout).toMatch(/^ {4}plan-model#1 \(completed\): Call it (warden|shepherd)\.$/m);
    expect(exit.stdout).toContain('    verdict (best_of_n by plan-model): winner: plan-model#2');
    expect(exit.stdout).toContain('    why: Shepherd says what it does.');
  });
});
