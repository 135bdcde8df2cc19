/**
 * Shell steps the model wrote never run outside the jail unless `isolation: 'none'` says so:
 * planned and replanned steps are marked by the planner (the mark survives a restart), the
 * caller's own steps run under the policy alone with an audit row when the jail cannot be had.
 * The real `openai` client talks to the local test server; "no jail" is a PATH without bwrap.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CliAgent, runAgent } from '../../src/actions/agents.js';
import { ManualClock } from '../../src/clock.js';
import { isTaskvisorError } from '../../src/errors.js';
import { parsePlan } from '../../src/model/parse-plan.js';
import { resolveSandbox } from '../../src/sandbox/policy.js';
import type { Supervisor, SupervisorOptions } from '../../src/supervisor.js';
import { JAIL, reportJailSkip } from '../sandbox/jail-support.js';
import { type OpenAiServer, startOpenAiServer } from '../support/openai-server.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

const harness = useSupervisorHarness();
reportJailSkip('model-written shell steps');
let server: OpenAiServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const ECHO = '/usr/bin/echo';
const shellPlan = {
  steps: [{ id: 'hello', title: 'Say hello', action: { kind: 'shell', command: ECHO, args: ['hello'] } }],
};

/** A supervisor with a model; `jail: false` opens it on a PATH without bwrap. */
async function open(
  options: { jail: boolean; db?: string } & Partial<SupervisorOptions>,
): Promise<{ sv: Supervisor; db: string }> {
  server ??= await startOpenAiServer({ models: ['plan-model'] });
  const { jail, db = harness.dbPath(), sandbox, ...rest } = options;
  const parentPath = process.env.PATH;
  if (!jail) process.env.PATH = '/nonexistent-bin';
  try {
    const sv = await harness.open({
      db,
      llm: { apiKey: 'test', model: 'plan-model', maxRetries: 0, baseURL: server.baseURL },
      ids: sequentialIds(),
      sandbox: { allow: [ECHO], cwd: harness.tempDir(), ...sandbox },
      approveReplans: false,
      ...rest,
    });
    return { sv, db };
  } finally {
    process.env.PATH = parentPath;
  }
}

const reply = (value: unknown) => ({
  text: JSON.stringify(value),
  usage: { prompt_tokens: 10, completion_tokens: 5 },
});

async function planned(sv: Supervisor) {
  const run = await sv.start({ goal: 'Say hello' });
  await until(async () => (await sv.get(run.id))?.phase === 'awaitingApproval');
  return run;
}

