/**
 * `implement` steps and their agents through a real supervisor: function and CLI agents, the
 * escalation chain recovering through a fallback, a human asked when every agent failed
 * (retry / skip / fail / guidance), agent timeouts on the injected clock, a CLI agent's
 * process group killed on cancel, and past episodes recalled into later specs.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { AgentFunction } from '../../src/actions/agents.js';
import type { Supervisor, SupervisorOptions } from '../../src/supervisor.js';
import { liveProcessesInGroup, pollUntil } from '../sandbox/process-group.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';
import { refusal, untilSpawned, untilStep } from './helpers.js';

const harness = useSupervisorHarness();

const failing: AgentFunction = () => ({ status: 'failed', error: 'the build broke' });

/** A CLI agent that prints what it was asked. */
const echoAgent = {
  name: 'cli-coder',
  kind: 'cli' as const,
  command: 'sh',
  args: ['-c', 'printf "built: %s" "$1"', 'agent', '{spec}'],
};

async function open(options: Partial<SupervisorOptions> = {}) {
  const clock = new ManualClock(1_000_000);
  const sv = await harness.open({
    db: harness.dbPath(),
    clock,
    ids: sequentialIds(),
    sandbox: { allow: ['sh', 'sleep'], cwd: harness.tempDir() },
    ...options,
  });
  return { sv, clock };
}

function implementPlan(spec = 'Add a --json flag to the export command', agent = 'coder') {
  return {
    goal: spec,
    steps: [
      { id: 'impl', action: { kind: 'implement', agent, spec } },
      { id: 'after', dependsOn: ['impl'], action: { kind: 'note', output: 'after' } },
    ],
  };
}

async function openQuestion(sv: Supervisor, runId: string) {
  await untilStep(sv, runId, 'impl', 'awaitingInput');
  const [request] = (await sv.pending()).requests;
  expect(request).toBeDefined();
  return request!;
}

