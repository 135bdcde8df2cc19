/**
 * `npm run bench`: each scenario in a fresh process (compiled JS, no loader), one JSON
 * line each, then every figure beside its target (the speed issue's, where it names one).
 * W1, W2 and W3 are the median of BENCH_RUNS fresh processes (5 by default). W4 runs on
 * PostgreSQL: at TASKVISOR_BENCH_PG_URL (or TASKVISOR_TEST_PG_URL) when set, else on a
 * throwaway cluster that `.ci/with-postgres` starts; it is skipped, with the reason, when
 * neither can be had.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** W4 on PostgreSQL: its JSON lines, or why it was skipped. */
function runW4(): { lines: Array<Record<string, number | string>> } | { skipped: string } {
  const script = fileURLToPath(new URL('./w4-postgres.js', import.meta.url));
  const url = process.env.TASKVISOR_BENCH_PG_URL ?? process.env.TASKVISOR_TEST_PG_URL;
  const repo = fileURLToPath(new URL('../../..', import.meta.url));
  const withPostgres = path.join(repo, '.ci', 'with-postgres');
  const child = url
    ? spawnSync(process.execPath, [script, url], { encoding: 'utf8' })
    : spawnSync(
        'bash',
        [withPostgres, 'sh', '-c', `exec "$0" "$1" "$TASKVISOR_TEST_PG_URL"`, process.execPath, script],
        {
          encoding: 'utf8',
        },
      );
  if (child.status !== 0) {
    const why = (child.stderr || child.stdout || String(child.error ?? '')).trim().split('\n').at(-1) ?? '';
    if (url) throw new Error(`W4 failed (${child.status}): ${child.stderr}`);
    return { skipped: `no PostgreSQL (${why})` };
  }
  const lines = child.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, number | string>);
  for (const line of lines) console.log(JSON.stringify(line));
  return { lines };
}

const scenario = fileURLToPath(new URL('./scenario.js', import.meta.url));
const importCost = fileURLToPath(new URL('./import-cost.js', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'taskvisor-bench-'));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

type Figures = Record<string, number | string>;

function run(name: string, expectKill = false, nodeArgs: string[] = []): Figures | undefined {
  const script = name === 'I' ? importCost : scenario;
  const child = spawnSync(process.execPath, [...nodeArgs, script, name, dir], { encoding: 'utf8' });
  if (expectKill) {
    if (child.signal !== 'SIGKILL') throw new Error(`${name} should have died by SIGKILL: ${child.stderr}`);
    return undefined;
  }
  if (child.status !== 0) throw new Error(`${name} failed (${child.status}): ${child.stderr}`);
  const line = child.stdout.trim().split('\n').at(-1) ?? '';
  console.log(line);
  return JSON.parse(line) as Figures;
}

/** The scenario in RUNS fresh processes; the record whose `key` is the median. */
function median(name: string, key: string, before?: () => void): Figures {
  const results: Figures[] = [];
  for (let index = 0; index < RUNS; index++) {
    before?.();
    results.push(run(name)!);
  }
  results.sort((a, b) => Number(a[key]) - Number(b[key]));
  const middle = results[Math.floor(results.length / 2)]!;
  console.log(`  ${name} median of ${RUNS}: ${key} ${middle[key]}`);
  return middle;
}

