import fs from 'node:fs';

export interface ProcessInfo {
  pid: number;
  comm: string;
  state: string;
  pgrp: number;
}

/** Every process in /proc whose process group id is `pgid` (zombies included). */
export function processesInGroup(pgid: number): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const [state, _ppid, pgrp] = stat.slice(close + 2).split(' ');
    if (state === undefined || pgrp === undefined) continue;
    if (Number(pgrp) === pgid) {
      found.push({ pid: Number(entry), comm: stat.slice(open + 1, close), state, pgrp: Number(pgrp) });
    }
  }
  return found;
}

/**
 * The processes of the group that still run. A zombie has exited; it only waits for its parent
 * to collect it (orphans go to PID 1, which in some containers never does).
 */
export function liveProcessesInGroup(pgid: number): ProcessInfo[] {
  return processesInGroup(pgid).filter((process) => process.state !== 'Z' && process.state !== 'X');
}

/**
 * Polls `condition` once per event-loop turn (setImmediate, so I/O keeps flowing) until it holds;
 * fails after `boundMs` of wall-clock time so a broken run cannot hang the suite.
 */
export async function pollUntil(condition: () => boolean, what: string, boundMs = 10_000): Promise<void> {
  const giveUpAt = Date.now() + boundMs;
  while (!condition()) {
    if (Date.now() > giveUpAt) throw new Error(`Gave up after ${boundMs} ms waiting until ${what}`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Lets `turns` event-loop turns pass (for asserting that something has NOT happened yet). */
export async function eventLoopTurns(turns: number): Promise<void> {
  for (let turn = 0; turn < turns; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Every live process (zombies left out) whose argv is exactly `argv`, wherever it runs. */
export function liveProcessesRunning(argv: readonly string[]): number[] {
  const wanted = argv.join('\0');
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0$/, '');
      if (cmdline !== wanted) continue;
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      if (state !== 'Z' && state !== 'X') found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}