describe('the escalation chain', () => {
  it('recovers through a fallback agent and says so (recoveredVia), with every try recorded', async () => {
    const { sv } = await open({
      agents: [{ name: 'coder', kind: 'function', run: failing }, echoAgent],
      escalation: { fallbacks: ['cli-coder'] },
    });
    const run = await sv.start({ plan: implementPlan('make it so') });
    const result = await run.done;

    expect(result.phase).toBe('completed');
    expect(result.outputs.impl).toEqual({
      agent: 'cli-coder',
      recoveredVia: 'cli-coder',
      output: 'built: make it so',
      rounds: 1,
      attempts: [
        {
          agent: 'coder',
          round: 1,
          outcome: 'failed',
          durationMs: 0,
          error: { code: 'ACTION_FAILED', message: 'Agent "coder" reported failure: the build broke.' },
        },
        { agent: 'cli-coder', round: 1, outcome: 'succeeded', durationMs: 0 },
      ],
    });
    const trace = await sv.trace(run.id);
    expect(
      trace.artifacts
        .filter((a) => a.kind === 'delegation')
        .map((a) => [a.name, (a.body as { outcome: string }).outcome]),
    ).toEqual([
      ['coder', 'failed'],
      ['cli-coder', 'succeeded'],
    ]);
    expect(
      trace.audit
        .filter((row) => row.action.startsWith('agent.'))
        .map((row) => [row.action, row.details.agent]),
    ).toEqual([
      ['agent.failed', 'coder'],
      ['agent.succeeded', 'cli-coder'],
    ]);
    expect(
      trace.events.filter((e) => e.type === 'step.log').map((e) => (e as { message: string }).message),
    ).toContain(
      'agent coder failed (ACTION_FAILED): Agent "coder" reported failure: the build broke.; escalating to cli-coder',
    );
  });

  it("passes a CLI agent's spec as one argv element: shell syntax in it is not run", async () => {
    const root = harness.tempDir();
    const { sv } = await open({
      sandbox: { allow: ['sh'], cwd: root },
      agents: [{ ...echoAgent, name: 'coder' }],
    });
    const spec = '$(touch pwned); `touch pwned2` && touch pwned3';
    const result = await (await sv.start({ plan: implementPlan(spec) })).done;
    expect(result.outputs.impl).toMatchObject({ agent: 'coder', output: `built: ${spec}` });
    expect(fs.readdirSync(root)).toEqual([]);
  });

  it('returns recoveredVia null when the step’s own agent succeeds', async () => {
    const { sv } = await open({
      agents: [{ name: 'coder', kind: 'function', run: (spec) => ({ output: `done: ${spec}` }) }],
    });
    const result = await (await sv.start({ plan: implementPlan('x') })).done;
    expect(result.outputs.impl).toMatchObject({ agent: 'coder', recoveredVia: null, output: 'done: x' });
  });

  it('escalates on a non-zero exit of a CLI agent and on a thrown error', async () => {
    const { sv } = await open({
      agents: [
        {
          name: 'coder',
          kind: 'cli',
          command: 'sh',
          args: ['-c', 'echo "cannot: $1" >&2; exit 2', 'a', '{spec}'],
        },
        { name: 'thrower', kind: 'function', run: () => Promise.reject(new Error('network down')) },
        { name: 'last', kind: 'function', run: () => ({ output: 'ok' }) },
      ],
      escalation: { fallbacks: ['thrower', 'last'] },
    });
    const result = await (await sv.start({ plan: implementPlan('x') })).done;
    const output = result.outputs.impl as {
      recoveredVia: string;
      attempts: Array<{ agent: string; error?: { message: string } }>;
    };
    expect(output.recoveredVia).toBe('last');
    expect(output.attempts.map((a) => a.agent)).toEqual(['coder', 'thrower', 'last']);
    expect(output.attempts[0]?.error?.message).toContain(
      'exited with code 2; last stderr lines:\n  cannot: x',
    );
    expect(output.attempts[1]?.error?.message).toBe('network down');
  });

  it('asks a human when every agent failed, and runs the chain again on retry', async () => {
    let calls = 0;
    const { sv } = await open({
      agents: [
        {
          name: 'coder',
          kind: 'function',
          run: () =>
            ++calls >= 3 ? { output: 'third time lucky' } : { status: 'failed', error: 'the build broke' },
        },
        { name: 'backup', kind: 'function', run: failing },
      ],
      escalation: { fallbacks: ['backup'] },
    });
    const run = await sv.start({ plan: implementPlan() });
    let request = await openQuestion(sv, run.id);
    expect(request.question).toContain('Every agent failed on step "impl"');
    expect(request.question).toContain(
      '- coder: ACTION_FAILED: Agent "coder" reported failure: the build broke.',
    );
    expect(request.question).toContain('- backup: ACTION_FAILED');
    expect(request.options?.map((o) => o.id)).toEqual(['retry', 'skip', 'fail']);

    await sv.answer(request.requestId, { optionId: 'retry', by: 'ann' });
    request = await until(async () =>
      (await sv.pending()).requests.find((r) => r.requestId !== request.requestId),
    );
    expect(request.question).toContain('(round 2)');
    await sv.answer(request.requestId, { text: 'retry' });

    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs.impl).toMatchObject({
      agent: 'coder',
      recoveredVia: 'coder',
      output: 'third time lucky',
      rounds: 3,
      decisions: [
        { round: 1, decision: 'retry' },
        { round: 2, decision: 'retry' },
      ],
    });
    const audit = (await sv.trace(run.id)).audit;
    expect(audit.filter((row) => row.action === 'question.answered').map((row) => row.by)).toEqual([
      'ann',
      undefined,
    ]);
  });

  it('fails the step when the human says fail, and its dependents are skipped', async () => {
    const { sv } = await open({ agents: [{ name: 'coder', kind: 'function', run: failing }] });
    const run = await sv.start({ plan: implementPlan() });
    const request = await openQuestion(sv, run.id);
    await sv.answer(request.requestId, { optionId: 'fail' });
    const result = await run.done;
    expect(result.phase).toBe('failed');
    expect(run.view().steps[0]?.error).toContain(
      'every agent failed (coder) and a human chose to fail the step',
    );
    expect(run.view().steps[1]?.state).toBe('skipped');
  });

  it('goes on without a result when the human says skip', async () => {
    const { sv } = await open({ agents: [{ name: 'coder', kind: 'function', run: failing }] });
    const run = await sv.start({ plan: implementPlan() });
    await sv.answer((await openQuestion(sv, run.id)).requestId, { optionId: 'skip' });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs.impl).toMatchObject({
      agent: null,
      recoveredVia: 'human',
      skipped: true,
      output: null,
    });
    expect(result.outputs.after).toBe('after');
  });

  it("retries with a human's free-text guidance added to the spec", async () => {
    const seen: string[] = [];
    const { sv } = await open({
      agents: [
        {
          name: 'coder',
          kind: 'function',
          run: (spec) => {
            seen.push(spec);
            return spec.includes('use the v2 API')
              ? { output: 'fixed' }
              : { status: 'failed', error: 'v1 is gone' };
          },
        },
      ],
    });
    const run = await sv.start({ plan: implementPlan('Call the export API') });
    await sv.answer((await openQuestion(sv, run.id)).requestId, { text: 'use the v2 API, v1 was removed' });
    const result = await run.done;
    expect(result.outputs.impl).toMatchObject({
      output: 'fixed',
      decisions: [{ round: 1, decision: 'retry', guidance: 'use the v2 API, v1 was removed' }],
    });
    expect(seen[1]).toBe(
      'Call the export API\n\nGuidance from a human after earlier attempts failed:\n- use the v2 API, v1 was removed',
    );
  });

  it('escalates past an agent that times out (on the injected clock) when retryOnTimeout is set', async () => {
    const { sv, clock } = await open({
      agents: [
        { name: 'slow', kind: 'function', timeoutMs: 5_000, run: () => new Promise(() => {}) },
        { name: 'quick', kind: 'function', run: () => ({ output: 'quick' }) },
      ],
      escalation: { fallbacks: ['quick'], retryOnTimeout: true },
    });
    const run = await sv.start({ plan: implementPlan('x', 'slow') });
    await until(async () => (await sv.trace(run.id)).attempts.some((a) => a.stepId === 'impl'));
    clock.advance(4_999);
    await untilStep(sv, run.id, 'impl', 'running');
    clock.advance(1);
    const result = await run.done;
    expect(result.outputs.impl).toMatchObject({
      agent: 'quick',
      recoveredVia: 'quick',
      attempts: [
        { agent: 'slow', outcome: 'failed', durationMs: 5_000, error: { code: 'STEP_TIMEOUT' } },
        { agent: 'quick', outcome: 'succeeded' },
      ],
    });
  });

  it('asks a human at once when an agent times out without retryOnTimeout (the fallback is not tried)', async () => {
    const quick: string[] = [];
    const { sv, clock } = await open({
      agents: [
        { name: 'slow', kind: 'function', timeoutMs: 5_000, run: () => new Promise(() => {}) },
        { name: 'quick', kind: 'function', run: (spec) => (quick.push(spec), { output: 'quick' }) },
      ],
      escalation: { fallbacks: ['quick'] },
    });
    const run = await sv.start({ plan: implementPlan('x', 'slow') });
    await until(async () => (await sv.trace(run.id)).attempts.some((a) => a.stepId === 'impl'));
    clock.advance(5_000);
    const request = await openQuestion(sv, run.id);
    expect(request.question).toContain('- slow: STEP_TIMEOUT: Agent "slow" timed out after 5000 ms.');
    expect(quick).toEqual([]);
    await sv.answer(request.requestId, { optionId: 'fail' });
    expect((await run.done).phase).toBe('failed');
  });

  it("kills a CLI agent's whole process group when the run is cancelled", async () => {
    const { sv } = await open({
      agents: [
        {
          name: 'coder',
          kind: 'cli',
          command: 'sh',
          args: ['-c', 'sleep 1000 & sleep 1000', 'agent', '{spec}'],
        },
      ],
    });
    const run = await sv.start({ plan: implementPlan() });
    const pgid = await untilSpawned(sv, run.id, 'impl');
    await pollUntil(
      () => liveProcessesInGroup(pgid).filter((p) => p.comm === 'sleep').length === 2,
      'two sleeps run',
    );
    await sv.cancel(run.id);
    expect((await run.done).phase).toBe('cancelled');
    await pollUntil(() => liveProcessesInGroup(pgid).length === 0, `group ${pgid} is gone`);
  });
});

