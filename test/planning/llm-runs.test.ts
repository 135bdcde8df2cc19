/**
 * Runs planned, repaired and paid for by a model: the real `openai` client speaking HTTP to
 * a local OpenAI-compatible server, a real SQLite file, the real supervisor.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { TaskvisorEvent } from '../../src/model/events.js';
import { createSupervisor, type Supervisor, type SupervisorOptions } from '../../src/supervisor.js';
import { type OpenAiServer, type ScriptedReply, startOpenAiServer } from '../support/openai-server.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

const harness = useSupervisorHarness();
let server: OpenAiServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

const prices = { 'plan-model': { inputPer1M: 2, outputPer1M: 8 } };

async function open(options: Partial<SupervisorOptions> = {}): Promise<Supervisor> {
  server = await startOpenAiServer({ models: ['plan-model'] });
  const { llm, ...rest } = options;
  return harness.open({
    db: harness.dbPath(),
    llm: { apiKey: 'test', model: 'plan-model', maxRetries: 0, ...llm, baseURL: server!.baseURL },
    prices,
    ids: sequentialIds(),
    ...rest,
  });
}

const reply = (value: unknown, usage = { prompt_tokens: 100, completion_tokens: 40 }): ScriptedReply => ({
  text: typeof value === 'string' ? value : JSON.stringify(value),
  usage,
});

const researchPlan = {
  steps: [
    {
      id: 'facts',
      title: 'Collect facts',
      action: { kind: 'research', query: 'List three facts about SQLite' },
    },
    {
      id: 'review',
      title: 'Review the facts',
      dependsOn: ['facts'],
      action: { kind: 'review', artifact: '{{steps.facts.output}}', criteria: 'accuracy' },
    },
  ],
};

/** Two research steps under a token limit the second one's reservation does not fit. */
const twoQuestions = {
  goal: 'Two questions',
  budget: { maxTokens: 250 },
  plan: {
    steps: [
      { id: 'q1', action: { kind: 'research', query: 'first' } },
      { id: 'q2', dependsOn: ['q1'], action: { kind: 'research', query: 'second' } },
    ],
  },
};

function eventsOf(sv: Supervisor, runId: string): Promise<TaskvisorEvent[]> {
  return sv.trace(runId).then((trace) => trace.events);
}

function phases(events: TaskvisorEvent[]): string[] {
  return events.flatMap((event) => (event.type === 'run.transition' ? [event.to] : []));
}

