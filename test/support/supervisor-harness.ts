/**
 * Per-test resources for runtime tests: fresh temp directories with database paths in
 * them, and supervisors that are closed (before their directories are removed) after
 * each test, whatever the test did.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { createSupervisor, type Supervisor, type SupervisorOptions } from '../../src/supervisor.js';

export interface SupervisorHarness {
  /** A fresh directory under os.tmpdir() (a realpath). */
  tempDir(): string;
  /** The path of a database file (not created yet) in a fresh directory. */
  dbPath(): string;
  /** `createSupervisor(options)`, closed after the test. */
  open(options: SupervisorOptions): Promise<Supervisor>;
  /** Runs `close` after the test (after the supervisors close, before the directories go). */
  defer(close: () => unknown): void;
}

export function useSupervisorHarness(): SupervisorHarness {
  const dirs: string[] = [];
  const supervisors: Supervisor[] = [];
  const deferred: Array<() => unknown> = [];
  afterEach(async () => {
    for (const supervisor of supervisors.splice(0).reverse()) await supervisor.close().catch(() => {});
    for (const close of deferred.splice(0).reverse()) await close();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
  const tempDir = () => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'taskvisor-runtime-')));
    dirs.push(dir);
    return dir;
  };
  return {
    tempDir,
    dbPath: () => path.join(tempDir(), 'runs.db'),
    open: async (options) => {
      const supervisor = await createSupervisor(options);
      supervisors.push(supervisor);
      return supervisor;
    },
    defer: (close) => {
      deferred.push(close);
    },
  };
}

/** SHA-256 of a file's bytes. */
export function fileDigest(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Deterministic ids: `run-1`, `run-2`, ... and `req-1`, ... */
export function sequentialIds(): { run: () => string; request: () => string } {
  let runs = 0;
  let requests = 0;
  return { run: () => `run-${++runs}`, request: () => `req-${++requests}` };
}
