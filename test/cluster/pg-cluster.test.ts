/**
 * taskvisor on PostgreSQL across processes and hosts, with real worker processes
 * (test/cluster/pg-worker.ts, `drive: 'all'`) and a client in the test (`drive: 'none'`):
 * - three workers, one SIGKILLed mid-run: every run completes, no step with side effects
 *   runs twice unless a human confirmed it, no run is driven by two workers at once (the
 *   fences the workers logged prove it), the client follows every run with no gap and no
 *   duplicate, and a command from the client reaches the worker through LISTEN/NOTIFY;
 * - the server stopped and started under a running worker (a private cluster): health()
 *   reports the outage, the worker reconnects and every run completes;
 * - a worker on a "different host" (its own network and UTS namespaces, reaching the
 *   server through a veth pair), SIGKILLed: its runs are taken over once its lease expires
 *   and not before.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import type { TaskvisorEvent } from '../../src/model/events.js';
import type { ActionFunction } from '../../src/runtime/executor.js';
import { createSupervisor, type Supervisor } from '../../src/supervisor.js';
import { createRemoteHost, remoteHostUnavailable } from '../support/netns.js';
import { privateClusterUnavailable, startPrivateCluster } from '../support/pg-cluster.js';
import { explainSkip, freshSchemaUrl, pgQuery, withPostgres } from '../support/postgres.js';
import { REPO } from '../support/processes.js';
import { until } from '../support/until.js';

explainSkip('the PostgreSQL cluster tests (workers, restart, second host)');
const inCi = process.env.CI === 'true';
const withPrivateCluster = withPostgres && (inCi || privateClusterUnavailable === undefined);
const withRemoteHost = withPostgres && (inCi || remoteHostUnavailable === undefined);
if (withPostgres && !withPrivateCluster)
  console.log(`skipping the server restart test: ${privateClusterUnavailable}`);
if (withPostgres && !withRemoteHost) console.log(`skipping the second-host test: ${remoteHostUnavailable}`);

const WORKER = path.join(REPO, 'test/cluster/pg-worker.ts');
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function effectsFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskvisor-cluster-'));
  fs.chmodSync(dir, 0o777);
  dirs.push(dir);
  return path.join(dir, 'effects.log');
}

interface Worker {
  readonly process: ChildProcess;
  readonly pid: number;
  readonly host: string;
  readonly lines: string[];
  line(match: RegExp): Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Starts pg-worker.ts (through `command`, for a process in another namespace) and waits for `ready`. */