describe('planning with a model', () => {
  it('plans a goal, waits for approval with a readable summary, then runs it to completed', async () => {
    const sv = await open();
    server!.script(
      reply(researchPlan),
      reply('1. SQLite is serverless. 2. It is a single file. 3. It uses WAL.'),
      reply('Verdict: pass\n- accuracy: all three are right'),
    );
    const run = await sv.start({ goal: 'Tell me about SQLite' });
    await until(async () => (await sv.get(run.id))?.phase === 'awaitingApproval');

    const { approvals } = await sv.pending();
    expect(approvals).toHaveLength(1);
    expect(approvals[0]!.kind).toBe('plan');
    expect(approvals[0]!.summary).toBe(
      [
        'Plan: Tell me about SQLite (2 steps)',
        '  1. facts: Collect facts [research]',
        '       research: List three facts about SQLite',
        '  2. review: Review the facts [review] after 1',
        '       review {{steps.facts.output}} against: accuracy',
      ].join('\n'),
    );
    // The planning call asked for structured output with the plan's JSON Schema.
    const planning = server!.chatRequests[0]!.body;
    expect(planning['response_format']).toMatchObject({ type: 'json_schema' });
    const system = (planning['messages'] as Array<{ content: string }>)[0]!.content;
    expect(system).toContain('research { query, model? }');

    await sv.approvePlan(run.id, { by: 'ann' });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs['review']).toBe('Verdict: pass\n- accuracy: all three are right');
    const events = await eventsOf(sv, run.id);
    expect(phases(events)).toEqual(['planning', 'awaitingApproval', 'running', 'completed']);
    // The review saw the research output, and recorded what it reviewed.
    const reviewCall = server!.chatRequests[2]!.body['messages'] as Array<{ role: string; content: string }>;
    expect(reviewCall[1]!.content).toContain('SQLite is serverless');
    expect(reviewCall[0]!.content).toContain('You see only the artifact text');
    const trace = await sv.trace(run.id);
    expect(trace.artifacts).toEqual([
      expect.objectContaining({
        stepId: 'review',
        kind: 'review',
        body: {
          text: '1. SQLite is serverless. 2. It is a single file. 3. It uses WAL.',
          criteria: ['accuracy'],
        },
      }),
    ]);
  });

  it('repairs an invalid first plan with exactly one call that quotes the error', async () => {
    const sv = await open();
    server!.script(
      reply({ steps: [{ id: 'a', title: 'A', dependsOn: ['ghost'], action: { kind: 'note', output: 1 } }] }),
      reply(
        'Here is the corrected plan:\n```json\n{"steps":[{"id":"a","title":"A","action":{"kind":"note","output":1}}]}\n```',
      ),
    );
    const run = await sv.start({ goal: 'Do A', requireApproval: false });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(server!.chatRequests).toHaveLength(2);
    const repair = server!.chatRequests[1]!.body['messages'] as Array<{ role: string; content: string }>;
    expect(repair.at(-1)!.content).toMatch(/That answer cannot be used: .*"ghost"/);
  });

  it('fails the run when the repaired plan is still invalid, naming the error', async () => {
    const sv = await open();
    const bad = reply({ steps: [{ id: 'a', title: 'A', action: { kind: 'teleport' } }] });
    server!.script(bad, bad);
    const run = await sv.start({ goal: 'Do A' });
    const result = await run.done;
    expect(result.phase).toBe('failed');
    expect((await sv.get(run.id))!.reason).toMatch(
      /planning failed: .*still invalid after one repair.*teleport/,
    );
    expect(server!.chatRequests).toHaveLength(2);
  });

  it('recalls past runs like the goal into the planning prompt', async () => {
    const sv = await open();
    const past = await sv.start({
      goal: 'Benchmark SQLite WAL checkpoints',
      plan: { steps: [{ id: 'bench', action: { kind: 'note', output: 'checkpoint every 1000 pages' } }] },
    });
    await past.done;
    server!.script(reply({ steps: [{ id: 'a', title: 'A', action: { kind: 'note', output: 1 } }] }));
    const run = await sv.start({ goal: 'Tune SQLite WAL checkpoints', requireApproval: false });
    await run.done;
    const prompt = (server!.chatRequests[0]!.body['messages'] as Array<{ content: string }>)[1]!.content;
    expect(prompt).toContain('What happened in similar past runs');
    expect(prompt).toContain('Benchmark SQLite WAL checkpoints');
  });

  it('rejectPlan ends the run cancelled with the reason recorded', async () => {
    const sv = await open();
    server!.script(reply(researchPlan));
    const run = await sv.start({ goal: 'Tell me about SQLite' });
    await until(async () => (await sv.get(run.id))?.phase === 'awaitingApproval');
    await sv.rejectPlan(run.id, { by: 'ann', reason: 'too vague' });
    const result = await run.done;
    expect(result.phase).toBe('cancelled');
    expect((await sv.get(run.id))!.reason).toBe('plan rejected: too vague');
    const resolved = (await eventsOf(sv, run.id)).find((event) => event.type === 'approval.resolved');
    expect(resolved).toMatchObject({ approved: false, decision: 'reject', by: 'ann', reason: 'too vague' });
  });

  it('falls back to JSON in the text for a server that refuses json_schema', async () => {
    const sv = await open();
    server!.script(
      {
        status: 400,
        error: { message: "response_format 'json_schema' is not supported", type: 'invalid_request_error' },
      },
      {
        status: 400,
        error: { message: "response_format 'json_object' is not supported", type: 'invalid_request_error' },
      },
      reply('Sure. {"steps":[{"id":"a","title":"A","action":{"kind":"note","output":"ok"}}]} Done.'),
    );
    const run = await sv.start({ goal: 'Do A', requireApproval: false });
    expect((await run.done).phase).toBe('completed');
    const formats = server!.chatRequests.map(
      (request) => (request.body['response_format'] as { type?: string })?.type,
    );
    expect(formats).toEqual(['json_schema', 'json_object', undefined]);
  });
});

