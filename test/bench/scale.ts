/**
 * The benchmark scenarios of the speed issue beyond W1–W3: memory per pending step, storage
 * per step, many runs at once, and per-step cost at N = 1,000 vs N = 100,000 (chain and wide).
 * Each returns one JSON-ready record; `scenario.ts` runs one per process.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createSupervisor, type PlanInput } from '../../src/index.js';

/** The benchmark's no-op: returns its index and 100 characters. */
export const actions = {
  noop: async (input: Record<string, unknown>) => ({ output: { i: input.i, out: 'x'.repeat(100) } }),
};

export function chain(n: number, idempotent: boolean): PlanInput {
  return {
    steps: Array.from({ length: n }, (_, i) => ({
      id: `s${i}`,
      dependsOn: i === 0 ? [] : [`s${i - 1}`],
      ...(idempotent ? { idempotent: true } : {}),
      action: { kind: 'noop', i },
    })),
  };
}

export function wide(n: number): PlanInput {
  const steps = Array.from({ length: n }, (_, i) => ({ id: `s${i}`, action: { kind: 'noop', i } }));
  return {
    steps: [
      ...steps,
      { id: 'join', dependsOn: steps.map((step) => step.id), action: { kind: 'noop', i: n } },
    ],
  };
}

/** N for the large plans; `BENCH_LARGE_N` makes a quick check of the scenarios possible. */
export const LARGE_N = Number(process.env.BENCH_LARGE_N ?? 100_000);
/** Plans that large are over the default `limits.planSteps` (10,000): raised for these scenarios. */
const limits = { planSteps: LARGE_N + 1 };

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
  gc();
}

/**
 * Memory per pending step: the heap a started LARGE_N-step chain holds while its first step
 * runs (every other step pending), over the heap before start(), per step. The plan object is
 * the caller's and stays referenced, so it is not counted.
 */
export async function memoryPerPendingStep(dir: string) {
  const n = LARGE_N;
  const plan = chain(n, true);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let running!: () => void;
  const firstRuns = new Promise<void>((resolve) => (running = resolve));
  const sv = await createSupervisor({
    db: path.join(dir, 'M.db'),
    limits,
    actions: {
      noop: async (input: Record<string, unknown>) => {
        if (input.i === 0) {
          running();
          await gate;
        }
        return { output: { i: input.i } };
      },
    },
  });
  collect();
  const before = process.memoryUsage();
  const startedAt = performance.now();
  await sv.start({ goal: 'bench', plan });
  const startMs = performance.now() - startedAt;
  await firstRuns;
  collect();
  const after = process.memoryUsage();
  const perStep = (after.heapUsed + after.external - before.heapUsed - before.external) / n;
  release();
  void plan.steps.length; // the caller's plan stays alive until here
  return {
    scenario: 'M',
    steps: n,
    bytesPerPendingStep: Math.round(perStep),
    startMs: Math.round(startMs),
    rssMb: Math.round((after.rss / 1024 / 1024) * 10) / 10,
    note: 'heap + external held by a started chain while its first step runs',
  };
}

function databaseBytes(db: string): { total: number; outputs: number } {
  const raw = new Database(db);
  try {
    raw.pragma('wal_checkpoint(TRUNCATE)');
    const total = (raw.prepare('SELECT SUM(pgsize) AS bytes FROM dbstat').get() as { bytes: number }).bytes;
    const outputs =
      (
        raw.prepare('SELECT SUM(LENGTH(CAST(json AS BLOB))) AS bytes FROM outputs').get() as {
          bytes: number | null;
        }
      ).bytes ?? 0;
    return { total, outputs };
  } finally {
    raw.close();
  }
}

/** Storage per step, the output itself excluded: a 2,000-step chain's database over an empty one's. */
export async function storagePerStep(dir: string) {
  const n = 2000;
  const emptyDb = path.join(dir, 'ST-empty.db');
  await (await createSupervisor({ db: emptyDb, actions })).close();
  const db = path.join(dir, 'ST.db');
  const sv = await createSupervisor({ db, actions });
  const run = await sv.start({ goal: 'bench', plan: chain(n, true) });
  const result = await run.done;
  await sv.close();
  if (result.phase !== 'completed') throw new Error(`run ended ${result.phase}`);
  const empty = databaseBytes(emptyDb);
  const full = databaseBytes(db);
  return {
    scenario: 'ST',
    steps: n,
    bytesPerStep: Math.round((full.total - empty.total - full.outputs) / n),
    outputBytesPerStep: Math.round(full.outputs / n),
    fileBytes: fs.statSync(db).size,
    note: 'database pages per step (dbstat), the stored output JSON excluded',
  };
}

/** 1,000 runs × 10 steps with concurrency.runs 50. */
export async function manyRuns(dir: string) {
  const runs = 1000;
  const perRun = 10;
  const sv = await createSupervisor({ db: path.join(dir, 'R.db'), actions, concurrency: { runs: 50 } });
  const started = performance.now();
  const handles = [];
  for (let index = 0; index < runs; index++) {
    handles.push(await sv.start({ goal: `bench ${index}`, plan: chain(perRun, true) }));
  }
  const results = await Promise.all(handles.map((handle) => handle.done));
  const ms = performance.now() - started;
  await sv.close();
  const notCompleted = results.filter((result) => result.phase !== 'completed').length;
  if (notCompleted > 0) throw new Error(`${notCompleted} runs did not complete`);
  return {
    scenario: 'R',
    runs,
    steps: runs * perRun,
    ms: Math.round(ms),
    stepsPerSecond: Math.round((runs * perRun) / (ms / 1000)),
    note: '1,000 runs × 10 steps, concurrency.runs 50',
  };
}

/** Per-step cost at N = 1,000 and N = LARGE_N, one warmed-up process, for a plan shape. */
export async function perStepAtScale(dir: string, shape: 'chain' | 'wide') {
  const plan = (n: number) => (shape === 'chain' ? chain(n, true) : wide(n - 1));
  const timed = async (n: number, label: string) => {
    const sv = await createSupervisor({ db: path.join(dir, `${label}.db`), actions, limits });
    const started = performance.now();
    const run = await sv.start({ goal: 'bench', plan: plan(n) });
    const result = await run.done;
    const ms = performance.now() - started;
    await sv.close();
    if (result.phase !== 'completed') throw new Error(`${label} ended ${result.phase}`);
    return ms / n;
  };
  await timed(2000, `${shape}-warmup`);
  const small = await timed(1000, `${shape}-1000`);
  const large = await timed(LARGE_N, `${shape}-${LARGE_N}`);
  return {
    scenario: shape === 'chain' ? 'S-chain' : 'S-wide',
    perStepMsAt1000: Math.round(small * 1000) / 1000,
    [`perStepMsAt${LARGE_N}`]: Math.round(large * 1000) / 1000,
    ratio: Math.round((large / small) * 100) / 100,
    peakRssMb: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
  };
}
