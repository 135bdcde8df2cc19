import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';

/**
 * Returns a factory of fresh directories under os.tmpdir() (as realpaths), all removed after
 * each test.
 */
export function useTempDirs(): (prefix?: string) => string {
  const created: string[] = [];
  afterEach(() => {
    for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
  return (prefix = 'taskvisor-sandbox-') => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
    created.push(dir);
    return dir;
  };
}