describe('replanning', () => {
  const failing = {
    flaky: async () => {
      throw Object.assign(new Error('the API answered 503'), { retryable: false });
    },
  };

  it('replaces a failed step; its dependents wait on the replacement and the run completes', async () => {
    const sv = await open({ actions: failing });
    const long = 'é'.repeat(2000);
    server!.script(
      reply({
        steps: [
          {
            id: 'fix',
            title: 'Fetch another way',
            replaces: 'fetch',
            action: { kind: 'note', output: 'fetched' },
          },
        ],
      }),
    );
    const run = await sv.start({
      goal: 'Fetch and report',
      plan: {
        steps: [
          { id: 'seed', action: { kind: 'note', output: long } },
          { id: 'fetch', dependsOn: ['seed'], action: { kind: 'flaky' } },
          {
            id: 'report',
            dependsOn: ['fetch'],
            action: { kind: 'note', output: 'report of {{steps.fetch.output}}' },
          },
        ],
      },
    });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs['report']).toBe('report of fetched');
    const events = await eventsOf(sv, run.id);
    expect(phases(events)).toEqual(['running', 'replanning', 'running', 'completed']);
    const applied = events.find((event) => event.type === 'replan.applied');
    expect(applied).toMatchObject({ attempt: 1, added: ['fix'], replaced: [{ failed: 'fetch', by: 'fix' }] });
    // The replanner saw the goal, the capped output, the failed step and its error.
    const brief = (server!.chatRequests[0]!.body['messages'] as Array<{ content: string }>)[1]!.content;
    expect(brief).toContain('Goal: Fetch and report');
    expect(brief).toContain(`${'é'.repeat(1500)}… [truncated: 500 more characters]`);
    expect(brief).not.toContain('é'.repeat(1501));
    expect(brief).toMatch(/fetch \(fetch\) action: \{"kind":"flaky"\}\n {2}error: the API answered 503/);
  });

  it('with approveReplans, shows the proposed steps for approval before splicing them in', async () => {
    const sv = await open({ actions: failing, approveReplans: true });
    server!.script(
      reply({
        steps: [
          {
            id: 'fix',
            title: 'Fetch another way',
            replaces: 'fetch',
            action: { kind: 'note', output: 'ok' },
          },
        ],
      }),
    );
    const run = await sv.start({
      goal: 'Fetch and report',
      plan: {
        steps: [
          { id: 'fetch', action: { kind: 'flaky' } },
          {
            id: 'report',
            dependsOn: ['fetch'],
            action: { kind: 'note', output: 'got {{steps.fetch.output}}' },
          },
        ],
      },
    });
    await until(async () => (await sv.get(run.id))?.phase === 'awaitingApproval');
    const [approval] = (await sv.pending()).approvals;
    const fix = {
      id: 'fix',
      title: 'Fetch another way',
      kind: 'note',
      tier: 'read',
      dependsOn: [],
      replaces: 'fetch',
      action: { kind: 'note', summary: 'note: ok', details: [{ label: 'output', value: 'ok' }] },
    };
    expect(approval!.proposal).toEqual([fix]);
    // The replan as a diff against the plan: what it adds, replaces and rewires.
    expect(approval!.diff).toEqual({
      added: [fix],
      replaced: [{ failed: 'fetch', by: 'fix' }],
      rewired: [{ stepId: 'report', from: 'fetch', to: 'fix' }],
    });
    expect(approval!.summary).toBe(
      [
        'Plan: Fetch and report',
        '  1. fetch [flaky]',
        '       flaky (no input)',
        '  2. report [note] after 1',
        '       note: got {{steps.fetch.output}}',
        'Replan proposes 1 step:',
        '+ 3. fix: Fetch another way [note] (replaces fetch)',
        '       note: ok',
        '~ fix replaces failed step fetch',
        '~ report will wait on fix instead of fetch',
      ].join('\n'),
    );
    await sv.approvePlan(run.id, { by: 'ann' });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs['report']).toBe('got ok');
    expect((await sv.get(run.id))!.proposal).toBeUndefined();
  });

  /** A hand-written plan whose shell-like step fails, replanned with a notify step among the new ones. */
  const notifyingReplan = reply({
    steps: [
      { id: 'fix', title: 'Fetch another way', replaces: 'fetch', action: { kind: 'note', output: 'ok' } },
      {
        id: 'tell',
        title: 'Tell the team',
        dependsOn: ['fix'],
        action: { kind: 'notify', channel: 'console', message: 'fetched: {{steps.fix.output}}' },
      },
    ],
  });
  const fetchAndReport = {
    goal: 'Fetch and report',
    plan: {
      steps: [
        { id: 'fetch', action: { kind: 'flaky' } },
        {
          id: 'report',
          dependsOn: ['fetch'],
          action: { kind: 'note', output: 'got {{steps.fetch.output}}' },
        },
      ],
    },
  };

  it('by default (approveReplans "auto") holds a replan that adds a step above the read tier for approval', async () => {
    const delivered: string[] = [];
    const sv = await open({
      actions: failing,
      channels: { console: async (message: { message: string }) => void delivered.push(message.message) },
    });
    server!.script(notifyingReplan);
    const run = await sv.start(fetchAndReport);
    await until(async () => (await sv.get(run.id))?.phase === 'awaitingApproval');
    const [approval] = (await sv.pending()).approvals;
    expect(approval!.proposal!.map((step) => [step.id, step.tier, step.action?.summary])).toEqual([
      ['fix', 'read', 'note: ok'],
      ['tell', 'write', 'notify console: fetched: {{steps.fix.output}}'],
    ]);
    expect(delivered).toEqual([]);
    await sv.approvePlan(run.id, { by: 'ann' });
    expect((await run.done).phase).toBe('completed');
    expect(delivered).toEqual(['fetched: ok']);
  });

  it('by default applies a replan of read-only steps at once', async () => {
    const sv = await open({ actions: failing });
    server!.script(
      reply({
        steps: [{ id: 'fix', title: 'Fix', replaces: 'fetch', action: { kind: 'note', output: 'ok' } }],
      }),
    );
    const run = await sv.start(fetchAndReport);
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(phases(await eventsOf(sv, run.id))).toEqual(['running', 'replanning', 'running', 'completed']);
  });

  it('with approveReplans: false set explicitly, applies even a replan with a notify step without asking', async () => {
    const delivered: string[] = [];
    const sv = await open({
      actions: failing,
      approveReplans: false,
      channels: { console: async (message: { message: string }) => void delivered.push(message.message) },
    });
    server!.script(notifyingReplan);
    const run = await sv.start(fetchAndReport);
    expect((await run.done).phase).toBe('completed');
    expect(phases(await eventsOf(sv, run.id))).toEqual(['running', 'replanning', 'running', 'completed']);
    expect(delivered).toEqual(['fetched: ok']);
  });

  it("refuses an approveReplans that is not 'auto', true or false, naming the value", async () => {
    await expect(
      createSupervisor({ db: ':memory:', approveReplans: 'sometimes' as unknown as boolean }),
    ).rejects.toThrow(/approveReplans: must be 'auto', true or false/);
  });

  it('without replans left, the dependents stay skipped and the run fails', async () => {
    const sv = await open({ actions: failing, maxReplans: 1 });
    const misfit = reply({
      steps: [{ id: 'x', title: 'X', dependsOn: ['nowhere'], action: { kind: 'note', output: 1 } }],
    });
    server!.script(misfit, misfit);
    const run = await sv.start({
      goal: 'Fetch and report',
      plan: {
        steps: [
          { id: 'fetch', action: { kind: 'flaky' } },
          { id: 'report', dependsOn: ['fetch'], action: { kind: 'note', output: 'r' } },
        ],
      },
    });
    const result = await run.done;
    expect(result.phase).toBe('failed');
    const view = (await sv.get(run.id))!;
    expect(view.steps.map((step) => [step.id, step.state])).toEqual([
      ['fetch', 'failed'],
      ['report', 'skipped'],
    ]);
    expect(view.replans).toBe(0);
    expect(server!.chatRequests).toHaveLength(2); // the replan and its one repair
  });
});