describe('without the jail (isolation auto)', () => {
  it('fails a shell step the model planned with SANDBOX_UNAVAILABLE, saying how to allow it', async () => {
    const { sv } = await open({ jail: false });
    server!.script(reply(shellPlan));
    const run = await planned(sv);
    await sv.approvePlan(run.id, { by: 'ann' });
    const result = await run.done;
    expect(result.phase).toBe('failed');
    const attempts = (await sv.trace(run.id)).attempts;
    expect(attempts.map((attempt) => attempt.error?.code)).toEqual(['SANDBOX_UNAVAILABLE']);
    expect(attempts[0]!.error!.message).toContain('was written by the model');
    expect(attempts[0]!.error!.message).toContain("sandbox.isolation: 'none' explicitly");
  });

  it('keeps the mark across a restart: a planned step approved through the next supervisor still fails', async () => {
    const first = await open({ jail: false });
    server!.script(reply(shellPlan));
    const run = await planned(first.sv);
    await first.sv.close();
    const { sv } = await open({ jail: false, db: first.db });
    await sv.approvePlan(run.id, { by: 'ann' });
    await until(async () => (await sv.get(run.id))?.phase === 'failed');
    const attempts = (await sv.trace(run.id)).attempts;
    expect(attempts.map((attempt) => attempt.error?.code)).toEqual(['SANDBOX_UNAVAILABLE']);
  });

  it('fails a shell step the model added in a replan', async () => {
    const { sv } = await open({
      jail: false,
      actions: {
        flaky: async () => {
          throw Object.assign(new Error('down'), { retryable: false });
        },
      },
    });
    server!.script(
      reply({
        steps: [{ id: 'again', replaces: 'fetch', action: { kind: 'shell', command: ECHO, args: ['x'] } }],
      }),
    );
    const run = await sv.start({
      goal: 'Fetch',
      plan: { steps: [{ id: 'fetch', action: { kind: 'flaky' } }] },
    });
    const result = await run.done;
    expect(result.phase).toBe('failed');
    const again = (await sv.trace(run.id)).attempts.filter((attempt) => attempt.stepId === 'again');
    expect(again.map((attempt) => attempt.error?.code)).toEqual(['SANDBOX_UNAVAILABLE']);
  });

  it("runs the caller's shell step under the policy alone, with a sandbox.unjailed audit row", async () => {
    const { sv } = await open({ jail: false });
    const run = await sv.start({ goal: 'Say hello', plan: shellPlan });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs['hello']).toMatchObject({ stdout: 'hello\n', isolation: 'none' });
    const audit = (await sv.trace(run.id)).audit;
    const unjailed = audit.find((row) => row.action === 'sandbox.unjailed');
    expect(unjailed?.details).toMatchObject({ command: ECHO, isolation: 'none' });
    expect(String(unjailed?.details?.reason)).toMatch(/bubblewrap \(bwrap\) is not on the PATH/i);
    expect(audit.find((row) => row.action === 'shell.exited')?.details).toMatchObject({ isolation: 'none' });
    expect(await sv.verifyAudit()).toMatchObject({ ok: true });
  });

  it("runs a planned shell step when isolation 'none' is set explicitly", async () => {
    const { sv } = await open({
      jail: false,
      sandbox: { allow: [ECHO], cwd: harness.tempDir(), isolation: 'none' },
    });
    server!.script(reply(shellPlan));
    const run = await planned(sv);
    await sv.approvePlan(run.id, { by: 'ann' });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs['hello']).toMatchObject({ stdout: 'hello\n', isolation: 'none' });
    const audit = (await sv.trace(run.id)).audit.map((row) => row.action);
    expect(audit).not.toContain('sandbox.unjailed');
  });
});

describe.runIf(JAIL)('with the jail', () => {
  it('runs a shell step the model planned in the jail', async () => {
    const { sv } = await open({ jail: true });
    server!.script(reply(shellPlan));
    const run = await planned(sv);
    await sv.approvePlan(run.id, { by: 'ann' });
    const result = await run.done;
    expect(result.phase).toBe('completed');
    expect(result.outputs['hello']).toMatchObject({ stdout: 'hello\n', isolation: 'jail' });
  });
});

describe('the mark', () => {
  it('cannot be written into a plan: a model (or a caller) naming writtenBy is refused', () => {
    const plan = { steps: [{ ...shellPlan.steps[0], writtenBy: 'caller' }] };
    expect(() => parsePlan(plan)).toThrow(/writtenBy/);
  });
});

describe('CLI agents', () => {
  const agent: CliAgent = { name: 'writer', kind: 'cli', command: ECHO, args: ['{spec}'] };
  const context = {
    signal: new AbortController().signal,
    runId: 'run-1',
    stepId: 'impl',
    attempt: 1,
    idempotencyKey: 'run-1/impl',
    agent: 'writer',
    round: 1,
    originalSpec: 'spec',
    episodes: [],
    log: () => {},
    ask: () => Promise.reject(new Error('no questions here')),
  };
  const noJail = () =>
    resolveSandbox({ allow: [ECHO], cwd: harness.tempDir() }, { PATH: '/nonexistent-bin' });

  it('never run without the jail for a step the model wrote (isolation auto)', async () => {
    const error: unknown = await runAgent(agent, 'spec', context, {
      clock: new ManualClock(),
      sandbox: noJail(),
      tier: 'write',
      writtenBy: 'model',
    }).catch((caught: unknown) => caught);
    expect(isTaskvisorError(error, 'SANDBOX_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toContain('was written by the model');
  });

  it("run under the policy alone for the caller's step, recording a sandbox artifact", async () => {
    const artifacts: Array<{ kind: string; body: unknown }> = [];
    const output = await runAgent(agent, 'spec', context, {
      clock: new ManualClock(),
      sandbox: noJail(),
      tier: 'write',
      artifact: (kind, _name, body) => artifacts.push({ kind, body }),
    });
    expect(output).toBe('spec\n');
    expect(artifacts).toEqual([
      {
        kind: 'sandbox',
        body: expect.objectContaining({ isolation: 'none', requested: 'auto', command: ECHO }),
      },
    ]);
  });
});
