/**
 * `taskvisor worker` and `taskvisor prune`, as real processes, on SQLite and (when a server
 * is there) PostgreSQL by --db URL: the worker drives a run a client started and stops
 * cleanly on SIGTERM (exit 0, leases released); prune deletes the finished runs and the
 * audit still verifies; bad flags exit 2 naming the value.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { createSupervisor } from '../../src/supervisor.js';
import { explainSkip, freshSchemaUrl, withPostgres } from '../support/postgres.js';
import { inProcess, start, tempDir, tv } from './cli.js';

explainSkip('the worker and prune commands on PostgreSQL');

const dirs: Array<{ remove(): void }> = [];
afterAll(() => {
  for (const dir of dirs) dir.remove();
});

const plan = {
  steps: [
    { id: 'a', action: { kind: 'note', output: 'one' } },
    { id: 'b', dependsOn: ['a'], action: { kind: 'note', output: 'two' } },
  ],
};

for (const backend of [
  { name: 'SQLite', run: true, postgres: false },
  { name: 'PostgreSQL', run: withPostgres, postgres: true },
]) {
  describe.runIf(backend.run)(`worker and prune on ${backend.name}`, () => {
    const place = () => {
      const dir = tempDir('worker');
      dirs.push(dir);
      return { cwd: dir.dir, db: backend.postgres ? freshSchemaUrl('cli') : path.join(dir.dir, 'runs.db') };
    };

    it('drives a run a client started, then stops on SIGTERM with exit 0 and its leases released', async () => {
      const { cwd, db } = place();
      const client = await createSupervisor({ db, drive: 'none', pollMs: 20 });
      try {
        const worker = start(['worker', '--db', db, '--concurrency', '2', '--grace', '5s'], { cwd });
        await worker.line('driving runs of');
        const run = await client.start({ goal: 'for the worker', plan });
        expect((await run.done).outputs).toEqual({ a: 'one', b: 'two' });
        await worker.line(`run ${run.id}: running → completed`);
        // A run awaiting approval stays held by the worker until it stops.
        const waiting = await client.start({ goal: 'later', plan, requireApproval: true });
        await expect
          .poll(async () => (await client.get(waiting.id))?.phase, { timeout: 10_000 })
          .toBe('awaitingApproval');
        // ls tells who drives it (the driver probe reads leases on either backend).
        const listed = await tv(['ls', '--db', db, '--json'], { cwd });
        expect(listed.code, listed.stderr).toBe(0);
        const rows = JSON.parse(listed.stdout) as Array<{
          id: string;
          status?: { driver: string; pid?: number };
        }>;
        expect(rows.find((row) => row.id === waiting.id)?.status).toMatchObject({
          driver: 'live',
          pid: worker.process.pid,
        });
        worker.process.kill('SIGTERM');
        const exit = await worker.exited;
        expect(exit.code, exit.stderr).toBe(0);
        expect(exit.stdout).toContain('SIGTERM: stopping');
        expect(exit.stdout).toContain('stopped: leases released');
        const store = (client as unknown as { runtime: { store: Store } }).runtime.store;
        expect((await store.runs.getRun(waiting.id))?.lease).toBeUndefined();
      } finally {
        await client.close();
      }
    }, 60_000);

    it('prunes finished runs and keeps the audit verifiable; refuses a bad --older-than with exit 2', async () => {
      const { cwd, db } = place();
      const sv = await createSupervisor({ db });
      const done = await sv.start({ goal: 'done', plan });
      await done.done;
      const open = await sv.start({ goal: 'open', plan, requireApproval: true });
      await sv.close();

      const bad = await tv(['prune', '--db', db, '--older-than', 'soon'], { cwd });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('"soon"');
      const none = await tv(['prune', '--db', db, '--older-than', '30d', '--json'], { cwd });
      expect(JSON.parse(none.stdout)).toEqual({ runs: 0, events: 0 });
      const pruned = await tv(['prune', '--db', db, '--older-than', '0s'], { cwd });
      expect(pruned.code, pruned.stderr).toBe(0);
      expect(pruned.stdout).toMatch(/pruned 1 finished run\(s\) and their \d+ event\(s\)/);

      if (backend.postgres) {
        // What the commands print about a PostgreSQL database never shows its password.
        const empty = freshSchemaUrl('empty');
        const listed = await tv(['ls', '--db', empty], { cwd });
        expect(listed.code, listed.stderr).toBe(0);
        expect(listed.stdout).toContain('no runs in postgres://');
        const password = new URL(empty).password;
        expect(password === '' || !`${listed.stdout}${pruned.stdout}`.includes(password)).toBe(true);
      }

      const after = await createSupervisor({ db, resume: false });
      try {
        expect((await after.list()).map((view) => view.id)).toEqual([open.id]);
        expect(await after.verifyAudit()).toMatchObject({ ok: true, runs: 1 });
      } finally {
        await after.close();
      }
    }, 60_000);
  });
}

describe('worker and prune flags', () => {
  it('exit 2 naming the bad value', async () => {
    expect((await inProcess(['prune'])).stderr).toContain('--older-than');
    const phase = await inProcess(['prune', '--db', ':memory:', '--older-than', '1d', '--phase', 'running']);
    expect(phase.code).toBe(2);
    expect(phase.stderr).toContain('"running" is not a finished phase');
    const grace = await inProcess(['worker', '--db', ':memory:', '--grace', 'forever']);
    expect(grace.code).toBe(2);
    expect(grace.stderr).toContain('"forever"');
  });
});
