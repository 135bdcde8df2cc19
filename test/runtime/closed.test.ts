/**
 * After close(), every member of the Supervisor (API.md's table) refuses with
 * SUPERVISOR_CLOSED — with good arguments and with bad ones — instead of reaching a closed
 * database; close() itself may be called again and does nothing.
 */
import { describe, expect, it } from 'vitest';
import { isTaskvisorError } from '../../src/errors.js';
import type { Supervisor } from '../../src/supervisor.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

const harness = useSupervisorHarness();

const plan = { steps: [{ id: 'a', action: { kind: 'note', output: 1 } }] };

/** Every member of API.md's Supervisor table, called as a user would. */
function members(runId: string): Record<string, (sv: Supervisor) => unknown> {
  return {
    start: (sv) => sv.start({ goal: 'g', plan }),
    fanout: (sv) => sv.fanout({ prompt: 'p', targets: ['m'] }),
    approvePlan: (sv) => sv.approvePlan(runId, { by: 'ann' }),
    rejectPlan: (sv) => sv.rejectPlan(runId, { reason: 'no' }),
    confirmStep: (sv) => sv.confirmStep(runId, 'a', { approved: true }),
    answer: (sv) => sv.answer('req-1', { text: 'yes' }),
    control: (sv) => sv.control(runId, 'a', 'retry'),
    extendBudget: (sv) => sv.extendBudget(runId, { maxSteps: 5 }),
    cancel: (sv) => sv.cancel(runId),
    get: (sv) => sv.get(runId),
    list: (sv) => sv.list(),
    pending: (sv) => sv.pending(),
    trace: (sv) => sv.trace(runId),
    monitor: (sv) => sv.monitor(runId),
    'memory.search': (sv) => sv.memory.search('deploy'),
    verifyAudit: (sv) => sv.verifyAudit(),
    health: (sv) => sv.health(),
    events$: (sv) => sv.events$,
    events: (sv) => sv.events({ runId }),
    faults$: (sv) => sv.faults$,
    resume: (sv) => sv.resume(runId),
    prune: (sv) => sv.prune({ olderThan: '30d' }),
  };
}

/** The same members with bad arguments: being closed is said first. */
const badCalls: Record<string, (sv: Supervisor) => unknown> = {
  start: (sv) => sv.start(42 as never),
  approvePlan: (sv) => sv.approvePlan(42 as never),
  list: (sv) => sv.list({ limit: 'x' as never }),
  events: (sv) => sv.events({ after: 'x' as never }),
  resume: (sv) => sv.resume(42 as never),
  'memory.search': (sv) => sv.memory.search(42 as never),
  prune: (sv) => sv.prune({ olderThan: -1 }),
};

async function errorOf(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('a closed supervisor', () => {
  it('refuses every member of the API with SUPERVISOR_CLOSED, and close() again does nothing', async () => {
    const db = harness.dbPath();
    const sv = await harness.open({ db, ids: sequentialIds() });
    const run = await sv.start({ goal: 'waits', requireApproval: true, plan });
    await sv.close();

    const calls = { ...members(run.id) };
    expect(Object.keys(calls)).toHaveLength(22);
    for (const [member, call] of Object.entries(calls)) {
      const error = await errorOf(() => call(sv));
      expect(isTaskvisorError(error, 'SUPERVISOR_CLOSED'), `${member}: ${String(error)}`).toBe(true);
      expect((error as Error).message).toContain('createSupervisor()');
    }
    for (const [member, call] of Object.entries(badCalls)) {
      const error = await errorOf(() => call(sv));
      expect(isTaskvisorError(error, 'SUPERVISOR_CLOSED'), `${member} with bad input: ${String(error)}`).toBe(
        true,
      );
    }
    await expect(run.done).rejects.toMatchObject({ code: 'SUPERVISOR_CLOSED' });
    await expect(sv.close()).resolves.toBeUndefined();

    // What it left is intact for the next supervisor.
    const next = await harness.open({ db });
    expect((await next.get(run.id))?.phase).toBe('awaitingApproval');
    await next.approvePlan(run.id);
    await until(async () => (await next.get(run.id))?.phase === 'completed', { what: 'the run to complete' });
  });
});
