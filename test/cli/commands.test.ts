/**
 * The `taskvisor` bin as a user meets it: every command of API.md's table is there, runs
 * end with the documented exit codes, bad input exits 2 with a message that names the
 * value and the fix, and --json prints the documented shapes.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskvisorEventSchema } from '../../src/model/events.js';
import { RunViewSchema } from '../../src/model/views.js';
import { EXAMPLES, inProcess, json, tempDir, tv } from './cli.js';

const temp = tempDir('commands');
const cwd = temp.dir;
const db = path.join(cwd, 'runs.db');
afterAll(() => temp.remove());

function plan(name: string, value: unknown): string {
  const file = path.join(cwd, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

let completedRun = '';

beforeAll(async () => {
  const exit = await tv(['run', path.join(EXAMPLES, 'hello.json'), '--db', db], { cwd });
  expect(exit.stderr).toBe('');
  expect(exit.code).toBe(0);
  completedRun = /^run (\S+)$/m.exec(exit.stdout)![1]!;
});

describe.concurrent('taskvisor run', () => {
  it('prints "run <id>" first, a plain line per change when not on a TTY, and exits 0 when the run completes', async () => {
    const exit = await tv(['run', path.join(EXAMPLES, 'hello.json'), '--db', db], { cwd });
    expect(exit.code).toBe(0);
    const lines = exit.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^run run_\S+$/);
    expect(lines).toContain('step greet: pending -> running (attempt 1)');
    expect(lines).toContain('step sentence output: hello from taskvisor');
    expect(exit.stdout).toMatch(/^run run_\S+ completed in /m);
  });

  it('prints the final RunView with --json, and nothing else on stdout', async () => {
    const exit = await tv(['run', path.join(EXAMPLES, 'hello.json'), '--db', db, '--json'], { cwd });
    expect(exit.code).toBe(0);
    const view = RunViewSchema.parse(json(exit));
    expect(view.phase).toBe('completed');
    expect(view.result?.outputs).toEqual({
      greet: 'hello',
      name: 'taskvisor',
      sentence: 'hello from taskvisor',
    });
  });

  it('exits 1 when the run fails, and says which step failed', async () => {
    const failing = plan('failing.json', {
      goal: 'fail',
      steps: [{ id: 'boom', action: { kind: 'shell', command: 'node', args: ['-e', 'process.exit(3)'] } }],
    });
    const exit = await tv(['run', failing, '--db', db, '--allow', 'node'], { cwd });
    expect(exit.code).toBe(1);
    expect(exit.stdout).toMatch(/^run run_\S+ failed in /m);
    expect(exit.stdout).toMatch(/error: step boom failed/);
  });

  it('exits 2 naming the cycle when the plan has one', async () => {
    const cyclic = plan('cycle.json', {
      goal: 'cycle',
      steps: [
        { id: 'a', dependsOn: ['c'], action: { kind: 'note', output: 1 } },
        { id: 'b', dependsOn: ['a'], action: { kind: 'note', output: 2 } },
        { id: 'c', dependsOn: ['b'], action: { kind: 'note', output: 3 } },
      ],
    });
    const exit = await tv(['run', cyclic, '--db', db], { cwd });
    expect(exit.code).toBe(2);
    expect(exit.stdout).toBe('');
    expect(exit.stderr).toContain('The plan has a dependency cycle: a -> c -> b -> a');
    expect(exit.stderr).toContain('[PLAN_CYCLE]');
  });

  it('exits 2 for a plan file that is missing or not JSON, naming the file', async () => {
    const missing = await tv(['run', 'nope.json', '--db', db], { cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no plan file "nope.json"');
    const broken = path.join(cwd, 'broken.json');
    writeFileSync(broken, '{ "steps": [ ');
    const bad = await tv(['run', broken, '--db', db], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${broken} is not valid JSON`);
  });

  it('exits 2 for a step kind that no one registered, naming the kind', async () => {
    const unknown = plan('unknown-kind.json', {
      goal: 'g',
      steps: [{ id: 'x', action: { kind: 'deploy' } }],
    });
    const exit = await tv(['run', unknown, '--db', db], { cwd });
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain('"deploy"');
    expect(exit.stderr).toContain('[UNKNOWN_ACTION_KIND]');
  });

  it('runs custom step kinds from a --config module', async () => {
    const waiting = plan('wait.json', {
      goal: 'g',
      steps: [{ id: 'w', action: { kind: 'wait', ms: 10, output: 'waited' } }],
    });
    const exit = await tv(
      ['run', waiting, '--db', db, '--json', '--config', path.join(EXAMPLES, 'actions.mjs')],
      { cwd },
    );
    expect(exit.code).toBe(0);
    expect(RunViewSchema.parse(json(exit)).result?.outputs).toEqual({ w: 'waited' });
  });
});

describe.concurrent('reading runs', () => {
  it('ls --json prints an array of RunViews, newest first', async () => {
    const exit = await tv(['ls', '--db', db, '--json'], { cwd });
    expect(exit.code).toBe(0);
    const views = RunViewSchema.array().parse(json(exit));
    expect(views.length).toBeGreaterThan(0);
    expect(views.map((view) => view.id)).toContain(completedRun);
    expect(views.map((view) => view.createdAt)).toEqual(
      [...views.map((view) => view.createdAt)].sort((a, b) => b - a),
    );
  });

  it('ls prints a table and filters by phase; an unknown phase exits 2 with the phases', async () => {
    const exit = await tv(['ls', '--db', db, '--phase', 'completed'], { cwd });
    expect(exit.code).toBe(0);
    expect(exit.stdout.split('\n')[0]).toMatch(/^RUN\s+PHASE\s+STATUS\s+STEPS\s+CREATED\s+GOAL$/);
    expect(exit.stdout).toContain(completedRun);
    const bad = await inProcess(['ls', '--db', db, '--phase', 'complete']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--phase "complete" is not a run phase (did you mean "completed"?)');
  });

  it('show --json prints the RunView; show prints its steps and outputs', async () => {
    const exit = await tv(['show', completedRun, '--db', db, '--json'], { cwd });
    expect(exit.code).toBe(0);
    const view = RunViewSchema.parse(json(exit));
    expect(view).toMatchObject({ id: completedRun, goal: 'Say hello, durably', phase: 'completed' });
    expect(view.steps.map((step) => [step.id, step.state, step.dependsOn])).toEqual([
      ['greet', 'succeeded', []],
      ['name', 'succeeded', []],
      ['sentence', 'succeeded', ['greet', 'name']],
    ]);
    const text = await tv(['show', completedRun, '--db', db], { cwd });
    expect(text.stdout).toContain(`run ${completedRun}  completed`);
    expect(text.stdout).toContain('sentence → hello from taskvisor');
  });

  it('show --mermaid prints the DAG as a Mermaid flowchart coloured by step state', async () => {
    const exit = await tv(['show', completedRun, '--db', db, '--mermaid'], { cwd });
    expect(exit.code).toBe(0);
    expect(exit.stdout).toMatchInlineSnapshot(`
      "flowchart TD
        s0["greet: Write a greeting<br/><small>note · succeeded</small>"]
        s1["name: Pick a name<br/><small>note · succeeded</small>"]
        s2["sentence: Put them together<br/><small>note · succeeded</small>"]
        s0 --> s2
        s1 --> s2
        classDef succeeded fill:#dcfce7,stroke:#16a34a,color:#14532d
        class s0,s1,s2 succeeded
      "
    `);
  });

  it('trace --json prints the RunTrace: the view, every event, transitions, attempts, requests, artifacts, usage', async () => {
    const exit = await tv(['trace', completedRun, '--db', db, '--json'], { cwd });
    expect(exit.code).toBe(0);
    const trace = json<Record<string, unknown>>(exit);
    expect(Object.keys(trace)).toEqual(
      expect.arrayContaining(['run', 'events', 'transitions', 'attempts', 'requests', 'artifacts', 'usage']),
    );
    RunViewSchema.parse(trace.run);
    const events = TaskvisorEventSchema.array().parse(trace.events);
    expect(events[0]?.type).toBe('run.created');
    expect(events.every((event) => event.runId === completedRun)).toBe(true);
    expect(
      (trace.transitions as Array<{ type: string }>).every((event) => event.type.endsWith('.transition')),
    ).toBe(true);
    expect(trace.attempts).toEqual(
      expect.arrayContaining([expect.objectContaining({ stepId: 'greet', attempt: 1, status: 'succeeded' })]),
    );
    expect(trace.usage).toEqual({ inputTokens: 0, outputTokens: 0, costUsd: 0 });
    const text = await tv(['trace', completedRun, '--db', db], { cwd });
    expect(text.stdout).toContain('run.created');
    expect(text.stdout).toContain('step greet: pending -> running (attempt 1)');
  });
});

describe('bad input exits 2 with a message that names the value and the fix (in this process)', () => {
  it.each([
    [['show', 'run_nope'], 'no run "run_nope" in'],
    [['trace', 'run_nope'], 'no run "run_nope" in'],
    [['watch', 'run_nope'], 'no run "run_nope" in'],
    [['approve', 'run_nope'], 'no run "run_nope" in'],
    [['cancel', 'run_nope'], 'no run "run_nope" in'],
    [['answer', 'req_nope', '--text', 'hi'], 'no open request "req_nope"'],
  ])('taskvisor %j', async (args, message) => {
    const exit = await inProcess([...args, '--db', db]);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain(message);
    if (args[0] !== 'answer') expect(exit.stderr).toContain('list the runs with npx taskvisor ls');
  });

  it('an approval for a run that does not wait for one says what state it is in', async () => {
    const exit = await inProcess(['approve', completedRun, '--db', db]);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain(`Run ${completedRun} is completed`);
    expect(exit.stderr).toContain('[INVALID_STATE]');
  });

  it.each([
    [
      ['control', 'r', 's', 'pause'],
      'control: action must be one of cancel, interrupt, retry, resume, got "pause"',
    ],
    [['reject', 'r'], 'add --reason "why"'],
    [['answer', 'req_1'], 'needs exactly one of --text'],
    [['viz', 'tsak'], 'no machine "tsak" (did you mean "task"?)'],
    [['fanout', 'hello'], 'fanout needs at least one --target <model>'],
    [['fanout', 'hello', '--target', 'm', '--reduce', 'sumarize'], '(did you mean "summarize"?)'],
    [['ls', '--limit', '0'], '--limit must be a whole number of at least 1'],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['run'], "missing required argument 'plan'"],
  ])('taskvisor %j', async (args, message) => {
    const exit = await inProcess([...args, '--db', db]);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain(message);
  });

  it('a database that does not exist is named, with how to create one', async () => {
    const exit = await inProcess(['ls', '--db', path.join(cwd, 'missing.db')]);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain('no taskvisor database at');
    expect(exit.stderr).toContain('taskvisor run <plan.json>');
  });
});

describe('the rest of the command table', () => {
  it('--help lists every command of API.md', async () => {
    const exit = await inProcess(['--help']);
    expect(exit.code).toBe(0);
    for (const command of [
      'run',
      'ls',
      'show',
      'watch',
      'trace',
      'approve',
      'reject',
      'answer',
      'cancel',
      'control',
      'resume',
      'fanout',
      'viz',
      'serve',
    ]) {
      expect(exit.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
  });

  it('viz prints a machine as a Mermaid state diagram, and --out regenerates the diagram files', async () => {
    const exit = await tv(['viz', 'step'], { cwd });
    expect(exit.code).toBe(0);
    expect(exit.stdout.startsWith('stateDiagram-v2\n')).toBe(true);
    expect(exit.stdout).toContain('awaitingConfirmation');
    const out = await tv(['viz', '--out', 'diagrams', '--json'], { cwd });
    expect(json<string[]>(out).map((file) => path.basename(file))).toEqual(
      expect.arrayContaining([
        'README.md',
        'supervisor.machine.md',
        'task.machine.md',
        'step.machine.md',
        'step.machine.json',
      ]),
    );
  });

  it('resume with nothing unfinished says so and exits 0', async () => {
    const exit = await inProcess(['resume', '--db', db]);
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain('nothing to resume');
  });
});
