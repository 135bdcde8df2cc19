/**
 * Store faults heal: a database another process keeps locked longer than the busy timeout,
 * a full disk (a small tmpfs, mounted by the test when it runs as root), and a damaged
 * file. While the store fails, calls are told with a coded error naming the file, health()
 * and faults$ say so, and once the cause is gone the same supervisor goes on — no instance
 * stays broken, no run stalls silently.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { isTaskvisorError } from '../../src/errors.js';
import type { StoreFault } from '../../src/runtime/store-faults.js';
import { openSqliteStore } from '../../src/store/sqlite-open.js';
import type { ActionFunction, Supervisor } from '../../src/index.js';
import { untilStep } from '../actions/helpers.js';
import { createGate, type Gate } from '../support/gate.js';
import { runTs } from '../support/processes.js';
import { fileDigest, useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

const harness = useSupervisorHarness();
const note = (id: string, dependsOn: string[] = []) => ({
  id,
  dependsOn,
  action: { kind: 'note', output: id },
});

/** A supervisor whose step `w` waits on a gate, then returns `output`. */
async function openWithGate(db: string, output: () => string) {
  const gates: Gate[] = [];
  const actions: Record<string, ActionFunction> = {
    wait: async () => {
      const gate = createGate();
      gates.push(gate);
      await gate.promise;
      return { output: output() };
    },
  };
  const clock = new ManualClock(1_000);
  const store = openSqliteStore(db, { busyTimeoutMs: 100 });
  harness.defer(() => store.close());
  const sv = await harness.open({ db: store, clock, actions, storeRetryMs: 1_000 });
  const notices: StoreFault[] = [];
  sv.faults$.subscribe((notice) => notices.push(notice));
  return { sv, clock, gates, notices, actions };
}

async function startGated(sv: Supervisor) {
  const run = await sv.start({
    goal: 'survive the store',
    plan: { steps: [{ id: 'w', action: { kind: 'wait' } }, note('after', ['w'])] },
  });
  await untilStep(sv, run.id, 'w', 'running');
  return run;
}

describe('a database another process keeps locked', () => {
  it('retries while it is locked, tells callers STORE_BUSY, and goes on once it is released', async () => {
    const db = harness.dbPath();
    const { sv, clock, gates, notices } = await openWithGate(db, () => 'done');
    const run = await startGated(sv);

    const holder = runTs(
      'test/store/lock-holder.ts',
      [db],
      (line) => lines.push(line),
      {},
      { stdin: 'pipe' },
    );
    const lines: string[] = [];
    harness.defer(() => holder.process.kill('SIGKILL'));
    await until(() => lines.includes('locked'), { what: 'the other process to lock the database' });

    gates[0]!.open();
    await until(() => notices.length > 0, { what: 'a fault notice' });
    expect(notices[0]).toMatchObject({ type: 'store.fault', state: 'failing', store: 'busy' });
    expect(await sv.health()).toMatchObject({
      ok: false,
      store: 'busy',
      detail: expect.stringContaining(db),
    });
    // A write is refused at once while the store fails, naming the file and what to do.
    const refused = await sv
      .start({ goal: 'later', plan: { steps: [note('a')] } })
      .catch((error: unknown) => error);
    expect(isTaskvisorError(refused, 'STORE_BUSY'), String(refused)).toBe(true);
    expect((refused as Error).message).toContain(db);
    expect((await sv.get(run.id))?.steps[0]?.state).toBe('running');

    // Still locked: the retries (on the clock) keep failing, nothing breaks.
    clock.advance(200);
    await until(() => clock.pending > 0);
    holder.process.stdin?.write('go\n');
    await until(() => lines.includes('released'), { what: 'the lock to be released' });
    await holder.exited;

    clock.advance(5_000);
    await until(() => notices.some((notice) => notice.state === 'recovered'), { what: 'recovery' });
    expect((await run.done).phase).toBe('completed');
    expect(await sv.health()).toEqual({ ok: true, store: 'ok' });
    const again = await sv.start({ goal: 'after the lock', plan: { steps: [note('a')] } });
    expect((await again.done).phase).toBe('completed');
    expect(await sv.verifyAudit()).toMatchObject({ ok: true });
  });
});

/** Whether this process may mount a tmpfs (root with the capability); why not, otherwise. */
function tmpfsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'tmpfs mounts are a Linux test';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const probe = fs.mkdtempSync('/tmp/taskvisor-tmpfs-probe-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'mount -t tmpfs was refused here';
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
}

const noTmpfs = tmpfsUnavailable();
if (noTmpfs) console.log(`skipping the full-disk tests: ${noTmpfs}`);

