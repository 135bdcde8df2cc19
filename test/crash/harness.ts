/** Shared helpers of the crash tests: run the worker, read what it left behind. */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createSupervisor } from '../../src/index.js';
import { runTs } from '../support/processes.js';

export const WORKER = 'test/crash/worker.ts';

export interface Outcome {
  readonly goal: string;
  readonly phase: string;
  readonly steps: ReadonlyArray<{ id: string; state: string; output: unknown }>;
}

/** The runs in a database, reduced to what must not depend on crashes. */
export async function outcomes(db: string): Promise<Outcome[]> {
  const sv = await createSupervisor({ db, resume: false });
  try {
    const runs = await sv.list();
    return runs
      .map((run) => ({
        goal: run.goal,
        phase: run.phase,
        steps: run.steps.map((step) => ({ id: step.id, state: step.state, output: step.output })),
      }))
      .sort((a, b) => a.goal.localeCompare(b.goal));
  } finally {
    await sv.close();
  }
}

export interface WorkOptions {
  /** SIGKILL the worker once it printed this seq. */
  readonly killAt?: number;
  /** Run id prefix (two workers starting runs in one database need different ones). */
  readonly prefix?: string;
  readonly env?: Record<string, string>;
  readonly onLine?: (line: string, child: ChildProcess) => void;
}

/** Runs a worker to its end (or its SIGKILL); true when it was killed. */
export async function work(
  mode: 'start' | 'resume',
  dir: string,
  options: WorkOptions = {},
): Promise<boolean> {
  const args = [
    mode,
    path.join(dir, 'db.sqlite'),
    path.join(dir, 'effects'),
    ...(options.prefix ? [options.prefix] : []),
  ];
  const child = runTs(
    WORKER,
    args,
    (line, process) => {
      options.onLine?.(line, process);
      if (options.killAt !== undefined && Number(line) >= options.killAt) process.kill('SIGKILL');
    },
    options.env,
  );
  const exit = await child.exited;
  if (exit.signal !== 'SIGKILL' && exit.code !== 0)
    throw new Error(`worker ${mode} failed (${exit.code}): ${exit.stderr}`);
  return exit.signal === 'SIGKILL';
}

/** Checks the event log is gapless; counts the human "rerun" decisions per `<run> <step>`. */
export function checkLog(db: string): { lastSeq: number; reruns: Map<string, number> } {
  const conn = new Database(db, { readonly: true });
  try {
    const seqs = (conn.prepare('SELECT seq FROM events ORDER BY seq').all() as Array<{ seq: number }>).map(
      (row) => row.seq,
    );
    seqs.forEach((seq, index) => {
      if (seq !== index + 1) throw new Error(`event seq has a gap: expected ${index + 1}, found ${seq}`);
    });
    const reruns = new Map<string, number>();
    for (const row of conn
      .prepare("SELECT run_id, step_id, body FROM events WHERE type = 'approval.resolved'")
      .all() as Array<{
      run_id: string;
      step_id: string | null;
      body: string;
    }>) {
      if ((JSON.parse(row.body) as { decision: string }).decision !== 'rerun') continue;
      const key = `${row.run_id} ${row.step_id}`;
      reruns.set(key, (reruns.get(key) ?? 0) + 1);
    }
    return { lastSeq: seqs.length, reruns };
  } finally {
    conn.close();
  }
}

export interface EffectLine {
  readonly kind: string;
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  readonly pid: number;
}

/** The side effects the workers logged, in order. */
export function effectLines(dir: string): EffectLine[] {
  let text = '';
  try {
    text = readFileSync(path.join(dir, 'effects'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [kind, runId, stepId, attempt, pid] = line.split(' ');
      return { kind: kind!, runId: runId!, stepId: stepId!, attempt: Number(attempt), pid: Number(pid) };
    });
}

/** Non-idempotent side effects per `<run> <step>`. */
export function effects(dir: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of effectLines(dir)) {
    if (line.kind !== 'effect') continue;
    const key = `${line.runId} ${line.stepId}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
