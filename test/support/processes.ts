/** Child processes for tests: real node processes running TypeScript through tsx. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface Child {
  readonly process: ChildProcess;
  /** Resolves with the exit code (null) and signal when the process ends. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/**
 * Runs `node --import tsx <script> ...args` from the repository root. `onLine` sees each
 * stdout line as it arrives (and may kill the process); `stdin: 'pipe'` lets the test write to it.
 */
export function runTs(
  script: string,
  args: readonly string[],
  onLine?: (line: string, child: ChildProcess) => void,
  env: Record<string, string> = {},
  options: { readonly stdin?: 'ignore' | 'pipe' } = {},
): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: REPO,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  if (onLine && child.stdout) {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => onLine(line, child));
  } else {
    child.stdout?.resume();
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
    },
  );
  return { process: child, exited };
}

/** Runs tasks with at most `limit` in flight, results in order. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  });
  await Promise.all(lanes);
  return results;
}
