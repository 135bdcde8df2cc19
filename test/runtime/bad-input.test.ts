/**
 * No call can break a supervisor: every public method, called with every class of bad
 * input a careless or hostile caller might pass (wrong types, nesting 1,500 levels deep,
 * circular structures, functions, BigInts, NaN and "NaN" for numbers, unknown fields, null,
 * values over the limits), is refused with a TaskvisorError whose code and message name the
 * argument — and writes nothing. Then the same supervisor runs a plan to the end.
 */
import { describe, expect, it } from 'vitest';
import { isTaskvisorError, type TaskvisorErrorCode } from '../../src/errors.js';
import type { PlanInput } from '../../src/model/plan.js';
import type { Supervisor } from '../../src/supervisor.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { nested } from '../support/nested.js';

const harness = useSupervisorHarness();

const deep = nested(1_500);
const circular: Record<string, unknown> = { name: 'loop' };
circular.self = circular;
const fn = () => 'a function';
const big = 10n;

/** The classes of bad value tried in every argument that takes a string or an object. */
const classes: ReadonlyArray<readonly [string, unknown]> = [
  ['a number (123)', 123],
  ['nested 1,500 levels', deep],
  ['circular', circular],
  ['a function', fn],
  ['a BigInt', big],
  ['null', null],
];

interface Row {
  readonly method: string;
  readonly input: string;
  readonly call: (sv: Supervisor, runId: string) => unknown;
  /** The code of the refusal, or `ok` for a method that takes no arguments (extra ones are ignored). */
  readonly code: TaskvisorErrorCode | 'ok';
}

const rows: Row[] = [];

/** Every class of bad value in a string argument (an id, a text): INVALID_ARGUMENT. */
function idSlot(method: string, name: string, call: (sv: Supervisor, runId: string, bad: never) => unknown) {
  for (const [label, bad] of [...classes, ['an empty string', ''] as const]) {
    rows.push({
      method,
      input: `${name}: ${label}`,
      call: (sv, runId) => call(sv, runId, bad as never),
      code: 'INVALID_ARGUMENT',
    });
  }
}

/**
 * Every class of bad value as an options object: a non-object is INVALID_ARGUMENT; an object
 * with fields the method does not take (the nested and the circular ones) is INVALID_OPTION.
 */
function optionsSlot(
  method: string,
  name: string,
  call: (sv: Supervisor, runId: string, bad: never) => unknown,
) {
  for (const [label, bad] of [...classes, ['a string', 'x'] as const]) {
    const code = typeof bad === 'object' && bad !== null ? 'INVALID_OPTION' : 'INVALID_ARGUMENT';
    rows.push({
      method,
      input: `${name}: ${label}`,
      call: (sv, runId) => call(sv, runId, bad as never),
      code,
    });
  }
}

function row(method: string, input: string, code: Row['code'], call: Row['call']) {
  rows.push({ method, input, call, code });
}

const note = { kind: 'note', output: 1 };
const plan = (steps: unknown[]): PlanInput => ({ steps }) as PlanInput;
const many = (count: number) =>
  Array.from({ length: count }, (_, index) => ({ id: `s${index}`, action: note }));

