/**
 * W4: 200 runs × 10 steps on PostgreSQL, driven by 1, 2 and 3 worker processes
 * (`w4-worker.js`, `drive: 'all'`), started by a client in this process (`drive: 'none'`):
 * `node .bench/test/bench/w4-postgres.js <postgres url>`. For each worker count it prints
 * one JSON line: steps/s from the first start() to the last run's end, and the median time
 * from a client's start() to the first step of that run running in a worker (the event's
 * commit time, one machine's clock) — in the burst of 200, and for 20 runs started one at a
 * time on idle workers. Every run's outputs are checked from the database.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createSupervisor, type PlanInput } from '../../src/index.js';

const [url] = process.argv.slice(2);
if (!url) {
  console.error('usage: w4-postgres.js <postgres url>');
  process.exit(2);
}
const worker = fileURLToPath(new URL('./w4-worker.js', import.meta.url));
const RUNS = 200;
const STEPS = 10;

const chain: PlanInput = {
  steps: Array.from({ length: STEPS }, (_, i) => ({
    id: `s${i}`,
    dependsOn: i === 0 ? [] : [`s${i - 1}`],
    action: { kind: 'noop', i },
  })),
};

function startWorker(db: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [worker, db], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`a W4 worker exited (${code}) before it was ready`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'ready') resolve(child);
    });
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function scenario(workers: number) {
  const target = new URL(url!);
  target.searchParams.set('schema', `bench_w4_${workers}_${randomBytes(4).toString('hex')}`);
  const db = target.toString();
  const never = async () => {
    throw new Error('the W4 client drives nothing');
  };
  const client = await createSupervisor({ db, drive: 'none', actions: { noop: never } });
  const children = await Promise.all(Array.from({ length: workers }, () => startWorker(db)));
  try {
    const firstStep = new Map<string, number>();
    client.events$.subscribe((event) => {
      if (event.type === 'step.transition' && event.to === 'running' && !firstStep.has(event.runId))
        firstStep.set(event.runId, event.at);
    });
    const began = Date.now();
    const startedAt = new Map<string, number>();
    const handles = [];
    for (let index = 0; index < RUNS; index++) {
      const at = Date.now();
      const handle = await client.start({ goal: `w4 ${index}`, plan: chain });
      startedAt.set(handle.id, at);
      handles.push(handle);
    }
    const results = await Promise.all(handles.map((handle) => handle.done));
    const ms = Date.now() - began;
    for (const [index, result] of results.entries()) {
      if (result.phase !== 'completed') throw new Error(`run ${handles[index]!.id} ended ${result.phase}`);
    }
    // Read back from the database: every output of every run.
    for (const handle of handles) {
      const view = await client.get(handle.id);
      const outputs = view?.steps.map((step) => (step.output as { i?: number } | undefined)?.i);
      if (JSON.stringify(outputs) !== JSON.stringify(chain.steps.map((_, i) => i)))
        throw new Error(`wrong outputs for ${handle.id}: ${JSON.stringify(outputs)}`);
    }
    const latencies = handles.map((handle) => firstStep.get(handle.id)! - startedAt.get(handle.id)!);
    // The same on idle workers: one run at a time (the batch above mostly measures the queue).
    const idle: number[] = [];
    for (let index = 0; index < 20; index++) {
      const at = Date.now();
      const handle = await client.start({ goal: `w4 idle ${index}`, plan: chain });
      if ((await handle.done).phase !== 'completed') throw new Error(`run ${handle.id} did not complete`);
      idle.push(firstStep.get(handle.id)! - at);
    }
    return {
      scenario: `W4-${workers}`,
      workers,
      runs: RUNS,
      steps: RUNS * STEPS,
      ms,
      stepsPerSecond: Math.round((RUNS * STEPS) / (ms / 1000)),
      startToFirstStepMedianMs: median(latencies),
      idleStartToFirstStepMedianMs: median(idle),
      note: 'PostgreSQL; steps not idempotent (one commit before each runs); client drive: none',
    };
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => new Promise((resolve) => child.on('exit', resolve))));
    await client.close();
  }
}

for (const workers of [1, 2, 3]) console.log(JSON.stringify(await scenario(workers)));
process.exit(0);
