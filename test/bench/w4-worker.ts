/**
 * A W4 worker process: `node .bench/test/bench/w4-worker.js <db url>`. Drives runs
 * (`drive: 'all'`, up to 16 at a time) until SIGTERM; prints `ready` once open.
 */
import { createSupervisor } from '../../src/index.js';

const [db] = process.argv.slice(2);
if (!db) {
  console.error('usage: w4-worker.js <db url>');
  process.exit(2);
}
const sv = await createSupervisor({
  db,
  drive: 'all',
  concurrency: { runs: 16, stepsPerRun: 1 },
  actions: {
    noop: async (input: Record<string, unknown>) => ({ output: { i: input.i, out: 'x'.repeat(100) } }),
  },
});
process.on('SIGTERM', () => {
  void sv.close({ graceMs: 5000 }).then(() => process.exit(0));
});
console.log('ready');
setInterval(() => undefined, 1 << 30);
