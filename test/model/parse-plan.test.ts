import { describe, expect, it } from 'vitest';
import { isTaskvisorError, type TaskvisorErrorCode } from '../../src/errors.js';
import { knownKinds, type PlanContext, parsePlan } from '../../src/model/parse-plan.js';
import type { StepInput } from '../../src/model/plan.js';

const note = (id: string, dependsOn: string[] = [], output: string = id): StepInput => ({
  id,
  dependsOn,
  action: { kind: 'note', output },
});

/** The value `run` throws; fails the test when it returns. */
function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw, but it returned');
}

interface BadPlan {
  readonly name: string;
  readonly input: unknown;
  readonly context?: PlanContext;
  readonly code: TaskvisorErrorCode;
  /** Substrings the message must contain: the bad value (and the fix where there is one). */
  readonly names: readonly string[];
}

const badPlans: readonly BadPlan[] = [
  {
    name: 'a field of the wrong type',
    input: { steps: [{ id: 'a', action: { kind: 'shell', command: 5 } }] },
    code: 'INVALID_PLAN',
    names: ['steps[0] ("a").action.command', 'expected string'],
  },
  {
    name: 'an unknown key (a typo of "command")',
    input: { steps: [{ id: 'a', action: { kind: 'shell', comand: 'ls' } }] },
    code: 'INVALID_PLAN',
    names: ['steps[0] ("a").action', 'Unrecognized key: "comand"'],
  },
  {
    name: 'an empty step list',
    input: { goal: 'nothing', steps: [] },
    code: 'INVALID_PLAN',
    names: ['steps: a plan needs at least one step'],
  },
  {
    name: 'a step id in the wrong format',
    input: { steps: [{ id: '1st step', action: { kind: 'note', output: 1 } }] },
    code: 'INVALID_PLAN',
    names: ['steps[0] ("1st step").id', 'a step id starts with a letter or _'],
  },
  {
    name: 'a step id used twice',
    input: { steps: [note('a'), note('b'), note('a')] },
    code: 'DUPLICATE_STEP_ID',
    names: ['"a"', 'steps[0] and steps[2]'],
  },
  {
    name: 'a dependency on a step that does not exist',
    input: { steps: [note('fetch'), note('parse', ['fetsh'])] },
    code: 'UNKNOWN_DEPENDENCY',
    names: ['Step "parse" depends on "fetsh"', '(did you mean "fetch"?)', 'use one of: "fetch", "parse"'],
  },
  {
    name: 'a step that depends on itself',
    input: { steps: [note('a'), note('loop', ['a', 'loop'])] },
    code: 'SELF_DEPENDENCY',
    names: ['Step "loop" depends on itself', 'remove "loop" from its dependsOn'],
  },
  {
    name: 'a dependency cycle',
    input: { steps: [note('a', ['b']), note('b', ['c']), note('c', ['a'])] },
    code: 'PLAN_CYCLE',
    names: ['a -> b -> c -> a'],
  },
  {
    name: 'an action kind that is not registered',
    input: { steps: [{ id: 'ship', action: { kind: 'deplyo', target: 'prod' } }] },
    context: { kinds: knownKinds(['deploy']) },
    code: 'UNKNOWN_ACTION_KIND',
    names: ['Step "ship" uses action kind "deplyo"', '(did you mean "deploy"?)', '"deploy"'],
  },
  {
    name: 'a malformed template',
    input: {
      steps: [note('a'), { id: 'b', dependsOn: ['a'], action: { kind: 'research', query: 'x {{steps.a}}' } }],
    },
    code: 'BAD_TEMPLATE_REFERENCE',
    names: ['Step "b" (action.query)', 'got {{steps.a}}'],
  },
  {
    name: 'a template that reads an unknown step',
    input: {
      steps: [
        note('fetch'),
        { id: 'b', dependsOn: ['fetch'], action: { kind: 'research', query: '{{steps.fetsh.output}}' } },
      ],
    },
    code: 'BAD_TEMPLATE_REFERENCE',
    names: ['{{steps.fetsh.output}}', 'there is no step "fetsh"', '(did you mean "fetch"?)'],
  },
  {
    name: 'a template that reads a step that is not an ancestor',
    input: {
      steps: [
        note('a'),
        note('b', ['a']),
        { id: 'c', dependsOn: ['a'], action: { kind: 'review', artifact: 'check {{steps.b.output}}' } },
      ],
    },
    code: 'BAD_TEMPLATE_REFERENCE',
    names: ['Step "c" (action.artifact) uses {{steps.b.output}}', 'add "b" to the dependsOn of "c"'],
  },
  {
    name: 'a shell binary outside sandbox.allow',
    input: { steps: [{ id: 'clean', action: { kind: 'shell', command: 'rm', args: ['-rf', 'dist'] } }] },
    context: { shellAllow: ['ls', '/usr/bin/git'] },
    code: 'SHELL_NOT_ALLOWED',
    names: ['Step "clean" runs "rm"', '"ls", "/usr/bin/git"', 'add "rm" to sandbox.allow'],
  },
  {
    name: 'a shell path whose basename is allowed but whose path is not',
    input: { steps: [{ id: 'list', action: { kind: 'shell', command: '/tmp/ls' } }] },
    context: { shellAllow: ['ls'] },
    code: 'SHELL_NOT_ALLOWED',
    names: ['Step "list" runs "/tmp/ls"', 'sandbox.allow ("ls")'],
  },
  {
    name: 'an agent that is not registered',
    input: { steps: [{ id: 'code', action: { kind: 'implement', agent: 'codx', spec: 'add a flag' } }] },
    context: { agents: ['codex', 'claude'] },
    code: 'UNKNOWN_AGENT',
    names: ['Step "code" delegates to agent "codx"', '(did you mean "codex"?)', '"codex", "claude"'],
  },
  {
    name: 'an omitted channel when "console" is not configured',
    input: { steps: [{ id: 'tell', action: { kind: 'notify', message: 'done' } }] },
    context: { channels: ['slack'] },
    code: 'UNKNOWN_CHANNEL',
    names: ['Step "tell" notifies channel "console"', 'channels: "slack"'],
  },
  {
    name: 'a channel that is not configured',
    input: { steps: [{ id: 'tell', action: { kind: 'notify', channel: 'slakc', message: 'done' } }] },
    context: { channels: ['console', 'slack'] },
    code: 'UNKNOWN_CHANNEL',
    names: ['channel "slakc"', '(did you mean "slack"?)'],
  },
  {
    name: '"replaces" in a fresh plan',
    input: { steps: [note('a'), { ...note('b'), replaces: 'a' }] },
    code: 'BAD_REPLACEMENT',
    names: ['Step "b" says replaces "a"', 'remove "replaces"'],
  },
];

