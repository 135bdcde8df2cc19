/**
 * `start()` of the largest plan the default limits allow (limits.planSteps: 10,000 steps)
 * keeps the event loop turning: a probe that re-arms itself with setImmediate records the
 * longest gap between two of its turns while the plan is checked, stored and its run
 * created — as CPU time of this process (what the stall is on an idle machine) and as wall
 * clock (which grows when other processes hold the cores). The figure is printed (speed is a benchmark's business, not a timed assertion);
 * the test asserts that the loop did get turns while start() worked.
 *
 * Reproduce: `npx vitest run test/runtime/loop-lag.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/model/limits.js';
import type { PlanInput } from '../../src/model/plan.js';
import { useSupervisorHarness } from '../support/supervisor-harness.js';

const harness = useSupervisorHarness();

interface Lag {
  readonly turns: number;
  /** The longest wall-clock gap between two turns (grows when other processes hold the cores). */
  readonly maxGapMs: number;
  /** The most CPU time this process used between two turns: the stall on an idle machine. */
  readonly maxCpuMs: number;
}

/** Turns of the event loop, and the longest gap between two of them, until stopped. */
function loopLagProbe(): { stop(): Lag } {
  let turns = 0;
  let maxGapMs = 0;
  let maxCpuMs = 0;
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let running = true;
  const tick = () => {
    if (!running) return;
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    maxGapMs = Math.max(maxGapMs, now - last);
    maxCpuMs = Math.max(maxCpuMs, (cpu.user + cpu.system) / 1000);
    last = now;
    lastCpu = process.cpuUsage();
    turns += 1;
    setImmediate(tick);
  };
  setImmediate(tick);
  return {
    stop: () => {
      running = false;
      return { turns, maxGapMs, maxCpuMs };
    },
  };
}

/** A plan of `count` steps: a chain of fan-ins (each step depends on up to 3 before it). */
function largestPlan(count: number): PlanInput {
  return {
    steps: Array.from({ length: count }, (_, index) => ({
      id: `s${index}`,
      title: `Step ${index}`,
      dependsOn: [index - 1, index - 7, index - 50].filter((dep) => dep >= 0).map((dep) => `s${dep}`),
      action: {
        kind: 'note',
        output: index === 0 ? 'start' : `after {{steps.s${index - 1}.output}}`,
      },
    })),
  } as PlanInput;
}

describe('the event loop while start() takes the largest allowed plan', () => {
  it('gets turns all along; the longest stall is printed', async () => {
    const count = DEFAULT_LIMITS.planSteps;
    const plan = largestPlan(count);
    const sv = await harness.open({ db: harness.dbPath() });
    // A warm-up run, so that the figure is not the first compile of the code paths.
    await (await sv.start({ goal: 'warm up', plan: largestPlan(300), requireApproval: true })).view();

    const probe = loopLagProbe();
    const started = performance.now();
    const run = await sv.start({ goal: 'the largest plan', plan, requireApproval: true });
    const took = performance.now() - started;
    const { turns, maxGapMs, maxCpuMs } = probe.stop();

    console.log(
      `loop lag: start() of a ${count.toLocaleString('en-US')}-step plan took ${took.toFixed(0)} ms; ` +
        `the event loop turned ${turns} times; longest stall ${maxCpuMs.toFixed(1)} ms of CPU ` +
        `(${maxGapMs.toFixed(1)} ms of wall clock, which grows with the machine's load)`,
    );
    expect(run.view().steps).toHaveLength(count);
    expect(run.view().phase).toBe('awaitingApproval');
    expect(turns).toBeGreaterThan(1);
  }, 120_000);
});