// start
optionsSlot('start', 'options', (sv, _, bad) => sv.start(bad));
for (const [label, bad] of classes) {
  row('start', `options.goal: ${label}`, 'INVALID_OPTION', (sv) =>
    sv.start({ goal: bad as string, plan: plan([{ id: 'a', action: note }]) }),
  );
}
row('start', 'options.goal: 10,001 characters', 'LIMIT_EXCEEDED', (sv) =>
  sv.start({ goal: 'g'.repeat(10_001), plan: plan([{ id: 'a', action: note }]) }),
);
row('start', 'options.gaol (unknown field)', 'INVALID_OPTION', (sv) => sv.start({ gaol: 'g' } as never));
const metadata: ReadonlyArray<readonly [string, unknown, TaskvisorErrorCode]> = [
  ['nested 1,500 levels', deep, 'LIMIT_EXCEEDED'],
  ['a field nested 1,500 levels', { ticket: deep }, 'LIMIT_EXCEEDED'],
  ['circular', circular, 'INVALID_OPTION'],
  ['a function field', { f: fn }, 'INVALID_OPTION'],
  ['a BigInt field', { n: big }, 'INVALID_OPTION'],
  ['NaN', { n: NaN }, 'INVALID_OPTION'],
  ['Infinity', { n: Infinity }, 'INVALID_OPTION'],
  ['a Map', { m: new Map([['a', 1]]) }, 'INVALID_OPTION'],
  ['undefined in an array', { list: [1, undefined] }, 'INVALID_OPTION'],
  ['a string', 'x', 'INVALID_OPTION'],
  ['an array', [1, 2], 'INVALID_OPTION'],
  ['70 KB', { text: 'x'.repeat(70_000) }, 'LIMIT_EXCEEDED'],
];
for (const [label, bad, code] of metadata) {
  row('start', `options.metadata: ${label}`, code, (sv) =>
    sv.start({ goal: 'g', plan: plan([{ id: 'a', action: note }]), metadata: bad as never }),
  );
}
const plans: ReadonlyArray<readonly [string, unknown, TaskvisorErrorCode]> = [
  ['nested 1,500 levels', deep, 'INVALID_PLAN'],
  [
    'an action input nested 1,500 levels',
    plan([{ id: 'a', action: { kind: 'echo', data: deep } }]),
    'LIMIT_EXCEEDED',
  ],
  ['a circular action input', plan([{ id: 'a', action: { kind: 'echo', data: circular } }]), 'INVALID_PLAN'],
  ['a function in an action', plan([{ id: 'a', action: { kind: 'echo', run: fn } }]), 'INVALID_PLAN'],
  ['a BigInt in an action', plan([{ id: 'a', action: { kind: 'echo', n: big } }]), 'INVALID_PLAN'],
  ['NaN as a note output', plan([{ id: 'a', action: { kind: 'note', output: NaN } }]), 'INVALID_PLAN'],
  ['"NaN" as timeoutMs', plan([{ id: 'a', timeoutMs: 'NaN', action: note }]), 'INVALID_PLAN'],
  ['a step id "__proto__"', plan([{ id: '__proto__', action: note }]), 'INVALID_PLAN'],
  ['a step id "constructor"', plan([{ id: 'constructor', action: note }]), 'INVALID_PLAN'],
  ['steps as a string', { steps: 'x' }, 'INVALID_PLAN'],
  ['10,001 steps', plan(many(10_001)), 'LIMIT_EXCEEDED'],
  [
    'a 2 MB step',
    plan([{ id: 'a', action: { kind: 'note', output: 'x'.repeat(2_000_000) } }]),
    'LIMIT_EXCEEDED',
  ],
];
for (const [label, bad, code] of plans) {
  row('start', `options.plan: ${label}`, code, (sv) => sv.start({ goal: 'g', plan: bad as never }));
}
const budgets: ReadonlyArray<readonly [string, unknown]> = [
  ['{ maxSteps: "NaN" }', { maxSteps: 'NaN' }],
  ['{ maxSteps: NaN }', { maxSteps: NaN }],
  ['{ maxCostUsd: Infinity }', { maxCostUsd: Infinity }],
  ['{ maxTokens: 10n }', { maxTokens: big }],
  ['nested 1,500 levels', deep],
  ['a string', 'x'],
];
for (const [label, bad] of budgets) {
  row('start', `options.budget: ${label}`, 'INVALID_OPTION', (sv) =>
    sv.start({ goal: 'g', plan: plan([{ id: 'a', action: note }]), budget: bad as never }),
  );
}
row('start', 'options.requireApproval: "yes"', 'INVALID_OPTION', (sv) =>
  sv.start({ goal: 'g', requireApproval: 'yes' as never }),
);

