/**
 * Input limits (createSupervisor({ limits })): each has a documented default, each can be
 * raised or lowered, and going over one is LIMIT_EXCEEDED naming the limit and the option
 * that raises it. Custom action outputs are JSON or the step fails (nothing is coerced), a
 * thrown non-Error keeps its content, and step ids that are Object.prototype names are refused.
 */
import { describe, expect, it } from 'vitest';
import { type TaskvisorError, isTaskvisorError, type TaskvisorErrorCode } from '../../src/errors.js';
import { DEFAULT_LIMITS } from '../../src/model/limits.js';
import type { PlanInput } from '../../src/model/plan.js';
import type { SupervisorOptions } from '../../src/supervisor.js';
import { useSupervisorHarness } from '../support/supervisor-harness.js';
import { nested } from '../support/nested.js';

const harness = useSupervisorHarness();

const note = (output: unknown = 1) => ({ kind: 'note', output });
const onePlan: PlanInput = { steps: [{ id: 'a', action: note() }] };
const steps = (count: number): PlanInput => ({
  steps: Array.from({ length: count }, (_, index) => ({ id: `s${index}`, action: note(index) })),
});

async function refusal(call: () => Promise<unknown>, code: TaskvisorErrorCode): Promise<TaskvisorError> {
  const error = await call().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isTaskvisorError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  return error as TaskvisorError;
}

/** The message names the limit and the option that raises it. */
function expectNamesLimit(error: TaskvisorError, limit: string): void {
  expect(error.message).toContain(`over limits.${limit}`);
  expect(error.message).toContain(`createSupervisor({ limits: { ${limit}: <more> } })`);
  expect(error.details).toMatchObject({ limit });
}

const open = (options: SupervisorOptions = {}) => harness.open({ db: harness.dbPath(), ...options });

