/**
 * A process for the concurrent-open test: `node --import tsx open-churn.ts <writer|opener> <db>`.
 * Each loads taskvisor, then waits for a line "go [delay ms]" on stdin, so that the parent
 * can release all of them at one moment, each a few milliseconds apart (each then opens the
 * database for the first time in its life, as a CLI command does):
 * - `writer` starts a run whose one step waits for confirmation, prints `committed <run id>`
 *   once that is durable, and stays open until the parent kills it;
 * - `opener` opens a supervisor, lists the runs and closes it, three times, and exits.
 */
import { createInterface } from 'node:readline';
import { createSupervisor } from '../../src/index.js';

const [mode, db] = process.argv.slice(2);
if ((mode !== 'writer' && mode !== 'opener') || !db) {
  console.error('usage: open-churn.ts <writer|opener> <db>');
  process.exit(2);
}

const lines = createInterface({ input: process.stdin });
lines.once('line', (line) => {
  lines.close();
  process.stdin.destroy();
  const delay = Number(line.split(' ')[1] ?? 0);
  setTimeout(() => void (mode === 'writer' ? write(db) : openAndClose(db)), delay);
});

async function write(file: string): Promise<void> {
  const sv = await createSupervisor({ db: file });
  // Events are emitted only once committed: this one says the run is durable.
  sv.events$.subscribe((event) => {
    if (event.type === 'step.transition' && event.to === 'awaitingConfirmation')
      console.log(`committed ${event.runId}`);
  });
  await sv.start({
    goal: 'churn',
    plan: { steps: [{ id: 'wipe', tier: 'destructive', action: { kind: 'note', output: 'done' } }] },
  });
  setInterval(() => {}, 60_000); // stay open: the SIGKILL comes from the parent
}

async function openAndClose(file: string): Promise<void> {
  for (let time = 0; time < 3; time++) {
    const sv = await createSupervisor({ db: file });
    await sv.list();
    await sv.close();
  }
}
