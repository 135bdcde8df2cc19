/**
 * Confirmation tiers with real side effects: a destructive shell step and an external notify
 * step wait in awaitingConfirmation; a denial cancels the step and skips its dependents (the
 * run ends); with nobody confirming, nothing runs, across time and across a restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { NotifyMessage } from '../../src/actions/channels.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { turns } from '../support/until.js';
import { untilStep } from './helpers.js';

const harness = useSupervisorHarness();

function setup() {
  const root = harness.tempDir();
  const db = harness.dbPath();
  const clock = new ManualClock(1_000_000);
  const sent: NotifyMessage[] = [];
  const options = {
    db,
    clock,
    ids: sequentialIds(),
    sandbox: { allow: ['sh'], cwd: root },
    channels: { ops: (message: NotifyMessage) => void sent.push(message) },
  };
  const plan = {
    goal: 'clean up',
    steps: [
      {
        id: 'wipe',
        tier: 'destructive' as const,
        action: { kind: 'shell', command: 'sh', args: ['-c', ': > wiped'] },
      },
      {
        id: 'announce',
        tier: 'external' as const,
        dependsOn: ['wipe'],
        action: { kind: 'notify', channel: 'ops', message: 'wiped' },
      },
      { id: 'report', dependsOn: ['announce'], action: { kind: 'note', output: 'done' } },
    ],
  };
  return { root, clock, sent, options, plan, wiped: path.join(root, 'wiped') };
}

describe('confirmation tiers', () => {
  it('runs destructive and external steps only after a human confirms each', async () => {
    const { options, plan, wiped, sent } = setup();
    const sv = await harness.open(options);
    const run = await sv.start({ plan });
    await untilStep(sv, run.id, 'wipe', 'awaitingConfirmation');
    expect(fs.existsSync(wiped)).toBe(false);
    await sv.confirmStep(run.id, 'wipe', { approved: true, by: 'ann' });
    await untilStep(sv, run.id, 'announce', 'awaitingConfirmation');
    expect(fs.existsSync(wiped)).toBe(true);
    expect(sent).toEqual([]);
    await sv.confirmStep(run.id, 'announce', { approved: true, by: 'bob' });
    expect((await run.done).phase).toBe('completed');
    expect(sent.map((message) => message.message)).toEqual(['wiped']);
    const confirmed = (await sv.trace(run.id)).audit.filter((row) => row.action.startsWith('step.confirm'));
    expect(confirmed.map((row) => [row.action, row.stepId, row.by])).toEqual([
      ['step.confirmationRequested', 'wipe', undefined],
      ['step.confirmed', 'wipe', 'ann'],
      ['step.confirmationRequested', 'announce', undefined],
      ['step.confirmed', 'announce', 'bob'],
    ]);
  });

  it('cancels a denied step and skips its dependents, so the run ends instead of hanging', async () => {
    const { options, plan, wiped, sent } = setup();
    const sv = await harness.open(options);
    const run = await sv.start({ plan });
    await untilStep(sv, run.id, 'wipe', 'awaitingConfirmation');
    await sv.confirmStep(run.id, 'wipe', { approved: false, by: 'ann', reason: 'wrong directory' });
    const result = await run.done;
    expect(result.phase).toBe('failed');
    expect(run.view().steps.map((step) => [step.id, step.state, step.reason])).toEqual([
      ['wipe', 'cancelled', 'denied by ann: wrong directory'],
      ['announce', 'skipped', 'dependency wipe failed'],
      ['report', 'skipped', 'dependency wipe failed'],
    ]);
    expect(fs.existsSync(wiped)).toBe(false);
    expect(sent).toEqual([]);
    const audit = (await sv.trace(run.id)).audit;
    expect(audit.find((row) => row.action === 'step.denied')).toMatchObject({
      stepId: 'wipe',
      by: 'ann',
      details: { decision: 'deny', reason: 'wrong directory' },
    });
    expect(audit.at(-1)?.action).toBe('run.failed');
  });

  it('fails closed: with nobody confirming, the step never runs, across a day and a restart', async () => {
    const { options, plan, wiped, clock } = setup();
    const first = await harness.open(options);
    const run = await first.start({ plan });
    await untilStep(first, run.id, 'wipe', 'awaitingConfirmation');
    for (let hour = 0; hour < 24; hour++) {
      clock.advance(3_600_000);
      await turns(5);
    }
    expect(fs.existsSync(wiped)).toBe(false);
    expect((await first.get(run.id))?.steps[0]?.state).toBe('awaitingConfirmation');
    await first.close();

    const second = await harness.open(options);
    await turns(20);
    expect((await second.get(run.id))?.steps.map((step) => step.state)).toEqual([
      'awaitingConfirmation',
      'pending',
      'pending',
    ]);
    expect((await second.pending()).confirmations).toEqual([
      {
        runId: run.id,
        stepId: 'wipe',
        title: 'wipe',
        kind: 'shell',
        tier: 'destructive',
        reason: 'tier destructive needs confirmation',
        // What the human would confirm: the command line in full.
        action: {
          kind: 'shell',
          summary: "$ sh -c ': > wiped'",
          details: [{ label: 'command', value: "sh -c ': > wiped'" }],
        },
      },
    ]);
    expect(fs.existsSync(wiped)).toBe(false);
    expect((await second.trace(run.id)).attempts).toEqual([]);
  });
});