async function startWorker(
  db: string,
  effects: string,
  options: { leaseMs?: number; pollMs?: number; command?: { file: string; args: string[] } } = {},
): Promise<Worker> {
  const args = [
    '--import',
    'tsx',
    WORKER,
    db,
    effects,
    String(options.leaseMs ?? 30_000),
    String(options.pollMs ?? 100),
  ];
  const command = options.command ?? { file: process.execPath, args };
  const child = spawn(command.file, command.args, {
    cwd: REPO,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines: string[] = [];
  const waiters: Array<{ match: RegExp; resolve: (line: string) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const waiter of [...waiters])
      if (waiter.match.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  const line = (match: RegExp) => {
    const seen = lines.find((candidate) => match.test(candidate));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      waiters.push({ match, resolve });
      void exited.then((exit) =>
        reject(new Error(`worker exited (${exit.code ?? exit.signal}) before ${match}: ${exit.stderr}`)),
      );
    });
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ready = await Promise.race([
    line(/^ready /),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the worker was not ready within 60 s: ${stderr}`)), 60_000);
    }),
  ]).finally(() => clearTimeout(timer));
  const [, pid, host] = ready.split(' ');
  return { process: child, pid: Number(pid), host: host!, lines, line, exited };
}

interface Effect {
  readonly kind: 'effect' | 'read';
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  readonly pid: number;
  readonly host: string;
  readonly fence: number;
  readonly at: number;
}

function readEffects(file: string): Effect[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [kind, runId, stepId, attempt, pid, host, fence, at] = line.split(' ');
      return {
        kind: kind as Effect['kind'],
        runId: runId!,
        stepId: stepId!,
        attempt: Number(attempt),
        pid: Number(pid),
        host: host!,
        fence: Number(fence),
        at: Number(at),
      };
    });
}

/**
 * One driver at a time, from the log: in each run, each fence belongs to one process, and
 * fences only grow along the log (a process that lost the run never ran a step of it again).
 */
function expectOneDriverAtATime(effects: readonly Effect[]): void {
  const byRun = new Map<string, Effect[]>();
  for (const effect of effects) byRun.set(effect.runId, [...(byRun.get(effect.runId) ?? []), effect]);
  for (const [runId, list] of byRun) {
    const holder = new Map<number, number>();
    let highest = 0;
    for (const effect of list) {
      expect(Number.isInteger(effect.fence), `fence of ${runId} read`).toBe(true);
      const owner = holder.get(effect.fence);
      if (owner !== undefined)
        expect(owner, `fence ${effect.fence} of ${runId} has one holder`).toBe(effect.pid);
      holder.set(effect.fence, effect.pid);
      expect(effect.fence, `fences of ${runId} only grow`).toBeGreaterThanOrEqual(highest);
      highest = effect.fence;
    }
  }
}

const never: ActionFunction = async () => {
  throw new Error('a client drives nothing');
};
/** The client knows the kinds (to check plans) but never runs them. */
const clientActions = { effect: never, read: never };

const plan = (ms: number) => ({
  steps: [
    { id: 'r0', action: { kind: 'read', ms } },
    { id: 'e1', dependsOn: ['r0'], action: { kind: 'effect', ms } },
    { id: 'e2', dependsOn: ['e1'], action: { kind: 'effect', ms } },
    { id: 'r3', dependsOn: ['e2'], action: { kind: 'read', ms } },
    { id: 'e4', dependsOn: ['r3'], action: { kind: 'effect', ms } },
    { id: 'e5', dependsOn: ['e4'], action: { kind: 'effect', ms } },
  ],
});

/** Confirms every step that waits for a human (an interrupted step with side effects), counting them. */
function confirmEverything(client: Supervisor): Map<string, number> {
  const confirmed = new Map<string, number>();
  client.events$.subscribe((event: TaskvisorEvent) => {
    if (event.type !== 'step.transition' || event.to !== 'awaitingConfirmation' || !event.stepId) return;
    const key = `${event.runId} ${event.stepId}`;
    confirmed.set(key, (confirmed.get(key) ?? 0) + 1);
    void client.confirmStep(event.runId, event.stepId, { approved: true, by: 'test' }).catch(() => undefined);
  });
  return confirmed;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe.runIf(withPostgres)('taskvisor on a PostgreSQL cluster of processes', () => {
  it('three workers, one SIGKILLed mid-run: every run completes, nothing repeated unconfirmed, one driver at a time', async () => {
    const db = freshSchemaUrl('cluster');
    const effects = effectsFile();
    const client = await createSupervisor({ db, drive: 'none', pollMs: 1000, actions: clientActions });
    try {
      const confirmed = confirmEverything(client);
      const log: TaskvisorEvent[] = [];
      client.events({ after: 0 }).subscribe((event) => log.push(event));
      // pollMs 1000: what arrives sooner came by LISTEN/NOTIFY.
      const workers = await Promise.all([0, 1, 2].map(() => startWorker(db, effects, { pollMs: 1000 })));
      const handles = [];
      for (let index = 0; index < 9; index++)
        handles.push(await client.start({ goal: `run ${index}`, plan: plan(40) }));
      const followed = handles[0]!;
      const followedEvents: TaskvisorEvent[] = [];
      followed.events$.subscribe((event) => followedEvents.push(event));

      // Kill a worker that has run steps of a run that is not finished.
      const victim = await until(
        () => {
          const seen = readEffects(effects);
          return workers.find((worker) => seen.filter((effect) => effect.pid === worker.pid).length >= 3);
        },
        { what: 'a worker running steps', withinMs: 30_000 },
      );
      victim.process.kill('SIGKILL');
      await victim.exited;
      const killedAt = Date.now();
      const victimRuns = new Set(
        readEffects(effects)
          .filter((effect) => effect.pid === victim.pid)
          .map((effect) => effect.runId),
      );

      const results = await Promise.all(handles.map((handle) => handle.done));
      expect(results.map((result) => result.phase)).toEqual(Array(9).fill('completed'));
      for (const result of results)
        expect(Object.keys(result.outputs).sort()).toEqual(['e1', 'e2', 'e4', 'e5', 'r0', 'r3']);

      const all = readEffects(effects);
      // The victim's unfinished runs were taken over by the others.
      const takenOver = [...victimRuns].filter((runId) =>
        all.some((effect) => effect.runId === runId && effect.pid !== victim.pid && effect.at >= killedAt),
      );
      expect(takenOver.length).toBeGreaterThan(0);
      // No step with side effects ran twice unless a human confirmed it.
      const runs = new Map<string, number>();
      for (const effect of all.filter((entry) => entry.kind === 'effect')) {
        const key = `${effect.runId} ${effect.stepId}`;
        runs.set(key, (runs.get(key) ?? 0) + 1);
      }
      for (const [key, count] of runs) expect(count, key).toBeLessThanOrEqual(1 + (confirmed.get(key) ?? 0));
      expectOneDriverAtATime(all);

      // The client followed the run the workers drove: its handle and the log, no gap, no duplicate.
      expect(followed.view().phase).toBe('completed');
      const stored = (await client.trace(followed.id)).events.map((event) => event.seq);
      await until(() => followedEvents.length >= stored.length, { what: "the followed run's events" });
      expect(followedEvents.map((event) => event.seq)).toEqual(stored);
      const lastSeq = Math.max(...(await client.trace(handles.at(-1)!.id)).events.map((event) => event.seq));
      await until(() => log.at(-1) !== undefined && log.at(-1)!.seq >= lastSeq, { what: 'the whole log' });
      expect(log.map((event) => event.seq)).toEqual(log.map((_, index) => index + 1));

      // A command from the client reaches the worker that drives the run (LISTEN/NOTIFY).
      // Measured in the worker: from approvePlan() in the client to the plan's first step
      // beginning in the worker that drives the run (one machine's clock).
      const latencies: number[] = [];
      const roundTrips: number[] = [];
      for (let index = 0; index < 5; index++) {
        const run = await client.start({ goal: `approve ${index}`, plan: plan(1), requireApproval: true });
        await until(async () => (await client.get(run.id))?.phase === 'awaitingApproval', {
          what: 'a plan waiting for approval',
          withinMs: 10_000,
        });
        const sentAt = Date.now();
        await client.approvePlan(run.id, { by: 'ann' });
        const firstStep = await until(
          () => readEffects(effects).find((effect) => effect.runId === run.id && effect.stepId === 'r0'),
          { what: 'the approved plan running', withinMs: 10_000 },
        );
        latencies.push(firstStep.at - sentAt);
        await until(() => log.some((event) => event.runId === run.id && event.type === 'approval.resolved'), {
          what: 'the client seeing the approval applied',
          withinMs: 10_000,
        });
        roundTrips.push(Date.now() - sentAt);
        expect((await run.done).phase).toBe('completed');
      }
      console.log(
        `command latency (client approvePlan → first step running in the worker), 5 commands: median ${median(latencies)} ms, max ${Math.max(...latencies)} ms [${latencies.join(', ')}]; client saw it applied after a median ${median(roundTrips)} ms`,
      );
      // The workers poll once a second: a median far below that came by NOTIFY.
      expect(median(latencies)).toBeLessThan(500);

      for (const worker of workers.filter((candidate) => candidate !== victim)) {
        worker.process.kill('SIGTERM');
        expect((await worker.exited).code).toBe(0);
      }
      expect(await client.verifyAudit()).toMatchObject({ ok: true });
    } finally {
      await client.close();
    }
  }, 240_000);

  it.runIf(withPrivateCluster)(
    'keeps a worker going across a server stop and start: health() reports the outage, every run completes',
    async () => {
      const cluster = await startPrivateCluster();
      try {
        const db = `${cluster.url}?schema=restart`;
        const effects = effectsFile();
        const client = await createSupervisor({ db, drive: 'none', pollMs: 200, actions: clientActions });
        const worker = await startWorker(db, effects, { pollMs: 200 });
        const handles = [];
        for (let index = 0; index < 3; index++)
          handles.push(await client.start({ goal: `restart ${index}`, plan: plan(30) }));
        await until(() => readEffects(effects).length >= 2, {
          what: 'the worker running steps',
          withinMs: 20_000,
        });

        cluster.stop();
        expect(await client.health()).toMatchObject({ ok: false, store: 'unavailable' });
        worker.process.stdin!.write('health\n');
        const during = JSON.parse((await worker.line(/^health /)).slice('health '.length)) as {
          ok: boolean;
          store: string;
        };
        expect(during).toMatchObject({ ok: false, store: 'unavailable' });
        cluster.start();

        const results = await Promise.all(handles.map((handle) => handle.done));
        expect(results.map((result) => result.phase)).toEqual(['completed', 'completed', 'completed']);
        worker.lines.length = 0;
        worker.process.stdin!.write('health\n');
        const after = JSON.parse((await worker.line(/^health /)).slice('health '.length)) as { ok: boolean };
        expect(after).toMatchObject({ ok: true, store: 'ok' });
        expect(await client.health()).toMatchObject({ ok: true });
        expectOneDriverAtATime(readEffects(effects));
        worker.process.kill('SIGTERM');
        expect((await worker.exited).code).toBe(0);
        await client.close();
      } finally {
        cluster.dispose();
      }
    },
    240_000,
  );

  it.runIf(withRemoteHost)(
    'takes over the runs of a worker on another host only after its lease expires',
    async () => {
      const db = freshSchemaUrl('remote');
      const local = new URL(db);
      const host = await createRemoteHost(Number(local.port));
      try {
        const remoteUrl = new URL(db);
        remoteUrl.hostname = host.address;
        remoteUrl.port = String(host.port);
        const effects = effectsFile();
        const leaseMs = 3000;
        const client = await createSupervisor({ db, drive: 'none', pollMs: 200, actions: clientActions });
        // The remote worker's steps last until it dies: it holds the runs however slowly the rest starts.
        const args = [
          '--import',
          'tsx',
          WORKER,
          remoteUrl.toString(),
          effects,
          String(leaseMs),
          '100',
          '600000',
        ];
        const confirmed = confirmEverything(client);
        const remote = await startWorker(db, effects, { command: host.command(process.execPath, args) });
        expect(remote.host).toBe(host.hostname);
        expect(remote.host).not.toBe(os.hostname());
        const handles = [];
        for (let index = 0; index < 2; index++)
          handles.push(await client.start({ goal: `remote ${index}`, plan: plan(100) }));
        // Both runs held by the remote worker, then a local worker that could take them.
        await until(
          async () =>
            (await pgQuery<{ owner: string | null }>(db, 'SELECT owner FROM runs')).every((row) =>
              row.owner?.startsWith(`${host.hostname}:`),
            ),
          { what: 'the remote worker holding both runs', withinMs: 60_000 },
        );
        const localWorker = await startWorker(db, effects, { leaseMs, pollMs: 50 });
        expect(localWorker.host).toBe(os.hostname());
        await until(() => readEffects(effects).some((effect) => effect.host === host.hostname), {
          what: 'the remote worker running steps',
          withinMs: 60_000,
        });

        remote.process.kill('SIGKILL');
        await remote.exited;
        const killedAt = Date.now();
        const leases = await pgQuery<{ id: string; owner: string | null; lease_expires_at: string | null }>(
          db,
          'SELECT id, owner, lease_expires_at FROM runs',
        );
        const expiry = new Map(leases.map((row) => [row.id, Number(row.lease_expires_at)]));
        // Watch the leases: none changes hands before it expires.
        const takenAt = new Map<string, number>();
        const early: string[] = [];
        await until(
          async () => {
            const now = Date.now();
            for (const row of await pgQuery<{ id: string; owner: string | null }>(
              db,
              'SELECT id, owner FROM runs',
            )) {
              if (takenAt.has(row.id) || row.owner === null || row.owner.startsWith(`${host.hostname}:`))
                continue;
              takenAt.set(row.id, now);
              if (now < expiry.get(row.id)!) early.push(row.id);
            }
            return takenAt.size === handles.length;
          },
          { what: 'the runs taken over', withinMs: 30_000 },
        ).catch(async (error: unknown) => {
          const rows = await pgQuery(
            db,
            'SELECT id, phase, owner, owner_host, lease_expires_at, fence FROM runs',
          );
          throw new Error(
            `${(error as Error).message}\nruns: ${JSON.stringify(rows)}\nkilled at ${killedAt}\nlocal worker: ${localWorker.lines.join('\n')}`,
          );
        });
        expect(early).toEqual([]);
        const results = await Promise.all(handles.map((handle) => handle.done));
        expect(results.map((result) => result.phase)).toEqual(['completed', 'completed']);
        const all = readEffects(effects);
        for (const handle of handles) {
          const firstLocal = all.find(
            (effect) => effect.runId === handle.id && effect.pid === localWorker.pid,
          );
          expect(firstLocal, `a step of ${handle.id} ran on the local worker`).toBeDefined();
          expect(firstLocal!.at).toBeGreaterThanOrEqual(expiry.get(handle.id)!);
        }
        expectOneDriverAtATime(all);
        for (const effect of all.filter((entry) => entry.kind === 'effect')) {
          const key = `${effect.runId} ${effect.stepId}`;
          const times = all.filter(
            (entry) => entry.kind === 'effect' && `${entry.runId} ${entry.stepId}` === key,
          );
          expect(times.length, key).toBeLessThanOrEqual(1 + (confirmed.get(key) ?? 0));
        }
        const waits = handles.map((handle) => takenAt.get(handle.id)! - killedAt);
        const afterExpiry = handles.map((handle) => takenAt.get(handle.id)! - expiry.get(handle.id)!);
        console.log(
          `second host: lease ${leaseMs} ms; runs taken over ${waits.join(', ')} ms after the SIGKILL (${afterExpiry.join(', ')} ms after their leases expired)`,
        );
        localWorker.process.kill('SIGTERM');
        expect((await localWorker.exited).code).toBe(0);
        await client.close();
      } finally {
        await host.dispose();
      }
    },
    240_000,
  );
});
