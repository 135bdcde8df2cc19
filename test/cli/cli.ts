/**
 * Runs the real `taskvisor` bin, as `npm install` builds it (dist/src/cli/bin.js), as child
 * processes, each in a temporary working directory with no model configured and no colours.
 * The build is brought up to date first when a source file is newer (once, under a lock,
 * for all test files); `npm ci` in CI has just built it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { REPO } from '../support/processes.js';

export const BIN = path.join(REPO, 'dist/src/cli/bin.js');
export const EXAMPLES = path.join(REPO, 'examples');

function newestSource(directory: string): number {
  let newest = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full));
    else if (/\.(ts|tsx|css)$/.test(entry.name)) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

/** The console's built page (dist/console/), which `npm run build` makes from src/serve/page/. */
const PAGE = path.join(REPO, 'dist/console/app.js');

function isBuilt(): boolean {
  if (!existsSync(BIN) || !existsSync(PAGE)) return false;
  const built = Math.min(statSync(BIN).mtimeMs, statSync(PAGE).mtimeMs);
  return ['src', 'machines'].every((directory) => newestSource(path.join(REPO, directory)) <= built);
}

/** Runs `npm run build` unless dist is current; one test file builds while the others wait. */
async function ensureBuilt(): Promise<void> {
  const lock = path.join(REPO, 'node_modules', '.cache', 'taskvisor-cli-build.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  for (;;) {
    if (isBuilt()) return;
    try {
      mkdirSync(lock);
    } catch {
      // Another test file is building: wait for it (a build that died leaves a stale lock for at most a minute).
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 60_000)
        rmSync(lock, { recursive: true, force: true });
      await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    try {
      // tsc emits even when another part of the tree has type errors; the typecheck reports those.
      spawnSync(
        process.execPath,
        [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
        {
          cwd: REPO,
          stdio: 'ignore',
        },
      );
      spawnSync(
        process.execPath,
        [path.join(REPO, 'node_modules/tsx/dist/cli.mjs'), 'src/serve/build-page.ts'],
        {
          cwd: REPO,
          stdio: 'ignore',
        },
      );
      if (!existsSync(BIN)) throw new Error('npm run build did not produce dist/src/cli/bin.js');
      if (!existsSync(PAGE)) throw new Error('npm run build did not produce dist/console/app.js');
      // As `npm run build` does: the bin is run directly by `npx taskvisor`.
      chmodSync(BIN, 0o755);
      return;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

await ensureBuilt();

/**
 * The environment of every child: no model, no colour, no database from the caller, and
 * started as the README says, through npx (`npm_command=exec`: hints read `npx taskvisor …`).
 */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NO_COLOR: '1',
    NODE_NO_WARNINGS: '1',
    npm_command: 'exec',
    ...extra,
  };
  for (const name of [
    'TASKVISOR_DB',
    'OPENAI_API_KEY',
    'OPENAI_BASE_URL',
    'TASKVISOR_MODEL',
    'FORCE_COLOR',
  ]) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Running {
  readonly process: ChildProcess;
  readonly exited: Promise<Exit>;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** Resolves with the first stdout line (seen so far or later) that matches, and when it arrived. */
  line(match: RegExp | string): Promise<{ line: string; at: number }>;
}

/** Starts `taskvisor ...args` in `cwd`. */
export function start(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string> },
): Running {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv(options.env ?? {}),
  });
  const lines: string[] = [];
  const seen: Array<{ line: string; at: number }> = [];
  const waiters: Array<{ match: RegExp | string; resolve: (hit: { line: string; at: number }) => void }> = [];
  const matches = (line: string, match: RegExp | string) =>
    typeof match === 'string' ? line.includes(match) : match.test(line);
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const hit = { line, at: Date.now() };
    stdout += `${line}\n`;
    lines.push(line);
    seen.push(hit);
    for (const waiter of [...waiters]) {
      if (matches(line, waiter.match)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(hit);
      }
    }
  });
  const exited = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    process: child,
    exited,
    lines,
    line: (match) => {
      const hit = seen.find((candidate) => matches(candidate.line, match));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then((exit) =>
          reject(
            new Error(
              `taskvisor ${args.join(' ')} exited (${exit.code ?? exit.signal}) before printing ${String(match)}\nstdout:\n${exit.stdout}\nstderr:\n${exit.stderr}`,
            ),
          ),
        );
      });
    },
  };
}

/** Runs `taskvisor ...args` to its end. */
export function tv(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<Exit> {
  return start(args, options).exited;
}

/** A temporary directory removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `taskvisor-cli-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The JSON a command printed on stdout. */
export function json<T = unknown>(exit: Exit): T {
  try {
    return JSON.parse(exit.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${exit.code}):\n${exit.stdout}\nstderr:\n${exit.stderr}`);
  }
}

/** Runs the command line in this process (for the many bad-input cases), capturing its output. */
export async function inProcess(
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  // As the children: started through npx, so hints read `npx taskvisor …`.
  process.env.npm_command = 'exec';
  const { main } = await import('../../src/cli/program.js');
  let stdout = '';
  let stderr = '';
  const stream = (write: (text: string) => void) =>
    ({
      isTTY: false,
      write: (chunk: string | Uint8Array) => {
        write(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
        return true;
      },
    }) as unknown as NodeJS.WriteStream;
  const code = await main(args, {
    stdout: stream((text) => (stdout += text)),
    stderr: stream((text) => (stderr += text)),
  });
  return { code, stdout, stderr };
}
