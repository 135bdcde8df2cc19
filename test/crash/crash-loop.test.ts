/**
 * The crash-loop guard, with real processes: a step whose action ends the process
 * (`process.exit`) is reopened again and again. An attempt whose process died counts toward
 * `retry.maxAttempts`; past it the step waits in `awaitingConfirmation` with reason
 * `crashed N times` — an idempotent step too — and no later open runs it again until a
 * human chooses rerun, skip or fail.
 */
import { mkdtempSync, readFileSync, rmSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { ActionFunction } from '../../src/index.js';
import type { RunView } from '../../src/model/views.js';
import { runTs } from '../support/processes.js';
import { useSupervisorHarness } from '../support/supervisor-harness.js';

const WORKER = fileURLToPath(new URL('./exit-worker.ts', import.meta.url));
const root = mkdtempSync(path.join(os.tmpdir(), 'taskvisor-crash-loop-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const harness = useSupervisorHarness();

interface Open {
  readonly code: number | null;
  readonly view?: RunView;
}

/** One process: start or resume, until it exits (3: the action ended it; 0: nothing left to run). */
async function open(mode: 'start' | 'resume', dir: string, flavour: 'idempotent' | 'effect'): Promise<Open> {
  let view: RunView | undefined;
  const child = runTs(
    WORKER,
    [mode, path.join(dir, 'db.sqlite'), path.join(dir, 'attempts'), flavour],
    (line) => {
      if (line.startsWith('{')) view = JSON.parse(line) as RunView;
    },
  );
  const exit = await child.exited;
  if (exit.code !== 0 && exit.code !== 3)
    throw new Error(`worker ${mode} failed (${exit.code}): ${exit.stderr}`);
  return { code: exit.code, ...(view ? { view } : {}) };
}

const attemptsIn = (dir: string) => readFileSync(path.join(dir, 'attempts'), 'utf8').trim().split('\n');
const boom = (view: RunView | undefined) => view?.steps.find((step) => step.id === 'boom');

describe('a step that ends its process', () => {
  it('is run at most retry.maxAttempts times over five reopens, then waits for a human who reruns it', async () => {
    const dir = mkdtempSync(path.join(root, 'idempotent-'));
    const opens: Open[] = [await open('start', dir, 'idempotent')];
    for (let reopen = 1; reopen <= 5; reopen++) opens.push(await open('resume', dir, 'idempotent'));

    // Attempts 1, 2 and 3 each ended their process; the next opens find the step waiting.
    expect(opens.map((each) => each.code)).toEqual([3, 3, 3, 0, 0, 0]);
    expect(attemptsIn(dir)).toEqual(['attempt 1', 'attempt 2', 'attempt 3']);
    for (const { view } of opens.slice(3)) {
      expect(view?.phase).toBe('running');
      expect(boom(view)).toMatchObject({
        state: 'awaitingConfirmation',
        attempt: 3,
        reason: 'crashed 3 times',
      });
    }

    // The human reruns it (now it behaves): a fourth attempt, and the run completes.
    appendFileSync(path.join(dir, 'attempts'), 'behave\n');
    const behaving: ActionFunction = async (_input, ctx) => ({ output: `ran on attempt ${ctx.attempt}` });
    const sv = await harness.open({ db: path.join(dir, 'db.sqlite'), actions: { exit: behaving } });
    expect((await sv.pending()).confirmations).toMatchObject([
      { runId: 'loop', stepId: 'boom', reason: 'crashed 3 times' },
    ]);
    await sv.confirmStep('loop', 'boom', { approved: true, by: 'ann' });
    const done = await new Promise<RunView | undefined>((resolve) => {
      const poll = async () => {
        const view = await sv.get('loop');
        if (view?.phase === 'completed' || view?.phase === 'failed') resolve(view);
        else setTimeout(() => void poll(), 10);
      };
      void poll();
    });
    expect(done?.result?.outputs).toEqual({ boom: 'ran on attempt 4', after: 'after ran on attempt 4' });
    const resolved = (await sv.trace('loop')).events.find((event) => event.type === 'approval.resolved');
    expect(resolved).toMatchObject({ stepId: 'boom', decision: 'rerun', by: 'ann' });
  }, 120_000);

  it('is never re-run without a human when it is not idempotent, and the human may skip it', async () => {
    const dir = mkdtempSync(path.join(root, 'effect-'));
    const opens: Open[] = [await open('start', dir, 'effect')];
    for (let reopen = 1; reopen <= 2; reopen++) opens.push(await open('resume', dir, 'effect'));
    expect(opens.map((each) => each.code)).toEqual([3, 0, 0]);
    expect(attemptsIn(dir)).toEqual(['attempt 1']);
    expect(boom(opens[2]?.view)).toMatchObject({
      state: 'awaitingConfirmation',
      attempt: 1,
      reason: 'interrupted',
    });

    const sv = await harness.open({
      db: path.join(dir, 'db.sqlite'),
      actions: { exit: async () => ({ output: 1 }) },
    });
    await sv.confirmStep('loop', 'boom', { approved: false, decision: 'skip', by: 'ann' });
    const step = await new Promise<RunView['steps'][number] | undefined>((resolve) => {
      const poll = async () => {
        const found = boom(await sv.get('loop'));
        if (found?.state === 'skipped') resolve(found);
        else setTimeout(() => void poll(), 10);
      };
      void poll();
    });
    expect(step?.reason).toContain('skipped by ann');
    expect(attemptsIn(dir)).toEqual(['attempt 1']);
  }, 120_000);
});