describe('limits', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_LIMITS).toEqual({
      goalChars: 10_000,
      metadataBytes: 65_536,
      planSteps: 10_000,
      stepBytes: 1_048_576,
      outputBytes: 4_194_304,
      jsonDepth: 100,
    });
  });

  it('limits the goal (its own, or the plan’s), and limits.goalChars raises it', async () => {
    const sv = await open();
    const long = 'g'.repeat(10_001);
    expectNamesLimit(
      await refusal(() => sv.start({ goal: long, plan: onePlan }), 'LIMIT_EXCEEDED'),
      'goalChars',
    );
    await refusal(() => sv.start({ plan: { ...onePlan, goal: long } }), 'LIMIT_EXCEEDED');
    expect(await sv.list()).toEqual([]);

    const roomy = await open({ limits: { goalChars: 20_000 } });
    expect((await (await roomy.start({ goal: long, plan: onePlan })).done).phase).toBe('completed');
  });

  it('limits the metadata as JSON, and limits.metadataBytes raises it', async () => {
    const metadata = { text: 'x'.repeat(70_000) };
    const sv = await open();
    const error = await refusal(() => sv.start({ goal: 'g', plan: onePlan, metadata }), 'LIMIT_EXCEEDED');
    expectNamesLimit(error, 'metadataBytes');
    expect(error.message).toContain('start: options.metadata is at least');

    const roomy = await open({ limits: { metadataBytes: 100_000 } });
    const run = await roomy.start({ goal: 'g', plan: onePlan, metadata });
    await run.done;
    expect((await roomy.get(run.id))?.metadata).toEqual(metadata);
  });

  it('limits the steps of a plan, and limits.planSteps changes it', async () => {
    const sv = await open();
    const error = await refusal(() => sv.start({ goal: 'g', plan: steps(10_001) }), 'LIMIT_EXCEEDED');
    expectNamesLimit(error, 'planSteps');
    expect(error.message).toContain('The plan has 10,001 steps');

    const small = await open({ limits: { planSteps: 3 } });
    await refusal(() => small.start({ goal: 'g', plan: steps(4) }), 'LIMIT_EXCEEDED');
    expect((await (await small.start({ goal: 'g', plan: steps(3) })).done).phase).toBe('completed');
  });

  it('limits one step as JSON, and limits.stepBytes changes it', async () => {
    const small = await open({ limits: { stepBytes: 200 } });
    const error = await refusal(
      () => small.start({ goal: 'g', plan: { steps: [{ id: 'big', action: note('x'.repeat(300)) }] } }),
      'LIMIT_EXCEEDED',
    );
    expectNamesLimit(error, 'stepBytes');
    expect(error.message).toContain('steps[0] ("big")');
  });

  it('limits nesting in metadata and plans, and limits.jsonDepth (up to 500) changes it', async () => {
    const sv = await open();
    const error = await refusal(
      () => sv.start({ goal: 'g', plan: onePlan, metadata: { deep: nested(100) } as never }),
      'LIMIT_EXCEEDED',
    );
    expectNamesLimit(error, 'jsonDepth');
    expect(error.message).toContain('is nested 101 levels deep');
    await refusal(
      () => sv.start({ goal: 'g', plan: { steps: [{ id: 'a', action: note(nested(100)) }] } }),
      'LIMIT_EXCEEDED',
    );

    const deeper = await open({ limits: { jsonDepth: 200 } });
    const run = await deeper.start({ goal: 'g', plan: { steps: [{ id: 'a', action: note(nested(150)) }] } });
    expect((await run.done).phase).toBe('completed');
    await expect(open({ limits: { jsonDepth: 501 } })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('limits.jsonDepth'),
    });
    await expect(open({ limits: { goalChar: 5 } as never })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('goalChar'),
    });
  });

  it('fails a step whose custom action returns more than limits.outputBytes, without retrying it', async () => {
    let calls = 0;
    const actions = {
      dump: async () => {
        calls += 1;
        return { output: 'x'.repeat(5_000_000) };
      },
    };
    const plan: PlanInput = {
      steps: [{ id: 'dump', retry: { maxAttempts: 3, backoffMs: 0 }, action: { kind: 'dump' } }],
    };
    const sv = await open({ actions });
    const run = await sv.start({ goal: 'g', plan });
    const result = await run.done;
    expect(result.phase).toBe('failed');
    expect(calls).toBe(1);
    const step = run.view().steps[0]!;
    expect(step.error).toMatch(
      /^output is at least 5,000,002 bytes of JSON, over limits\.outputBytes \(4,194,304 bytes/,
    );
    expect(step.error).toContain('createSupervisor({ limits: { outputBytes: <more> } })');
    expect(result.error).toContain('step dump failed: output is at least');

    const roomy = await open({ actions, limits: { outputBytes: 8 * 1024 * 1024 } });
    expect((await (await roomy.start({ goal: 'g', plan })).done).outputs.dump).toHaveLength(5_000_000);
  });
});