describe('episodes recalled into delegation specs', () => {
  it('adds the relevant past delegation outcomes to a later spec, under the size budget', async () => {
    const seen: string[] = [];
    let first = true;
    const { sv } = await open({
      agents: [
        {
          name: 'coder',
          kind: 'function',
          run: (spec) => {
            seen.push(spec);
            if (first) {
              first = false;
              return { status: 'failed', error: 'OAuth callback URL mismatch on staging' };
            }
            return { output: 'ok' };
          },
        },
        { name: 'backup', kind: 'function', run: () => ({ output: 'patched the OAuth redirect' }) },
      ],
      escalation: { fallbacks: ['backup'] },
    });
    await (
      await sv.start({ plan: implementPlan('Add OAuth login to the admin dashboard') })
    ).done;
    expect(seen[0]).toBe('Add OAuth login to the admin dashboard');

    await (
      await sv.start({ plan: implementPlan('Fix the OAuth login redirect') })
    ).done;
    const recalled = seen[1]!;
    expect(
      recalled.startsWith('Fix the OAuth login redirect\n\nRelevant past episodes (from episodic memory):'),
    ).toBe(true);
    expect(recalled).toContain('Delegated to coder, failed: Add OAuth login to the admin dashboard');
    expect(recalled).toContain('OAuth callback URL mismatch on staging');
    expect(recalled).toContain('Delegated to backup, succeeded');
    expect(recalled.length).toBeLessThanOrEqual('Fix the OAuth login redirect\n\n'.length + 2000);

    const found = await sv.memory.search('OAuth', { limit: 10 });
    expect(found.map((episode) => episode.kind).sort()).toEqual([
      'delegation',
      'delegation',
      'delegation',
      'run',
      'run',
    ]);
  });
});

