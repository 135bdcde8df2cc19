/**
 * What a human approves: every action kind described in full by one pure renderer, with no
 * secret in it, and a replan shown as a diff against the plan.
 */
import { describe, expect, it } from 'vitest';
import { describeAction, resolveDescription } from '../../src/model/action-description.js';
import { RunProjection } from '../../src/model/views.js';
import { replanDiff } from '../../src/model/replan-diff.js';
import { parsePlan } from '../../src/model/parse-plan.js';
import { stepOutline } from '../../src/runtime/snapshots.js';
import { summarizePlan } from '../../src/planning/summary.js';

describe('describeAction', () => {
  it('shows a shell step as the command line it runs, quoted, with its cwd and the names (only) of its env', () => {
    const description = describeAction({
      kind: 'shell',
      command: 'git',
      args: ['commit', '-m', "fix: it's done", ''],
      cwd: 'repo',
      env: { GIT_AUTHOR_NAME: 'Ann', TOKEN: 's3cret-value' },
      timeoutMs: 5000,
    });
    expect(description).toEqual({
      kind: 'shell',
      summary: `$ git commit -m 'fix: it'\\''s done' ''  (in repo; env GIT_AUTHOR_NAME, TOKEN)`,
      details: [
        { label: 'command', value: `git commit -m 'fix: it'\\''s done' ''` },
        { label: 'cwd', value: 'repo' },
        { label: 'env', value: 'GIT_AUTHOR_NAME, TOKEN' },
        { label: 'timeout', value: '5000 ms' },
      ],
    });
    expect(JSON.stringify(description)).not.toContain('s3cret-value');
  });

  it('shows the research query, the review artifact and criteria, the implement agent and spec', () => {
    expect(describeAction({ kind: 'research', query: 'What changed in SQLite 3.45?' })).toEqual({
      kind: 'research',
      summary: 'research: What changed in SQLite 3.45?',
      details: [{ label: 'query', value: 'What changed in SQLite 3.45?' }],
    });
    expect(
      describeAction({ kind: 'review', artifact: '{{steps.draft.output}}', criteria: ['accurate', 'short'] }),
    ).toEqual({
      kind: 'review',
      summary: 'review {{steps.draft.output}} against: accurate; short',
      details: [
        { label: 'artifact', value: '{{steps.draft.output}}' },
        { label: 'criteria', value: 'accurate; short' },
      ],
    });
    expect(describeAction({ kind: 'implement', agent: 'coder', spec: 'Add a --dry-run flag' }).summary).toBe(
      'agent coder implements: Add a --dry-run flag',
    );
  });

  it('shows the notify channel (console by default) and the whole message, newlines marked on the summary line', () => {
    const long = `${'x'.repeat(500)}\nsecond line`;
    const description = describeAction({ kind: 'notify', message: long });
    expect(description.summary).toBe(`notify console: ${'x'.repeat(500)} ⏎ second line`);
    expect(description.details).toEqual([
      { label: 'channel', value: 'console' },
      { label: 'message', value: long },
    ]);
    expect(describeAction({ kind: 'notify', channel: 'ops', message: 'Deployed' }).summary).toBe(
      'notify ops: Deployed',
    );
  });

  it('shows fan-out targets (model, label, endpoint; never the key), repeats, the reducer and the prompt', () => {
    const description = describeAction({
      kind: 'fanout',
      prompt: 'Name the tool',
      targets: [
        { model: 'gpt-4o-mini' },
        { model: 'llama3.2', label: 'local', baseURL: 'http://127.0.0.1:11434/v1', apiKey: 'sk-secret' },
      ],
      repeat: 2,
      reduce: { mode: 'best_of_n', target: { model: 'gpt-4o-mini' } },
    });
    expect(description.summary).toBe(
      'fan-out to gpt-4o-mini, llama3.2 as local at http://127.0.0.1:11434/v1, 2 times each (reduce: best_of_n by gpt-4o-mini): Name the tool',
    );
    expect(JSON.stringify(description)).not.toContain('sk-secret');
  });

  it('shows a custom kind with its whole input, and a note with its output', () => {
    expect(describeAction({ kind: 'acme.deploy', env: 'prod', replicas: 3 })).toEqual({
      kind: 'acme.deploy',
      summary: 'acme.deploy {"env":"prod","replicas":3}',
      details: [{ label: 'input', value: '{"env":"prod","replicas":3}' }],
    });
    expect(describeAction({ kind: 'note', output: { a: 1 } }).summary).toBe('note: {"a":1}');
  });

  it('fills in the outputs a step reads once they exist (what a confirmation really runs)', () => {
    const description = describeAction({
      kind: 'shell',
      command: 'rm',
      args: ['-rf', '{{steps.find.output}}'],
    });
    expect(description.summary).toBe(`$ rm -rf '{{steps.find.output}}'`);
    const resolved = resolveDescription(description, (id) => (id === 'find' ? '/tmp/build' : undefined));
    expect(resolved.summary).toBe(`$ rm -rf '/tmp/build'`);
    expect(resolved.details[0]).toEqual({ label: 'command', value: `rm -rf '/tmp/build'` });
  });
});

describe('the views and summaries', () => {
  const plan = parsePlan({
    goal: 'Release',
    steps: [
      { id: 'log', title: 'Collect commits', action: { kind: 'shell', command: 'git', args: ['log', '-3'] } },
      {
        id: 'post',
        dependsOn: ['log'],
        tier: 'external',
        action: { kind: 'notify', channel: 'console', message: 'Notes: {{steps.log.output}}' },
      },
    ],
  });

  it('carries each step’s description from the run’s first event into its StepView', () => {
    const projection = new RunProjection();
    projection.apply({
      seq: 1,
      at: 0,
      type: 'run.created',
      runId: 'r',
      goal: 'Release',
      steps: plan.steps.map(stepOutline),
      requireApproval: true,
    });
    expect(projection.view().steps.map((step) => step.action?.summary)).toEqual([
      '$ git log -3',
      'notify console: Notes: {{steps.log.output}}',
    ]);
  });

  it('puts what each step runs under it in the plan summary', () => {
    expect(summarizePlan('Release', plan.steps.map(stepOutline), ['external'])).toBe(
      [
        'Plan: Release (2 steps)',
        '  1. log: Collect commits [shell]',
        '       $ git log -3',
        '  2. post [notify] after 1  ⚠ external: asks for confirmation',
        '       notify console: Notes: {{steps.log.output}}',
      ].join('\n'),
    );
  });
});

describe('replanDiff', () => {
  it('lists the added steps, the failed steps they replace and the steps that would wait on the replacement', () => {
    const plan = [
      { id: 'build', dependsOn: [] },
      { id: 'test', dependsOn: ['build'] },
      { id: 'deploy', dependsOn: ['build', 'test'] },
    ];
    const fix = {
      id: 'fix',
      title: 'fix',
      kind: 'note',
      tier: 'read' as const,
      dependsOn: [],
      replaces: 'build',
    };
    const extra = {
      id: 'notify',
      title: 'notify',
      kind: 'notify',
      tier: 'write' as const,
      dependsOn: ['fix'],
    };
    expect(replanDiff(plan, [fix, extra])).toEqual({
      added: [fix, extra],
      replaced: [{ failed: 'build', by: 'fix' }],
      rewired: [
        { stepId: 'test', from: 'build', to: 'fix' },
        { stepId: 'deploy', from: 'build', to: 'fix' },
      ],
    });
  });
});
