import { describe, expect, it } from 'vitest';
import { isTaskvisorError, type TaskvisorErrorCode } from '../../src/errors.js';
import { parsePlan } from '../../src/model/parse-plan.js';
import { type Plan, type Step, type StepInput, StepSchema } from '../../src/model/plan.js';
import { currentReplacement, type SpliceOptions, spliceSteps } from '../../src/model/splice.js';

const note = (id: string, dependsOn: string[] = [], extra: Partial<StepInput> = {}): Step =>
  StepSchema.parse({ id, dependsOn, action: { kind: 'note', output: id }, ...extra });

/** The value `run` throws; fails the test when it returns. */
function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw, but it returned');
}

/** fetch -> build -> test, and report reads both fetch and build. */
function buildPlan(): Plan {
  return parsePlan({
    goal: 'release',
    steps: [
      { id: 'fetch', action: { kind: 'note', output: { url: 'https://example.test' } } },
      {
        id: 'build',
        dependsOn: ['fetch'],
        action: { kind: 'shell', command: 'make', args: ['{{steps.fetch.output.url}}'] },
      },
      {
        id: 'test',
        dependsOn: ['build'],
        action: { kind: 'shell', command: 'npm', args: ['test', '--bin={{steps.build.output.path}}'] },
      },
      {
        id: 'report',
        dependsOn: ['fetch', 'build'],
        action: { kind: 'notify', message: 'built {{steps.build.output}} from {{steps.fetch.output}}' },
      },
    ],
  });
}