// fanout
optionsSlot('fanout', 'options', (sv, _, bad) => sv.fanout(bad));
const fanouts: ReadonlyArray<readonly [string, unknown]> = [
  ['prompt: 123', { prompt: 123, targets: ['m'] }],
  ['prompt: nested 1,500 levels', { prompt: deep, targets: ['m'] }],
  ['targets: a string', { prompt: 'p', targets: 'm' }],
  ['targets: []', { prompt: 'p', targets: [] }],
  ['targets: [a function]', { prompt: 'p', targets: [fn] }],
  ['targets: [nested 1,500 levels]', { prompt: 'p', targets: [deep] }],
  ['repeat: "NaN"', { prompt: 'p', targets: ['m'], repeat: 'NaN' }],
  ['repeat: NaN', { prompt: 'p', targets: ['m'], repeat: NaN }],
  ['repeat: 10n', { prompt: 'p', targets: ['m'], repeat: big }],
  ['reduce: circular', { prompt: 'p', targets: ['m'], reduce: circular }],
  ['metadata: circular', { prompt: 'p', targets: ['m'], metadata: circular }],
];
for (const [label, bad] of fanouts)
  row('fanout', `options.${label}`, 'INVALID_OPTION', (sv) => sv.fanout(bad as never));

// commands
idSlot('approvePlan', 'runId', (sv, _, bad) => sv.approvePlan(bad));
optionsSlot('approvePlan', 'options', (sv, runId, bad) => sv.approvePlan(runId, bad));
row('approvePlan', 'options.by: a function', 'INVALID_OPTION', (sv, runId) =>
  sv.approvePlan(runId, { by: fn as never }),
);
row('approvePlan', 'options.note: 10n', 'INVALID_OPTION', (sv, runId) =>
  sv.approvePlan(runId, { note: big as never }),
);

idSlot('rejectPlan', 'runId', (sv, _, bad) => sv.rejectPlan(bad, { reason: 'r' }));
optionsSlot('rejectPlan', 'options', (sv, runId, bad) => sv.rejectPlan(runId, bad));
row('rejectPlan', 'options without reason', 'INVALID_OPTION', (sv, runId) =>
  sv.rejectPlan(runId, {} as never),
);
row('rejectPlan', 'options.reason: nested 1,500 levels', 'INVALID_OPTION', (sv, runId) =>
  sv.rejectPlan(runId, { reason: deep as never }),
);

idSlot('confirmStep', 'runId', (sv, _, bad) => sv.confirmStep(bad, 'a', { approved: true }));
idSlot('confirmStep', 'stepId', (sv, runId, bad) => sv.confirmStep(runId, bad, { approved: true }));
optionsSlot('confirmStep', 'options', (sv, runId, bad) => sv.confirmStep(runId, 'a', bad));
row('confirmStep', 'options.approved: "NaN"', 'INVALID_OPTION', (sv, runId) =>
  sv.confirmStep(runId, 'a', { approved: 'NaN' as never }),
);
row('confirmStep', 'options.decision: "later"', 'INVALID_OPTION', (sv, runId) =>
  sv.confirmStep(runId, 'a', { approved: false, decision: 'later' as never }),
);

idSlot('answer', 'requestId', (sv, _, bad) => sv.answer(bad, { text: 't' }));
optionsSlot('answer', 'answer', (sv, _, bad) => sv.answer('req-1', bad));
row('answer', 'answer.text: 123', 'INVALID_OPTION', (sv) => sv.answer('req-1', { text: 123 as never }));
row('answer', 'answer.answers: { k: 1 }', 'INVALID_OPTION', (sv) =>
  sv.answer('req-1', { answers: { k: 1 } as never }),
);
row('answer', 'answer.answers: nested 1,500 levels', 'INVALID_OPTION', (sv) =>
  sv.answer('req-1', { answers: deep as never }),
);

idSlot('control', 'runId', (sv, _, bad) => sv.control(bad, 'a', 'cancel'));
idSlot('control', 'stepId', (sv, runId, bad) => sv.control(runId, bad, 'cancel'));
for (const [label, bad] of [...classes, ['"cancle"', 'cancle'] as const]) {
  row('control', `action: ${label}`, 'INVALID_ARGUMENT', (sv, runId) => sv.control(runId, 'a', bad as never));
}
optionsSlot('control', 'options', (sv, runId, bad) => sv.control(runId, 'a', 'cancel', bad));

