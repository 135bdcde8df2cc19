/**
 * `npm run bench`: each scenario in a fresh process (compiled JS, no loader), one JSON
 * line each, then the figures against the targets of the durable-runtime issue. W4 runs
 * on PostgreSQL: at TASKVISOR_BENCH_PG_URL (or TASKVISOR_TEST_PG_URL) when set, else on a
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
const dir = mkdtempSync(path.join(os.tmpdir(), 'taskvisor-bench-'));

function run(name: string, expectKill = false): Record<string, number | string> | undefined {
  const child = spawnSync(process.execPath, [scenario, name, dir], { encoding: 'utf8' });
  if (expectKill) {
    if (child.signal !== 'SIGKILL') throw new Error(`${name} should have died by SIGKILL: ${child.stderr}`);
    return undefined;
  }
  if (child.status !== 0) throw new Error(`${name} failed (${child.status}): ${child.stderr}`);
  const line = child.stdout.trim().split('\n').at(-1) ?? '';
  console.log(line);
  return JSON.parse(line) as Record<string, number | string>;
}

try {
  const w1 = run('W1')!;
  const strict = run('W1-strict')!;
  const w2 = run('W2')!;
  run('W3-crash', true);
  const w3 = run('W3-resume')!;
  const s = run('S')!;
  const j = run('J')!;
  const w4 = runW4();
  const rows: Array<[string, string, string, boolean]> = [
    ['W1 steps/s', String(w1.stepsPerSecond), '>= 5000', Number(w1.stepsPerSecond) >= 5000],
    ['W1-strict steps/s', String(strict.stepsPerSecond), '(no target)', true],
    ['W2 steps/s', String(w2.stepsPerSecond), '>= 5000', Number(w2.stepsPerSecond) >= 5000],
    [
      'W3 first resumed step ms',
      String(w3.firstResumedStepMs),
      '<= 150',
      Number(w3.firstResumedStepMs) <= 150,
    ],
    ['W3 done ms', String(w3.doneMs), '(no target)', true],
    ['S ratio 10,000/100', String(s.ratio), '<= 1.5', Number(s.ratio) <= 1.5],
    ['W1 peak RSS MB', String(w1.peakRssMb), '<= 80', Number(w1.peakRssMb) <= 80],
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
      `${label.padEnd(28)} ${value.padStart(8)}   target ${target.padEnd(12)} ${met ? 'met' : 'NOT MET'}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