describe('spliceSteps', () => {
  it('adds new steps after the existing ones and leaves those as they were', () => {
    const plan = buildPlan();
    const lint = note('lint', ['fetch']);
    const summary = StepSchema.parse({
      id: 'summary',
      dependsOn: ['lint'],
      action: { kind: 'research', query: 'Summarise {{steps.lint.output}}' },
    });
    const result = spliceSteps(plan, [lint, summary]);
    expect(result.added).toEqual(['lint', 'summary']);
    expect(result.replaced).toEqual([]);
    expect(result.rewired).toEqual([]);
    expect(result.plan.goal).toBe('release');
    expect(result.plan.steps).toEqual([...plan.steps, lint, summary]);
  });

  it('rewires the dependents of a replaced step, their dependsOn and their templates', () => {
    const plan = buildPlan();
    const before = structuredClone(plan);
    const fix = StepSchema.parse({
      id: 'build-fix',
      dependsOn: ['fetch'],
      replaces: 'build',
      action: { kind: 'shell', command: 'make', args: ['clean', 'all'] },
    });
    const result = spliceSteps(plan, [fix], { replaceable: ['build'] });

    expect(result.added).toEqual(['build-fix']);
    expect(result.replaced).toEqual([{ failed: 'build', by: 'build-fix' }]);
    expect(result.rewired).toEqual([
      { stepId: 'test', from: 'build', to: 'build-fix' },
      { stepId: 'report', from: 'build', to: 'build-fix' },
    ]);
    const byId = new Map(result.plan.steps.map((step) => [step.id, step]));
    expect([...byId.keys()]).toEqual(['fetch', 'build', 'test', 'report', 'build-fix']);
    expect(byId.get('test')).toMatchObject({
      dependsOn: ['build-fix'],
      action: { kind: 'shell', command: 'npm', args: ['test', '--bin={{steps.build-fix.output.path}}'] },
    });
    expect(byId.get('report')).toMatchObject({
      dependsOn: ['fetch', 'build-fix'],
      action: { kind: 'notify', message: 'built {{steps.build-fix.output}} from {{steps.fetch.output}}' },
    });
    // The failed step stays, untouched, as a record of what happened.
    expect(byId.get('build')).toEqual(before.steps[1]);
    expect(byId.get('build-fix')).toEqual(fix);
    expect(plan).toEqual(before);
  });

  it('rewires a step that reads the replaced output through another dependency', () => {
    // c may read a's output because a is a transitive ancestor; once b depends on the
    // replacement, c must read the replacement too.
    const plan = parsePlan({
      steps: [
        { id: 'a', action: { kind: 'note', output: { x: 1 } } },
        { id: 'b', dependsOn: ['a'], action: { kind: 'research', query: 'b {{steps.a.output}}' } },
        { id: 'c', dependsOn: ['b'], action: { kind: 'research', query: 'c {{steps.a.output.x}}' } },
      ],
    });
    const result = spliceSteps(plan, [note('a2', [], { replaces: 'a' })], { replaceable: ['a'] });
    const c = result.plan.steps.find((step) => step.id === 'c');
    expect(c).toMatchObject({ dependsOn: ['b'], action: { query: 'c {{steps.a2.output.x}}' } });
  });

  it('lets any existing step be replaced when no replaceable list is given', () => {
    const plan = buildPlan();
    const result = spliceSteps(plan, [note('test2', ['build'], { replaces: 'test' })]);
    expect(result.replaced).toEqual([{ failed: 'test', by: 'test2' }]);
    expect(result.rewired).toEqual([]);
  });

  it('resolves a replacement of an already replaced step to the current step of its chain', () => {
    const first = spliceSteps(buildPlan(), [note('build2', ['fetch'], { replaces: 'build' })], {
      replaceable: ['build'],
    });
    // build2 failed too: naming build (or build2) replaces build2, and the new step records it.
    for (const named of ['build', 'build2']) {
      const second = spliceSteps(first.plan, [note('build3', ['fetch'], { replaces: named })], {
        replaceable: ['build2'],
      });
      expect(second.replaced).toEqual([{ failed: 'build2', by: 'build3' }]);
      expect(second.rewired).toEqual([
        { stepId: 'test', from: 'build2', to: 'build3' },
        { stepId: 'report', from: 'build2', to: 'build3' },
      ]);
      expect(second.plan.steps.at(-1)).toMatchObject({ id: 'build3', replaces: 'build2' });
      expect(currentReplacement(second.plan, 'build')).toBe('build3');
    }
  });

  it('refuses a replacement whose chain ends at a step that has not failed, naming both', () => {
    const first = spliceSteps(buildPlan(), [note('build2', ['fetch'], { replaces: 'build' })], {
      replaceable: ['build'],
    });
    const error = thrownBy(() =>
      spliceSteps(first.plan, [note('build3', ['fetch'], { replaces: 'build' })], {
        replaceable: ['report'],
      }),
    );
    expect(error).toMatchObject({ code: 'BAD_REPLACEMENT' });
    expect(String(error)).toContain(
      'replaces "build2" (named as "build", whose replacement chain ends there)',
    );
  });

  it('lets a new step depend on the replacement of a failed step', () => {
    const plan = buildPlan();
    const result = spliceSteps(
      plan,
      [note('build-fix', ['fetch'], { replaces: 'build' }), note('verify', ['build-fix'])],
      { replaceable: ['build'] },
    );
    expect(result.added).toEqual(['build-fix', 'verify']);
  });

  interface BadSplice {
    readonly name: string;
    readonly added: () => Step[];
    readonly options?: SpliceOptions;
    readonly code: TaskvisorErrorCode;
    /** Substrings the message must contain: the bad values. */
    readonly names: readonly string[];
  }

  const badSplices: readonly BadSplice[] = [
    {
      name: 'no steps',
      added: () => [],
      code: 'BAD_REPLACEMENT',
      names: ['at least one step; got none'],
    },
    {
      name: 'a step id already used',
      added: () => [note('lint'), note('test', ['fetch'])],
      code: 'DUPLICATE_STEP_ID',
      names: ['Replanned step id "test" is already used'],
    },
    {
      name: 'a replacement of an unknown step',
      added: () => [note('fix', [], { replaces: 'deploy' })],
      code: 'BAD_REPLACEMENT',
      names: ['Step "fix" replaces "deploy", which is not a step of this run'],
    },
    {
      name: 'a replacement of a step that did not fail',
      added: () => [note('fix', [], { replaces: 'fetch' })],
      options: { replaceable: ['build', 'report'] },
      code: 'BAD_REPLACEMENT',
      names: ['Step "fix" replaces "fetch", which has not failed', 'only "build", "report" can be replaced'],
    },
    {
      name: 'two replacements of the same step',
      added: () => [
        note('fix1', ['fetch'], { replaces: 'build' }),
        note('fix2', ['fetch'], { replaces: 'build' }),
      ],
      options: { replaceable: ['build'] },
      code: 'BAD_REPLACEMENT',
      names: ['Steps "fix1" and "fix2" both replace "build"'],
    },
    {
      name: 'a new step that depends on a failed step',
      added: () => [note('fix', ['fetch'], { replaces: 'build' }), note('verify', ['build'])],
      options: { replaceable: ['build'] },
      code: 'BAD_REPLACEMENT',
      names: ['Step "verify" depends on "build", which failed', 'depend on its replacement "fix" instead'],
    },
    {
      name: 'a new step that depends on a failed step nobody replaces',
      added: () => [note('verify', ['report'])],
      options: { replaceable: ['report'] },
      code: 'BAD_REPLACEMENT',
      names: ['Step "verify" depends on "report", which failed', 'replace that step or drop the dependency'],
    },
    {
      name: 'a replacement that closes a cycle',
      added: () => [note('fix', ['test'], { replaces: 'build' })],
      options: { replaceable: ['build'] },
      code: 'PLAN_CYCLE',
      names: ['test -> fix -> test'],
    },
    {
      name: 'a dependency on an unknown step',
      added: () => [note('lint', ['fecth'])],
      code: 'UNKNOWN_DEPENDENCY',
      names: ['Step "lint" depends on "fecth"', '(did you mean "fetch"?)'],
    },
    {
      name: 'a template that reads a step the new step does not depend on',
      added: () => [
        StepSchema.parse({
          id: 'lint',
          dependsOn: ['fetch'],
          action: { kind: 'research', query: '{{steps.test.output}}' },
        }),
      ],
      code: 'BAD_TEMPLATE_REFERENCE',
      names: [
        'Step "lint" (action.query) uses {{steps.test.output}}',
        'add "test" to the dependsOn of "lint"',
      ],
    },
    {
      name: 'a step the context does not allow',
      added: () => [
        StepSchema.parse({ id: 'upload', dependsOn: ['build'], action: { kind: 'shell', command: 'curl' } }),
      ],
      options: { context: { shellAllow: ['make', 'npm'] } },
      code: 'SHELL_NOT_ALLOWED',
      names: ['Step "upload" runs "curl"'],
    },
  ];

  it.each(badSplices.map((row) => [row.code, row.name, row] as const))(
    'throws %s for %s and leaves the plan unchanged',
    (_code, _name, row) => {
      const plan = buildPlan();
      const before = structuredClone(plan);
      const error = thrownBy(() => spliceSteps(plan, row.added(), row.options));
      expect(isTaskvisorError(error)).toBe(true);
      expect(error).toMatchObject({ code: row.code });
      const message = (error as Error).message;
      for (const name of row.names) expect(message).toMatch(name);
      expect(plan).toEqual(before);
    },
  );
});
