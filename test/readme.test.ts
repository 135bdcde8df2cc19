/** The README's embedding example, extracted and run as written (against this checkout). */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, runTs } from './support/processes.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'taskvisor-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function example(): string {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const marker = readme.indexOf('<!-- readme-example');
  expect(marker, 'README.md has a block marked readme-example').toBeGreaterThan(-1);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(marker));
  return block![1]!;
}

describe('the README', () => {
  it('has an embedding example that runs as written', async () => {
    const source = example()
      .replace("from 'taskvisor'", `from '${pathToFileURL(path.join(REPO, 'src/index.ts')).href}'`)
      .replace("'./runs.db'", JSON.stringify(path.join(dir, 'runs.db')));
    const script = path.join(dir, 'example.mts');
    writeFileSync(script, source);
    let stdout = '';
    const child = runTs(script, [], (line) => {
      stdout += `${line}\n`;
    });
    const exit = await child.exited;
    expect(exit.stderr).toBe('');
    expect(exit.code).toBe(0);
    expect(stdout).toContain('completed HELLO');
  }, 30_000);
});
