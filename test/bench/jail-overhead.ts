/**
 * The jail's cost per shell step: a `true` step 200 times under `isolation: 'none'` and 200
 * times in the jail (alternating, after a warm-up), medians and 90th percentiles of the wall
 * time of `runShell`; the same in a subdirectory of the root (the jail's start-up check runs);
 * then a 200-step chain of `true` steps through a supervisor both ways.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createSupervisor, type PlanInput, probeJail, resolveSandbox, runShell } from '../../src/index.js';

const RUNS = 200;

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

async function chainMs(dir: string, isolation: 'none' | 'jail'): Promise<number> {
  const root = fs.mkdtempSync(path.join(dir, `chain-${isolation}-`));
  const sv = await createSupervisor({
    db: path.join(root, 'bench.db'),
    sandbox: { allow: ['true'], cwd: root, isolation },
  });
  const plan: PlanInput = {
    steps: Array.from({ length: RUNS }, (_, i) => ({
      id: `s${i}`,
      dependsOn: i === 0 ? [] : [`s${i - 1}`],
      action: { kind: 'shell', command: 'true' },
    })),
  };
  const started = performance.now();
  const run = await sv.start({ goal: 'bench', plan });
  const result = await run.done;
  const ms = performance.now() - started;
  await sv.close();
  if (result.phase !== 'completed') throw new Error(`the ${isolation} chain ended ${result.phase}`);
  return ms / RUNS;
}

/** One JSON line: the medians, the overhead, and the per-step cost through a supervisor. */
export async function jailOverhead(dir: string): Promise<Record<string, number | string>> {
  const root = fs.mkdtempSync(path.join(dir, 'jail-'));
  const policy = resolveSandbox({ allow: ['true'], cwd: root, isolation: 'none' });
  const jailed = resolveSandbox({ allow: ['true'], cwd: root, isolation: 'jail' });
  const support = await probeJail(jailed);
  if (!support.available) return { scenario: 'J', skipped: support.reason };
  fs.mkdirSync(path.join(root, 'sub'));
  const times = { none: [] as number[], jail: [] as number[], jailBelowRoot: [] as number[] };
  const once = async (sandbox: typeof policy, cwd?: string) => {
    const started = performance.now();
    const result = await runShell({ command: 'true', ...(cwd ? { cwd } : {}) }, sandbox);
    const ms = performance.now() - started;
    if (result.isolation !== sandbox.isolation) throw new Error(`ran with isolation ${result.isolation}`);
    return ms;
  };
  for (let i = 0; i < 10; i++) {
    await once(policy);
    await once(jailed);
  }
  for (let i = 0; i < RUNS; i++) {
    times.none.push(await once(policy));
    times.jail.push(await once(jailed));
    times.jailBelowRoot.push(await once(jailed, 'sub'));
  }
  for (const list of Object.values(times)) list.sort((a, b) => a - b);
  const medianNone = quantile(times.none, 0.5);
  const medianJail = quantile(times.jail, 0.5);
  return {
    scenario: 'J',
    runs: RUNS,
    medianMsNone: round(medianNone),
    medianMsJail: round(medianJail),
    overheadMs: round(medianJail - medianNone),
    p90MsNone: round(quantile(times.none, 0.9)),
    p90MsJail: round(quantile(times.jail, 0.9)),
    medianMsJailBelowRoot: round(quantile(times.jailBelowRoot, 0.5)),
    chainStepMsNone: round(await chainMs(dir, 'none')),
    chainStepMsJail: round(await chainMs(dir, 'jail')),
    bwrap: support.version,
    note: 'a `true` shell step: runShell wall time, and per step of a 200-step chain through a supervisor',
  };
}
