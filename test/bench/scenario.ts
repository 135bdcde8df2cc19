/**
 * One benchmark scenario per process: `node .bench/test/bench/scenario.js <name> <dir>`.
 * Prints one JSON line. Every scenario checks its result: all outputs are read back
 * from the database (a fresh read-only supervisor) and compared with what they must be.
 */
import path from 'node:path';
import { createSupervisor, type PlanInput, type Supervisor } from '../../src/index.js';
import { fanoutPersistence } from './fanout-persistence.js';
import { jailOverhead } from './jail-overhead.js';
import {
  actions,
  chain,
  manyRuns,
  memoryPerPendingStep,
  perStepAtScale,
  storagePerStep,
  wide,
} from './scale.js';

const [name, dir] = process.argv.slice(2);
if (!name || !dir) {
  console.error(
    'usage: scenario.js <W1|W1-full|W1-strict|W2|W3-crash|W3-resume|S|S-chain|S-wide|M|ST|R|J|F> <dir>',
  );
  process.exit(2);
}

/** Reads the run back from the database and checks every output. */
async function verify(db: string, runId: string, expected: number): Promise<void> {
  const reader = await createSupervisor({ db, resume: false });
  try {
    const view = await reader.get(runId);
    if (!view || view.phase !== 'completed') throw new Error(`run ${runId} is ${view?.phase}`);
    const outputs = view.steps.filter((step) => step.state === 'succeeded');
    if (outputs.length !== expected)
      throw new Error(`${outputs.length} of ${expected} outputs in the database`);
    for (const step of view.steps) {
      const output = step.output as { i: number; out: string } | undefined;
      const i = step.id === 'join' ? expected - 1 : Number(step.id.slice(1));
      if (output?.i !== i || output.out.length !== 100)
        throw new Error(`wrong output for ${step.id}: ${JSON.stringify(output)}`);
    }
  } finally {
    await reader.close();
  }
}

async function timed(sv: Supervisor, plan: PlanInput) {
  const started = performance.now();
  const run = await sv.start({ goal: 'bench', plan });
  const result = await run.done;
  if (result.phase !== 'completed') throw new Error(`run ended ${result.phase}: ${result.error}`);
  return { runId: run.id, ms: performance.now() - started };
}

function mb(kilobytes: number): number {
  return Math.round((kilobytes / 1024) * 10) / 10;
}

async function steps(
  n: number,
  plan: PlanInput,
  label: string,
  extra: Record<string, unknown> = {},
  durability?: 'full',
) {
  const db = path.join(dir!, `${label}.db`);
  const sv = await createSupervisor({ db, actions, ...(durability ? { durability } : {}) });
  const { runId, ms } = await timed(sv, plan);
  await sv.close();
  await verify(db, runId, n);
  return {
    scenario: label,
    steps: n,
    ms: Math.round(ms),
    stepsPerSecond: Math.round(n / (ms / 1000)),
    ...extra,
  };
}

switch (name) {
  case 'W1': {
    const result = await steps(300, chain(300, true), 'W1', { note: 'no-op steps marked idempotent: true' });
    console.log(JSON.stringify({ ...result, peakRssMb: mb(process.resourceUsage().maxRSS) }));
    break;
  }
  case 'W1-full': {
    const result = await steps(
      300,
      chain(300, true),
      'W1-full',
      { note: "as W1, with durability: 'full' (fsync per commit)" },
      'full',
    );
    console.log(JSON.stringify({ ...result, peakRssMb: mb(process.resourceUsage().maxRSS) }));
    break;
  }
  case 'W1-strict': {
    // Default custom steps: not idempotent, so each waits for its intent to be committed.
    const result = await steps(300, chain(300, false), 'W1-strict', {
      note: 'one commit before each step runs',
    });
    console.log(JSON.stringify({ ...result, peakRssMb: mb(process.resourceUsage().maxRSS) }));
    break;
  }
  case 'W2': {
    console.log(
      JSON.stringify(
        await steps(301, wide(300), 'W2', { note: '300 independent steps + a join, stepsPerRun 4' }),
      ),
    );
    break;
  }
  case 'W3-crash': {
    // Runs 300 steps and dies (SIGKILL) while step 150 runs.
    const db = path.join(dir, 'W3.db');
    const sv = await createSupervisor({
      db,
      actions: {
        noop: async (input: Record<string, unknown>) => {
          if (input.i === 150) process.kill(process.pid, 'SIGKILL');
          return { output: { i: input.i, out: 'x'.repeat(100) } };
        },
      },
    });
    await sv.start({ goal: 'bench', plan: chain(300, true) });
    await new Promise(() => {});
    break;
  }
  case 'W3-resume': {
    // A fresh process: time from its start to the first resumed step, and to done.
    const db = path.join(dir, 'W3.db');
    let firstStepMs: number | undefined;
    let runId = '';
    const done = new Promise<number>((resolve) => {
      void import('../../src/index.js').then(async ({ createSupervisor: open }) => {
        const sv = await open({ db, actions, resume: false });
        sv.events$.subscribe((event) => {
          if (event.type === 'step.transition' && event.to === 'running' && firstStepMs === undefined) {
            firstStepMs = performance.now();
          }
          if (event.type === 'run.transition' && event.to === 'completed') {
            runId = event.runId;
            const at = performance.now();
            void sv.close().then(() => resolve(at));
          }
        });
        await sv.resume();
      });
    });
    const doneMs = await done;
    await verify(db, runId, 300);
    console.log(
      JSON.stringify({
        scenario: 'W3',
        steps: 300,
        firstResumedStepMs: Math.round(firstStepMs ?? Number.NaN),
        doneMs: Math.round(doneMs),
        note: 'ms since the resuming process started',
      }),
    );
    break;
  }
  case 'S': {
    // Per-step cost of a 100-step chain vs a 10,000-step chain, in one warmed-up process.
    await steps(2000, chain(2000, true), 'S-warmup');
    const small = await steps(100, chain(100, true), 'S-100');
    const large = await steps(10_000, chain(10_000, true), 'S-10000');
    const perSmall = small.ms / 100;
    const perLarge = large.ms / 10_000;
    console.log(
      JSON.stringify({
        scenario: 'S',
        perStepMsAt100: Math.round(perSmall * 1000) / 1000,
        perStepMsAt10000: Math.round(perLarge * 1000) / 1000,
        ratio: Math.round((perLarge / perSmall) * 100) / 100,
        peakRssMb: mb(process.resourceUsage().maxRSS),
      }),
    );
    break;
  }
  case 'S-chain':
  case 'S-wide': {
    console.log(JSON.stringify(await perStepAtScale(dir, name === 'S-chain' ? 'chain' : 'wide')));
    break;
  }
  case 'M': {
    console.log(JSON.stringify(await memoryPerPendingStep(dir)));
    break;
  }
  case 'ST': {
    console.log(JSON.stringify(await storagePerStep(dir)));
    break;
  }
  case 'R': {
    console.log(JSON.stringify(await manyRuns(dir)));
    break;
  }
  case 'J': {
    // The jail's cost per shell step (bubblewrap), jailed vs not.
    console.log(JSON.stringify(await jailOverhead(dir)));
    break;
  }
  case 'F': {
    // What one fan-out worker transition costs the persistence loop (bytes and µs).
    console.log(JSON.stringify(await fanoutPersistence(dir)));
    break;
  }
  default:
    console.error(`unknown scenario ${name}`);
    process.exit(2);
}
process.exit(0);