idSlot('extendBudget', 'runId', (sv, _, bad) => sv.extendBudget(bad, { maxSteps: 3 }));
optionsSlot('extendBudget', 'budget', (sv, runId, bad) => sv.extendBudget(runId, bad));
for (const [label, bad] of budgets.slice(0, 4)) {
  row('extendBudget', `budget: ${label}`, 'INVALID_OPTION', (sv, runId) =>
    sv.extendBudget(runId, bad as never),
  );
}
optionsSlot('extendBudget', 'options', (sv, runId, bad) => sv.extendBudget(runId, { maxSteps: 3 }, bad));

idSlot('cancel', 'runId', (sv, _, bad) => sv.cancel(bad));
optionsSlot('cancel', 'options', (sv, runId, bad) => sv.cancel(runId, bad));
row('cancel', 'options.reason: 123', 'INVALID_OPTION', (sv, runId) =>
  sv.cancel(runId, { reason: 123 as never }),
);

// reads
idSlot('get', 'runId', (sv, _, bad) => sv.get(bad));
optionsSlot('list', 'filter', (sv, _, bad) => sv.list(bad));
for (const [label, bad] of [
  ['"x"', 'x'],
  ['"NaN"', 'NaN'],
  ['NaN', NaN],
  ['0', 0],
  ['1001', 1001],
  ['10n', big],
] as const) {
  row('list', `filter.limit: ${label}`, 'INVALID_OPTION', (sv) => sv.list({ limit: bad as never }));
}
row('list', 'filter.phase: "done"', 'INVALID_OPTION', (sv) => sv.list({ phase: 'done' as never }));
row('list', 'filter.before: 123', 'INVALID_OPTION', (sv) => sv.list({ before: 123 as never }));
row('list', 'filter.before: "nope" (no such run)', 'UNKNOWN_RUN', (sv) => sv.list({ before: 'nope' }));
for (const [label, bad] of classes)
  row('pending', `an argument: ${label}`, 'ok', (sv) => (sv.pending as (x: unknown) => unknown)(bad));
idSlot('trace', 'runId', (sv, _, bad) => sv.trace(bad));
row('trace', 'runId: "nope" (no such run)', 'UNKNOWN_RUN', (sv) => sv.trace('nope'));
idSlot('monitor', 'runId', (sv, _, bad) => sv.monitor(bad));
optionsSlot('monitor', 'options', (sv, runId, bad) => sv.monitor(runId, bad));
for (const [label, bad] of [
  ['"NaN"', 'NaN'],
  ['NaN', NaN],
  ['-1', -1],
] as const) {
  row('monitor', `options.events: ${label}`, 'INVALID_OPTION', (sv, runId) =>
    sv.monitor(runId, { events: bad as never }),
  );
}
idSlot('memory.search', 'text', (sv, _, bad) =>
  bad === '' ? sv.memory.search(123 as never) : sv.memory.search(bad),
);
optionsSlot('memory.search', 'options', (sv, _, bad) => sv.memory.search('deploy', bad));
for (const [label, bad] of [
  ['"NaN"', 'NaN'],
  ['0', 0],
  ['NaN', NaN],
] as const) {
  row('memory.search', `options.limit: ${label}`, 'INVALID_OPTION', (sv) =>
    sv.memory.search('deploy', { limit: bad as never }),
  );
}
for (const [label, bad] of classes) {
  row('verifyAudit', `an argument: ${label}`, 'ok', (sv) => (sv.verifyAudit as (x: unknown) => unknown)(bad));
  row('health', `an argument: ${label}`, 'ok', (sv) => (sv.health as (x: unknown) => unknown)(bad));
}
optionsSlot('events', 'options', (sv, _, bad) => sv.events(bad));
for (const [label, bad] of [
  ['"x"', 'x'],
  ['"NaN"', 'NaN'],
  ['NaN', NaN],
  ['-1', -1],
  ['10n', big],
] as const) {
  row('events', `options.after: ${label}`, 'INVALID_OPTION', (sv) => sv.events({ after: bad as never }));
}
row('events', 'options.runId: 123', 'INVALID_OPTION', (sv) => sv.events({ runId: 123 as never }));
for (const [label, bad] of [...classes, ['an empty string', ''] as const]) {
  row('resume', `runId: ${label}`, 'INVALID_ARGUMENT', (sv) => sv.resume(bad as never));
}