describe('agent options', () => {
  const cases: Array<[string, Partial<SupervisorOptions>, string[]]> = [
    [
      'two agents with one name',
      { agents: [echoAgent, { ...echoAgent }] },
      ['agents[1]: the name "cli-coder" is used twice'],
    ],
    [
      'a CLI agent whose args never pass the spec',
      { agents: [{ ...echoAgent, args: ['-c', 'true'] }] },
      ['agents[0] ("cli-coder")', 'put "{spec}" in one of them'],
    ],
    [
      'a fallback that is not an agent',
      { agents: [echoAgent], escalation: { fallbacks: ['cli-codr'] } },
      [
        'escalation.fallbacks[0] names agent "cli-codr"',
        'did you mean "cli-coder"',
        'registered agents: "cli-coder"',
      ],
    ],
    [
      'an agent of an unknown kind',
      { agents: [{ name: 'x', kind: 'robot' } as never] },
      ['Option agents.0', 'kind'],
    ],
  ];
  it.each(cases)('refuses %s', async (name, options, mentions) => {
    const code = name === 'a fallback that is not an agent' ? 'UNKNOWN_AGENT' : 'INVALID_OPTION';
    const error = await refusal(() => open(options), code);
    for (const mention of mentions) expect(error.message).toContain(mention);
  });

  it('refuses a CLI agent without a sandbox', async () => {
    const error = await refusal(
      () => harness.open({ db: harness.dbPath(), agents: [echoAgent] }),
      'INVALID_OPTION',
    );
    expect(error.message).toContain('is a CLI agent, but no sandbox is configured');
  });

  it('rejects a plan that delegates to an unknown agent, naming the registered ones', async () => {
    const { sv } = await open({ agents: [echoAgent] });
    const error = await refusal(() => sv.start({ plan: implementPlan('x', 'cli-codr') }), 'UNKNOWN_AGENT');
    expect(error.message).toContain('delegates to agent "cli-codr"');
    expect(error.message).toContain('"cli-coder"');
  });
});