describe('custom action outputs', () => {
  const cyclic: Record<string, unknown> = { id: 1 };
  cyclic.self = cyclic;
  const outputs: ReadonlyArray<readonly [string, unknown, string]> = [
    ['NaN', { score: NaN }, 'output.score is NaN'],
    ['Infinity', [1, Infinity], 'output[1] is Infinity'],
    ['a Map', { index: new Map([['a', 1]]) }, 'output.index is a Map'],
    ['a Set', { tags: new Set(['a']) }, 'output.tags is a Set'],
    ['a BigInt', { total: 10n }, 'output.total is a BigInt'],
    ['a function', { next: () => 1 }, 'output.next is a function'],
    ['undefined in an array', { rows: [1, undefined] }, 'output.rows[1] is undefined in an array'],
    ['a circular structure', cyclic, 'output.self refers back to output'],
  ];
  for (const [name, output, message] of outputs) {
    it(`fails the step, naming the path, when the output holds ${name}`, async () => {
      let calls = 0;
      const sv = await open({
        actions: {
          produce: async () => {
            calls += 1;
            return { output };
          },
        },
      });
      const run = await sv.start({
        goal: 'g',
        plan: { steps: [{ id: 'p', retry: { maxAttempts: 3, backoffMs: 0 }, action: { kind: 'produce' } }] },
      });
      expect((await run.done).phase).toBe('failed');
      expect(run.view().steps[0]?.error).toContain(message);
      // Not JSON is not a passing glitch: the step is not retried.
      expect(calls).toBe(1);
    });
  }

  it('keeps a thrown plain object as JSON in the step error', async () => {
    const sv = await open({
      actions: {
        quota: async () => {
          throw { reason: 'quota', detail: { left: 0, resetsAt: '2026-01-01' } };
        },
      },
    });
    const run = await sv.start({ goal: 'g', plan: { steps: [{ id: 'q', action: { kind: 'quota' } }] } });
    const result = await run.done;
    expect(run.view().steps[0]?.error).toBe(
      'threw a non-Error value: {"reason":"quota","detail":{"left":0,"resetsAt":"2026-01-01"}}',
    );
    expect(result.error).toContain('"reason":"quota"');
    const attempts = (await sv.trace(run.id)).attempts;
    expect(attempts[0]?.error?.message).toContain('"detail":{"left":0');
  });

  it('bounds what it keeps of a huge thrown value', async () => {
    const sv = await open({
      actions: {
        huge: async () => {
          throw { rows: Array.from({ length: 10_000 }, (_, index) => ({ index })) };
        },
      },
    });
    const run = await sv.start({ goal: 'g', plan: { steps: [{ id: 'h', action: { kind: 'huge' } }] } });
    await run.done;
    const error = run.view().steps[0]?.error ?? '';
    expect(error).toMatch(/^threw a non-Error value: \{"rows":\[\{"index":0\},/);
    expect(error.length).toBeLessThanOrEqual(2_100);
    expect(error.endsWith('…')).toBe(true);
  });

  it('gives the step error its code and retryable as fields, in the view and in the events', async () => {
    const sv = await open({
      actions: {
        refuse: async () => {
          throw Object.assign(new Error('bad request'), { retryable: false });
        },
      },
    });
    const run = await sv.start({
      goal: 'g',
      plan: { steps: [{ id: 'r', retry: { maxAttempts: 3, backoffMs: 0 }, action: { kind: 'refuse' } }] },
    });
    await run.done;
    expect(run.view().steps[0]).toMatchObject({
      state: 'failed',
      attempt: 1,
      error: 'bad request',
      errorCode: 'ACTION_FAILED',
      retryable: false,
    });
    const failed = (await sv.trace(run.id)).events.find(
      (event) => event.type === 'step.transition' && event.to === 'failed',
    );
    expect(failed).toMatchObject({
      error: { message: 'bad request', code: 'ACTION_FAILED', retryable: false },
    });
  });
});

describe('step ids that are Object.prototype names', () => {
  for (const id of [
    '__proto__',
    'constructor',
    'hasOwnProperty',
    'toString',
    'valueOf',
    '__defineGetter__',
  ]) {
    it(`refuses the step id "${id}" with INVALID_PLAN naming it`, async () => {
      const sv = await open();
      const error = await refusal(
        () => sv.start({ goal: 'g', plan: { steps: [{ id, action: note() }] } }),
        'INVALID_PLAN',
      );
      expect(error.message).toContain(`step id "${id}" is reserved`);
      expect(error.message).toContain('rename the step');
      await refusal(
        () => sv.start({ goal: 'g', plan: { steps: [{ id: 'a', dependsOn: [id], action: note() }] } }),
        'INVALID_PLAN',
      );
      expect(await sv.list()).toEqual([]);
    });
  }

  it('keeps result.outputs a plain record, and templates read only own keys of an output', async () => {
    const sv = await open({ actions: { echo: async (input) => ({ output: input.text }) } });
    const run = await sv.start({
      goal: 'g',
      plan: {
        steps: [
          { id: 'data', action: note({ name: 'x' }) },
          {
            id: 'read',
            dependsOn: ['data'],
            action: {
              kind: 'echo',
              text: '[{{steps.data.output.name}}|{{steps.data.output.constructor}}|{{steps.data.output.__proto__}}|{{steps.data.output.toString}}]',
            },
          },
        ],
      },
    });
    const result = await run.done;
    expect(result.outputs).toEqual({ data: { name: 'x' }, read: '[x|||]' });
    expect(Object.getPrototypeOf(result.outputs)).toBe(Object.prototype);
    expect(Object.keys(result.outputs)).toEqual(['data', 'read']);
  });
});
