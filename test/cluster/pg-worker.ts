/**
 * A worker process for the PostgreSQL cluster tests:
 * `node --import tsx pg-worker.ts <db url> <effects file> <leaseMs> <pollMs> [stepMs]`.
 *
 * It opens a supervisor with `drive: 'all'` and drives whatever runs need a driver. Every
 * step it runs is appended to the effects file with this process's pid, host and the
 * fence of the run's lease as the database holds it at that moment — the log the tests
 * read to prove that no run was driven by two processes at once. It prints `ready <pid>
 * <host>` once open, `fault <state> <store>` whenever `faults$` reports, `health <json>` for
 * each `health` line on stdin, and stops cleanly on
 * SIGTERM (exit 0). The tests kill it with SIGKILL wherever they like.
 */
import { appendFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { createSupervisor } from '../../src/index.js';
import type { ActionFunction } from '../../src/index.js';

const [db, effectsFile, leaseArg = '30000', pollArg = '100', stepMsArg] = process.argv.slice(2);
/** When given, every step takes this long (until aborted), whatever its input says. */
const stepMs = stepMsArg === undefined ? undefined : Number(stepMsArg);
if (!db || !effectsFile) {
  console.error('usage: pg-worker.ts <db url> <effects file> [leaseMs] [pollMs] [stepMs]');
  process.exit(2);
}

// A connection of its own to read the lease's fence (the schema from taskvisor's ?schema=).
const target = new URL(db);
const schema = target.searchParams.get('schema');
target.searchParams.delete('schema');
const reader = new pg.Pool({
  connectionString: target.toString(),
  max: 2,
  ...(schema ? { options: `-c search_path=${schema}` } : {}),
});
reader.on('error', () => undefined);

/** The run's fence now; asked again while the server is away (a step can begin during an outage). */
async function fenceOf(runId: string): Promise<string> {
  for (let tries = 0; ; tries++) {
    try {
      const rows = await reader.query<{ fence: string }>('SELECT fence FROM runs WHERE id = $1', [runId]);
      return String(rows.rows[0]?.fence ?? '?');
    } catch (error) {
      if (tries >= 600) return `? (${(error as Error).message})`.replace(/\s+/g, '_');
      await delay(50);
    }
  }
}

const work =
  (kind: 'effect' | 'read'): ActionFunction =>
  async (input, ctx) => {
    const fence = await fenceOf(ctx.runId);
    appendFileSync(
      effectsFile!,
      `${kind} ${ctx.runId} ${ctx.stepId} ${ctx.attempt} ${process.pid} ${os.hostname()} ${fence} ${Date.now()}\n`,
    );
    await delay(stepMs ?? Number(input.ms ?? 20), undefined, { signal: ctx.signal });
    return { output: `${ctx.stepId}@${ctx.attempt}` };
  };

const sv = await createSupervisor({
  db,
  drive: 'all',
  leaseMs: Number(leaseArg),
  pollMs: Number(pollArg),
  concurrency: { runs: 4, stepsPerRun: 2 },
  actions: { effect: work('effect'), read: work('read') },
});
sv.faults$.subscribe((fault) => console.log(`fault ${fault.state} ${fault.store}`));
// `health` on stdin: prints `health <json>` (what health() says now).
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  for (const line of chunk.split('\n')) {
    if (line.trim() === 'health')
      void sv.health().then((health) => console.log(`health ${JSON.stringify(health)}`));
  }
});
let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void sv.close({ graceMs: 5000 }).then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
console.log(`ready ${process.pid} ${os.hostname()}`);
// The supervisor's timers do not hold the process open; a worker stays until it is stopped.
setInterval(() => undefined, 1 << 30);