describe.runIf(noTmpfs === undefined)('a full disk', () => {
  function mountSmallDisk(): string {
    const dir = harness.tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir]);
    harness.defer(() => execFileSync('umount', ['-l', dir]));
    return dir;
  }

  /** Fills the disk to the last block; returns the filler to remove. */
  function fill(dir: string): string {
    const filler = path.join(dir, 'filler');
    const fd = fs.openSync(filler, 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) fs.writeSync(fd, chunk);
    } catch {
      // ENOSPC: full. Then the last few bytes.
      for (;;) {
        try {
          fs.writeSync(fd, Buffer.alloc(512, 1));
        } catch {
          break;
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    return filler;
  }

  it('reports STORE_FULL while the disk is full, and the same supervisor goes on once space is freed', async () => {
    const dir = mountSmallDisk();
    const db = path.join(dir, 'runs.db');
    // Each output is bigger than the write-ahead log has room for, so it needs new blocks.
    const { sv, clock, gates, notices } = await openWithGate(db, () => 'x'.repeat(1_500_000));
    const run = await startGated(sv);
    const filler = fill(dir);

    gates[0]!.open();
    await until(() => notices.length > 0, { what: 'a fault notice' });
    expect(notices[0]).toMatchObject({ state: 'failing', store: 'full' });
    expect(await sv.health()).toMatchObject({
      ok: false,
      store: 'full',
      detail: expect.stringContaining('full'),
    });
    const refused = await sv
      .start({ goal: 'later', plan: { steps: [note('a')] } })
      .catch((error: unknown) => error);
    expect(isTaskvisorError(refused, 'STORE_FULL'), String(refused)).toBe(true);

    fs.rmSync(filler);
    clock.advance(5_000);
    await until(() => notices.some((notice) => notice.state === 'recovered'), { what: 'recovery' });
    expect((await run.done).phase).toBe('completed');
    expect((await sv.get(run.id))?.steps[0]?.output).toHaveLength(1_500_000);
    expect(await sv.health()).toEqual({ ok: true, store: 'ok' });
  });

  it('does not stall silently when opened on a full disk with a run to take over', async () => {
    const dir = mountSmallDisk();
    const db = path.join(dir, 'runs.db');
    const first = await openWithGate(db, () => 'x'.repeat(1_500_000));
    const run = await startGated(first.sv);
    await first.sv.close();
    const filler = fill(dir);

    // The run is taken over and its step re-run; its big output cannot be written.
    const second = await openWithGate(db, () => 'x'.repeat(1_500_000));
    await until(async () => (await second.sv.health()).store === 'full' || second.gates.length > 0);
    if (second.gates.length > 0) second.gates[0]!.open();
    await until(async () => (await second.sv.health()).store === 'full', {
      what: 'health() to report the full disk',
    });
    expect(second.notices.at(-1)).toMatchObject({ state: 'failing', store: 'full' });

    fs.rmSync(filler);
    second.clock.advance(30_000);
    await until(async () => second.gates.length > 0 || (await second.sv.get(run.id))?.phase === 'completed');
    if (second.gates.length > 0) second.gates.at(-1)!.open();
    second.clock.advance(5_000);
    await until(async () => (await second.sv.get(run.id))?.phase === 'completed', {
      what: 'the run to complete',
    });
    expect(await second.sv.health()).toEqual({ ok: true, store: 'ok' });
  });
});

describe('a damaged database file', () => {
  it('is refused when opened, before anything is written into it, and left as it was', async () => {
    const db = harness.dbPath();
    const sv = await harness.open({ db });
    for (let index = 0; index < 40; index++) {
      const run = await sv.start({
        goal: `run ${index}`,
        plan: { steps: [note('a'), note('b', ['a']), note('c', ['b'])] },
      });
      await run.done;
    }
    await sv.close();
    const size = fs.statSync(db).size;
    expect(size).toBeGreaterThan(200_000);
    for (const [trial, at] of [0.3, 0.45, 0.6, 0.75].entries()) {
      const copy = path.join(harness.tempDir(), `damaged-${trial}.db`);
      fs.copyFileSync(db, copy);
      const fd = fs.openSync(copy, 'r+');
      fs.writeSync(fd, randomBytes(8 * 1024), 0, 8 * 1024, Math.floor((size * at) / 4096) * 4096);
      fs.closeSync(fd);
      const before = fileDigest(copy);
      const error = await harness.open({ db: copy }).catch((caught: unknown) => caught);
      expect(isTaskvisorError(error, 'STORE_CORRUPT'), `trial ${trial}: ${String(error)}`).toBe(true);
      expect((error as Error).message).toContain(copy);
      expect((error as Error).message).toContain('taskvisor doctor');
      expect(fileDigest(copy)).toBe(before);
    }
  });
});