// retention and closing (close refuses bad options before it closes anything)
optionsSlot('prune', 'options', (sv, _, bad) => sv.prune(bad));
row('prune', 'options.olderThan: "soon"', 'INVALID_OPTION', (sv) => sv.prune({ olderThan: 'soon' }));
row('prune', 'options.olderThan: -1', 'INVALID_OPTION', (sv) => sv.prune({ olderThan: -1 }));
row('prune', 'options.phases: ["running"]', 'INVALID_OPTION', (sv) =>
  sv.prune({ olderThan: '30d', phases: ['running'] }),
);
optionsSlot('close', 'options', (sv, _, bad) => sv.close(bad));
row('close', 'options.graceMs: NaN', 'INVALID_OPTION', (sv) => sv.close({ graceMs: Number.NaN }));

/** What a call did: returned (synchronously or not), or threw this. */
async function outcome(call: () => unknown): Promise<{ error?: unknown }> {
  try {
    await call();
    return {};
  } catch (error) {
    return { error };
  }
}

describe('a supervisor no call can break', () => {
  it('refuses every bad input of every method with a coded error that writes nothing, then runs a plan to the end', async () => {
    const sv = await harness.open({
      db: harness.dbPath(),
      ids: sequentialIds(),
      actions: {
        echo: async (input) => ({ output: input }),
        shout: async (input) => ({ output: String(input.text).toUpperCase() }),
      },
    });
    const waiting = await sv.start({
      goal: 'wait',
      requireApproval: true,
      plan: plan([{ id: 'a', action: note }]),
    });
    const before = { runs: await sv.list(), events: (await sv.trace(waiting.id)).events.length };

    const table: string[] = [];
    for (const { method, input, call, code } of rows) {
      const { error } = await outcome(() => call(sv, waiting.id));
      const got = error === undefined ? 'ok' : isTaskvisorError(error) ? error.code : `${String(error)}`;
      table.push(`| ${method} | ${input} | ${got} |`);
      expect(got, `${method}(${input}): ${error instanceof Error ? error.message : ''}`).toBe(code);
      if (isTaskvisorError(error) && code !== 'UNKNOWN_RUN') {
        // The message names the argument (or the limit) and says what was wrong.
        expect(error.message, `${method}(${input})`).toMatch(/^(\w+(\.\w+)?: |Invalid plan: |The plan has )/);
        expect(error.message.length, `${method}(${input})`).toBeLessThan(700);
      }
    }
    console.log(
      `bad-input table (${rows.length} calls)\n| method | input | code |\n|---|---|---|\n${table.join('\n')}`,
    );

    // Nothing was written.
    expect(await sv.list()).toEqual(before.runs);
    expect((await sv.trace(waiting.id)).events).toHaveLength(before.events);

    // The same supervisor goes on: the waiting run and a new one complete, the audit verifies.
    await sv.approvePlan(waiting.id, { by: 'ann' });
    const run = await sv.start({
      goal: 'Shout a greeting',
      metadata: { ticket: 'OPS-1' },
      plan: plan([
        { id: 'greet', action: { kind: 'note', output: 'hello' } },
        { id: 'loud', dependsOn: ['greet'], action: { kind: 'shout', text: '{{steps.greet.output}}' } },
      ]),
    });
    expect(await run.done).toMatchObject({ phase: 'completed', outputs: { greet: 'hello', loud: 'HELLO' } });
    expect((await waiting.done).phase).toBe('completed');
    expect(await sv.verifyAudit()).toMatchObject({ ok: true });
    expect((await sv.list()).map((view) => view.phase)).toEqual(['completed', 'completed']);
  }, 60_000);
});