describe('usage and budgets', () => {
  it('records one usage event per call; totals equal the server usage times the prices', async () => {
    const sv = await open();
    server!.script(
      reply(researchPlan, { prompt_tokens: 1200, completion_tokens: 300 }),
      reply('facts', { prompt_tokens: 150, completion_tokens: 50 }),
      reply('Verdict: pass', { prompt_tokens: 90, completion_tokens: 10 }),
    );
    const run = await sv.start({ goal: 'Tell me about SQLite', requireApproval: false });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    const usage = (await eventsOf(sv, run.id)).filter((event) => event.type === 'usage.recorded');
    expect(usage.map((event) => [event.stepId ?? null, event.inputTokens, event.outputTokens])).toEqual([
      [null, 1200, 300],
      ['facts', 150, 50],
      ['review', 90, 10],
    ]);
    const expected = ((1200 + 150 + 90) * 2 + (300 + 50 + 10) * 8) / 1_000_000;
    expect(result.usage).toEqual({ inputTokens: 1440, outputTokens: 360, costUsd: expected });
    expect((await sv.trace(run.id)).usage.costUsd).toBe(expected);
  });

  it('pauses a run at its token limit with a pending approval; extendBudget continues it', async () => {
    const sv2 = await open({
      llm: { apiKey: 'test', model: 'plan-model', maxRetries: 0, maxOutputTokens: 100 },
    });
    server!.script(
      reply('one', { prompt_tokens: 60, completion_tokens: 30 }),
      reply('two', { prompt_tokens: 60, completion_tokens: 30 }),
    );
    const run = await sv2.start({
      ...twoQuestions,
    });
    await until(async () => (await sv2.get(run.id))?.phase === 'paused');
    // q1 reserved ~107 prompt + 100 output tokens (fits 250) and used 90; q2's reservation
    // would take the run to ~297 > 250, so it is not made.
    const view = (await sv2.get(run.id))!;
    expect(view.reason).toMatch(
      /^budget: maxTokens 250 reached \(90 used, the next model call may take up to \d+ more\)$/,
    );
    expect(server!.chatRequests).toHaveLength(1);
    const { approvals } = await sv2.pending();
    expect(approvals).toEqual([expect.objectContaining({ runId: run.id, kind: 'budget' })]);
    const exceeded = (await eventsOf(sv2, run.id)).find((event) => event.type === 'budget.exceeded');
    expect(exceeded).toMatchObject({ limit: 'maxTokens' });

    await sv2.extendBudget(run.id, { maxTokens: 1000 }, { by: 'ann' });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs).toEqual({ q1: 'one', q2: 'two' });
    expect(server!.chatRequests).toHaveLength(2);
    expect(phases(await eventsOf(sv2, run.id))).toEqual(['running', 'paused', 'running', 'completed']);
  });

  it('stays paused across a restart, and extendBudget from the new process continues it', async () => {
    const db = harness.dbPath();
    server = await startOpenAiServer({ models: ['plan-model'] });
    const llm = {
      baseURL: server.baseURL,
      apiKey: 'test',
      model: 'plan-model',
      maxRetries: 0,
      maxOutputTokens: 100,
    };
    const first = await createSupervisor({ db, llm, prices, ids: sequentialIds() });
    server.script(reply('one', { prompt_tokens: 60, completion_tokens: 30 }));
    const run = await first.start({
      ...twoQuestions,
    });
    await until(async () => (await first.get(run.id))?.phase === 'paused');
    await first.close();

    const second = await harness.open({ db, llm, prices });
    expect((await second.get(run.id))?.phase).toBe('paused');
    expect((await second.pending()).approvals.map((approval) => approval.kind)).toEqual(['budget']);
    server.script(reply('two', { prompt_tokens: 60, completion_tokens: 30 }));
    await second.extendBudget(run.id, { maxTokens: 1000 });
    await until(async () => (await second.get(run.id))?.phase === 'completed');
    const view = (await second.get(run.id))!;
    expect(view.steps.map((step) => step.output)).toEqual(['one', 'two']);
    expect(view.usage).toMatchObject({ inputTokens: 120, outputTokens: 60 });
  });

  it('pauses at its dollar limit, and cancel ends the paused run', async () => {
    const sv = await open({ llm: { maxOutputTokens: 1000 } });
    server!.script(reply('cheap answer', { prompt_tokens: 1000, completion_tokens: 500 }));
    const run = await sv.start({
      ...twoQuestions,
      // q1 reserves < $0.01 (about 110 + 1000 tokens); afterwards $0.006 is spent and q2's
      // worst case (another ~$0.0082) would pass $0.01.
      budget: { maxCostUsd: 0.01 },
    });
    await until(async () => (await sv.get(run.id))?.phase === 'paused');
    expect((await sv.get(run.id))!.reason).toMatch(
      /^budget: maxCostUsd \$0\.0100 reached \(\$0\.006000 spent/,
    );
    await sv.cancel(run.id, { reason: 'too expensive' });
    const result = await run.done;
    expect(result.phase).toBe('cancelled');
    expect(result.usage).toEqual({ inputTokens: 1000, outputTokens: 500, costUsd: 0.006 });
    expect((await sv.pending()).approvals).toEqual([]);
    expect(server!.chatRequests).toHaveLength(1);
  });

  it('holds a run at its step limit until extended', async () => {
    const sv = await harness.open({ db: harness.dbPath(), ids: sequentialIds() });
    const run = await sv.start({
      goal: 'Three notes',
      budget: { maxSteps: 2 },
      plan: {
        steps: [
          { id: 'a', action: { kind: 'note', output: 1 } },
          { id: 'b', dependsOn: ['a'], action: { kind: 'note', output: 2 } },
          { id: 'c', dependsOn: ['b'], action: { kind: 'note', output: 3 } },
        ],
      },
    });
    await until(async () => (await sv.get(run.id))?.phase === 'paused');
    const view = (await sv.get(run.id))!;
    expect(view.steps.map((step) => step.state)).toEqual(['succeeded', 'succeeded', 'pending']);
    expect(view.reason).toMatch(/maxSteps 2 reached/);
    await sv.extendBudget(run.id, { maxSteps: 3 });
    expect((await run.done).phase).toBe('completed');
  });

  it('refuses a bad budget naming the field', async () => {
    const sv = await harness.open({ db: harness.dbPath() });
    await expect(
      sv.start({
        goal: 'x',
        budget: { maxTokens: -5 },
        plan: { steps: [{ id: 'a', action: { kind: 'note', output: 1 } }] },
      }),
    ).rejects.toThrow(/budget\.maxTokens: .*got \{"maxTokens":-5\}/);
    await expect(sv.extendBudget('run-x', { maxCostUsd: 'lots' } as never)).rejects.toThrow(
      /budget\.maxCostUsd/,
    );
  });
});

describe('without a model', () => {
  it('refuses a goal without a plan, saying how to configure one', async () => {
    const sv = await harness.open({ db: harness.dbPath() });
    await expect(sv.start({ goal: 'plan this' })).rejects.toThrow(
      /no model is configured.*pass a plan, or an llm/,
    );
  });

  it('fails a research step clearly', async () => {
    const clock = new ManualClock(0);
    const sv = await harness.open({ db: harness.dbPath(), clock });
    const run = await sv.start({
      goal: 'q',
      plan: { steps: [{ id: 'q', action: { kind: 'research', query: 'why?' } }] },
    });
    const result = await run.done;
    expect(result.phase).toBe('failed');
    expect((await sv.get(run.id))!.steps[0]!.error).toMatch(/research step, which needs a model: pass llm/);
  });
});
