/**
 * M1: a human approves what they can see. The live lines, `show`, `show --json` and
 * `trace --json` show every step's action in full (the shell command with its arguments,
 * the outputs it reads filled in once they exist), never only ids, kinds and tiers.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunViewSchema } from '../../src/model/views.js';
import { json, start, tempDir, tv } from './cli.js';

const temp = tempDir('approve-what');
const cwd = temp.dir;
afterAll(() => temp.remove());

const planFile = path.join(cwd, 'wipe.json');
writeFileSync(
  planFile,
  JSON.stringify({
    goal: 'Clean the old build',
    steps: [
      { id: 'find', title: 'Find it', action: { kind: 'note', output: 'build/old one' } },
      {
        id: 'wipe',
        title: 'Delete it',
        dependsOn: ['find'],
        tier: 'destructive',
        action: {
          kind: 'shell',
          command: 'node',
          args: ['-e', 'console.log(process.argv[1])', '{{steps.find.output}}'],
          env: { SECRET_TOKEN: 'hunter2' },
        },
      },
    ],
  }),
);

describe('what runs is shown before it is approved', () => {
  it('lists every step with its action while the plan waits, and the filled-in command while a step waits', async () => {
    const db = path.join(cwd, 'runs.db');
    const runner = start(['run', planFile, '--db', db, '--allow', 'node', '--require-approval'], { cwd });
    const runId = /^run (\S+)$/.exec((await runner.line(/^run run_/)).line)![1]!;
    await runner.line('waiting: plan waits for approval');
    await runner.line(
      `       $ node -e 'console.log(process.argv[1])' '{{steps.find.output}}'  (env SECRET_TOKEN)`,
    );

    const shown = await tv(['show', runId, '--db', db], { cwd });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('what each step runs');
    expect(shown.stdout).toMatch(/ {2}find {2}note: build\/old one/);
    expect(shown.stdout).toContain(
      `wipe  $ node -e 'console.log(process.argv[1])' '{{steps.find.output}}'  (env SECRET_TOKEN)`,
    );
    expect(shown.stdout).not.toContain('hunter2');

    expect((await tv(['approve', runId, '--db', db], { cwd })).code).toBe(0);
    await runner.line('waiting: step wipe waits for confirmation');
    // The output the step reads is filled in: this is what will run.
    await runner.line(
      `    runs: $ node -e 'console.log(process.argv[1])' 'build/old one'  (env SECRET_TOKEN)`,
    );

    const view = RunViewSchema.parse(json(await tv(['show', runId, '--db', db, '--json'], { cwd })));
    expect(view.steps.map((step) => step.action?.details[0])).toEqual([
      { label: 'output', value: 'build/old one' },
      { label: 'command', value: `node -e 'console.log(process.argv[1])' '{{steps.find.output}}'` },
    ]);
    const trace = json<{ run: { steps: Array<{ action?: { summary: string } }> } }>(
      await tv(['trace', runId, '--db', db, '--json'], { cwd }),
    );
    expect(trace.run.steps[1]!.action?.summary).toContain('$ node -e');
    const waiting = await tv(['show', runId, '--db', db], { cwd });
    expect(waiting.stdout).toContain(
      `      runs: $ node -e 'console.log(process.argv[1])' 'build/old one'  (env SECRET_TOKEN)`,
    );

    expect((await tv(['approve', runId, 'wipe', '--db', db], { cwd })).code).toBe(0);
    const exit = await runner.exited;
    expect(exit.stdout).toContain('step wipe output: build/old one');
    expect(exit.stdout).not.toContain('hunter2');
    expect(exit.code).toBe(0);
  });
});