describe('parsePlan', () => {
  it.each(badPlans.map((row) => [row.code, row.name, row] as const))(
    'throws %s for %s, naming the bad value',
    (_code, _name, row) => {
      const error = thrownBy(() => parsePlan(row.input, row.context));
      expect(isTaskvisorError(error)).toBe(true);
      expect(error).toMatchObject({ name: 'TaskvisorError', code: row.code });
      const message = (error as Error).message;
      for (const name of row.names) expect(message).toMatch(name);
    },
  );

  it('puts the cycle in the error details as a closed path', () => {
    const error = thrownBy(() =>
      parsePlan({ steps: [note('a', ['b']), note('b', ['c']), note('c', ['a'])] }),
    );
    expect(isTaskvisorError(error, 'PLAN_CYCLE')).toBe(true);
    expect(error).toMatchObject({ details: { cycle: ['a', 'b', 'c', 'a'] } });
  });

  it('accepts a custom kind when no kinds are given', () => {
    const plan = parsePlan({ steps: [{ id: 'ship', action: { kind: 'deplyo', target: 'prod' } }] });
    expect(plan.steps[0]?.action).toEqual({ kind: 'deplyo', target: 'prod' });
  });

  it('accepts a registered custom kind and passes its fields through', () => {
    const plan = parsePlan(
      { steps: [{ id: 'ship', action: { kind: 'deploy', target: 'prod', canary: true } }] },
      { kinds: knownKinds(['deploy']) },
    );
    expect(plan.steps[0]?.action).toEqual({ kind: 'deploy', target: 'prod', canary: true });
  });

  it('allows a template that reads a transitive ancestor', () => {
    const plan = parsePlan({
      steps: [
        note('a'),
        note('b', ['a']),
        {
          id: 'c',
          dependsOn: ['b'],
          action: { kind: 'research', query: 'from a: {{steps.a.output.items.0}}' },
        },
      ],
    });
    expect(plan.steps.map((step) => step.id)).toEqual(['a', 'b', 'c']);
  });

  it('allows a shell binary listed by name or by absolute path', () => {
    const context = { shellAllow: ['ls', '/usr/bin/git'] };
    const plan = parsePlan(
      {
        steps: [
          { id: 'list', action: { kind: 'shell', command: 'ls' } },
          { id: 'status', action: { kind: 'shell', command: 'git', args: ['status'] } },
          { id: 'log', action: { kind: 'shell', command: '/usr/bin/git', args: ['log'] } },
        ],
      },
      context,
    );
    expect(plan.steps).toHaveLength(3);
  });

  it('accepts "console" as the channel of a notify step without one when it is configured', () => {
    const plan = parsePlan(
      { steps: [{ id: 'tell', action: { kind: 'notify', message: 'done' } }] },
      { channels: ['console'] },
    );
    expect(plan.steps[0]?.action).toEqual({ kind: 'notify', message: 'done' });
  });

  it('normalises a valid plan: title, tier by kind, dependsOn and retry defaults', () => {
    const plan = parsePlan(
      {
        goal: 'ship it',
        steps: [
          { id: 'seed', action: { kind: 'note', output: { n: 1 } } },
          {
            id: 'ask',
            title: 'Ask the model',
            dependsOn: ['seed'],
            action: { kind: 'research', query: 'why?' },
          },
          { id: 'judge', action: { kind: 'review', artifact: 'x' } },
          { id: 'poll', action: { kind: 'fanout', prompt: 'p', targets: ['gpt-4o'] } },
          { id: 'build', action: { kind: 'shell', command: 'make' }, retry: { maxAttempts: 3 } },
          { id: 'code', action: { kind: 'implement', agent: 'codex', spec: 's' } },
          { id: 'tell', action: { kind: 'notify', message: 'm' } },
          { id: 'ship', action: { kind: 'deploy' } },
          { id: 'wipe', action: { kind: 'shell', command: 'rm' }, tier: 'destructive' },
        ],
      },
      { kinds: knownKinds(['deploy']) },
    );
    expect(plan.goal).toBe('ship it');
    expect(plan.steps.map((step) => [step.id, step.title, step.tier])).toEqual([
      ['seed', 'seed', 'read'],
      ['ask', 'Ask the model', 'read'],
      ['judge', 'judge', 'read'],
      ['poll', 'poll', 'read'],
      ['build', 'build', 'execute'],
      ['code', 'code', 'write'],
      ['tell', 'tell', 'write'],
      ['ship', 'ship', 'execute'],
      ['wipe', 'wipe', 'destructive'],
    ]);
    expect(plan.steps.map((step) => step.dependsOn)).toEqual([[], ['seed'], [], [], [], [], [], [], []]);
    expect(plan.steps[4]?.retry).toEqual({ maxAttempts: 3, backoffMs: 1000, factor: 2 });
    expect(plan.steps[0]?.retry).toBeUndefined();
  });

  it('turns plain-string fanout targets into { model } and keeps object targets', () => {
    const plan = parsePlan({
      steps: [
        {
          id: 'poll',
          action: {
            kind: 'fanout',
            prompt: 'Name a colour',
            targets: ['gpt-4o', { model: 'llama3', baseURL: 'http://localhost:11434/v1', label: 'local' }],
            reduce: { mode: 'compare', target: 'gpt-4o-mini' },
          },
        },
      ],
    });
    expect(plan.steps[0]?.action).toEqual({
      kind: 'fanout',
      prompt: 'Name a colour',
      targets: [
        { model: 'gpt-4o' },
        { model: 'llama3', baseURL: 'http://localhost:11434/v1', label: 'local' },
      ],
      reduce: { mode: 'compare', target: { model: 'gpt-4o-mini' } },
    });
  });

  it('leaves double braces that do not open {{steps. alone', () => {
    const action = {
      kind: 'shell',
      command: 'echo',
      args: ['{{ not a template }}', '{{user.name}}', '{{step.a.output}}'],
    };
    const plan = parsePlan({ steps: [{ id: 'say', action }] });
    expect(plan.steps[0]?.action).toEqual(action);
  });

  it('does not modify its input', () => {
    const input = {
      steps: [note('a'), { id: 'b', dependsOn: ['a'], action: { kind: 'shell', command: 'ls' } }],
    };
    const before = structuredClone(input);
    parsePlan(input);
    expect(input).toEqual(before);
  });
});