try {
  const w1 = median('W1', 'stepsPerSecond');
  const full = median('W1-full', 'stepsPerSecond');
  const strict = median('W1-strict', 'stepsPerSecond');
  const w2 = median('W2', 'stepsPerSecond');
  const w3 = median('W3-resume', 'firstResumedStepMs', () => run('W3-crash', true));
  const imported = median('I', 'importMs');
  const r = run('R')!;
  const m = run('M', false, ['--expose-gc'])!;
  const st = run('ST')!;
  const s = run('S')!;
  const chainScale = run('S-chain')!;
  const wideScale = run('S-wide')!;
  const j = run('J')!;
  const f = run('F')!;
  const w4 = runW4();
  const at = (n: number) => (n >= 1000 ? `${n / 1000}k` : String(n));
  const large = Number(process.env.BENCH_LARGE_N ?? 100_000);
  const rows: Array<[string, string, string, boolean]> = [
    ['W1 steps/s', String(w1.stepsPerSecond), '>= 5000', Number(w1.stepsPerSecond) >= 5000],
    ["W1 durability 'full' steps/s", String(full.stepsPerSecond), '(reported)', true],
    ['W1-strict steps/s', String(strict.stepsPerSecond), '(no target)', true],
    ['W2 steps/s', String(w2.stepsPerSecond), '>= 5000', Number(w2.stepsPerSecond) >= 5000],
    [
      'W3 first resumed step ms',
      String(w3.firstResumedStepMs),
      '<= 120',
      Number(w3.firstResumedStepMs) <= 120,
    ],
    ['W3 done ms', String(w3.doneMs), '(no target)', true],
    ['import of the package ms', String(imported.importMs), '(reported)', true],
    ['W1 peak RSS MB', String(w1.peakRssMb), '<= 80', Number(w1.peakRssMb) <= 80],
    [
      `memory per pending step B (${at(large)})`,
      String(m.bytesPerPendingStep),
      '<= 2048',
      Number(m.bytesPerPendingStep) <= 2048,
    ],
    [`start() of ${at(large)} steps ms`, String(m.startMs), '(reported)', true],
    ['storage per step B', String(st.bytesPerStep), '<= 1024', Number(st.bytesPerStep) <= 1024],
    ['1,000 runs x 10 steps/s', String(r.stepsPerSecond), '>= 5000', Number(r.stepsPerSecond) >= 5000],
    [`chain per-step ${at(large)}/1k`, String(chainScale.ratio), '<= 1.2', Number(chainScale.ratio) <= 1.2],
    [`wide per-step ${at(large)}/1k`, String(wideScale.ratio), '<= 1.2', Number(wideScale.ratio) <= 1.2],
    ['S ratio 10,000/100', String(s.ratio), '<= 1.5', Number(s.ratio) <= 1.5],
    ['F bytes/worker transition', String(f.bytesPerWorkerTransition), '(no target)', true],
    ['F µs/worker transition', String(f.usPerWorkerTransition), '(no target)', true],
    ...(j.skipped === undefined
      ? ([
          ['J true step ms, no jail', String(j.medianMsNone), '(median)', true],
          ['J true step ms, jail', String(j.medianMsJail), '(median)', true],
          ['J jail overhead ms', String(j.overheadMs), '(no target)', true],
          ['J jail, cwd below root ms', String(j.medianMsJailBelowRoot), '(median)', true],
        ] as Array<[string, string, string, boolean]>)
      : ([['J jail overhead', 'skipped', String(j.skipped).slice(0, 60), true]] as Array<
          [string, string, string, boolean]
        >)),
    ...('skipped' in w4
      ? ([['W4 PostgreSQL', 'skipped', w4.skipped.slice(0, 60), true]] as Array<
          [string, string, string, boolean]
        >)
      : w4.lines.flatMap(
          (line) =>
            [
              [`W4 ${line.workers} worker(s) steps/s`, String(line.stepsPerSecond), '(no target)', true],
              [
                `W4 ${line.workers} start→1st step ms`,
                String(line.startToFirstStepMedianMs),
                '(median, burst)',
                true,
              ],
              [
                `W4 ${line.workers} idle start→1st ms`,
                String(line.idleStartToFirstStepMedianMs),
                '(median)',
                true,
              ],
            ] as Array<[string, string, string, boolean]>,
        )),
  ];
  console.log('');
  for (const [label, value, target, met] of rows) {
    console.log(
      `${label.padEnd(34)} ${value.padStart(8)}   target ${target.padEnd(12)} ${met ? 'met' : 'NOT MET'}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
