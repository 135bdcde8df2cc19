import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTaskvisorError, type TaskvisorErrorCode } from '../../src/errors.js';
import { confineCwd } from '../../src/sandbox/confine-cwd.js';
import { resolveSandbox } from '../../src/sandbox/policy.js';
import { useTempDirs } from './temp-dirs.js';

const tempDir = useTempDirs();

function failure(code: TaskvisorErrorCode, run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    expect(isTaskvisorError(error, code), String(error)).toBe(true);
    return error as Error;
  }
  throw new Error(`expected ${code}`);
}

describe('confineCwd', () => {
  it('returns the real root when no cwd is requested', () => {
    const root = tempDir();
    const sandbox = resolveSandbox({ allow: [], cwd: root });
    expect(confineCwd(undefined, sandbox)).toBe(root);
    expect(confineCwd('', sandbox)).toBe(root);
  });

  it('resolves a subdirectory, an absolute path inside and a harmless .. inside the root', () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'a', 'b'), { recursive: true });
    const sandbox = resolveSandbox({ allow: [], cwd: root });
    expect(confineCwd('a/b', sandbox)).toBe(path.join(root, 'a', 'b'));
    expect(confineCwd(path.join(root, 'a'), sandbox)).toBe(path.join(root, 'a'));
    expect(confineCwd('a/b/../..', sandbox)).toBe(root);
  });

  it('follows a symlink that stays inside the root to its target', () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'real'));
    fs.symlinkSync(path.join(root, 'real'), path.join(root, 'alias'));
    const sandbox = resolveSandbox({ allow: [], cwd: root });
    expect(confineCwd('alias', sandbox)).toBe(path.join(root, 'real'));
  });

  it('accepts a sandbox root that is itself reached through a symlink', () => {
    const base = tempDir();
    fs.mkdirSync(path.join(base, 'real-root', 'sub'), { recursive: true });
    fs.symlinkSync(path.join(base, 'real-root'), path.join(base, 'root-link'));
    const sandbox = resolveSandbox({ allow: [], cwd: path.join(base, 'root-link') });
    expect(confineCwd('sub', sandbox)).toBe(path.join(base, 'real-root', 'sub'));
  });

  it('names the requested path, where it leads and the root when it escapes', () => {
    const base = tempDir();
    fs.mkdirSync(path.join(base, 'root'));
    const sandbox = resolveSandbox({ allow: [], cwd: path.join(base, 'root') });
    const error = failure('SANDBOX_ESCAPE', () => confineCwd('..', sandbox));
    expect(error.message).toBe(
      `Step cwd ".." resolves to "${base}", outside the sandbox root "${path.join(base, 'root')}"; shell steps only run inside sandbox.cwd. Use a directory inside it, or widen sandbox.cwd.`,
    );
  });

  it('refuses a sibling whose name starts with the root name', () => {
    const base = tempDir();
    fs.mkdirSync(path.join(base, 'root'));
    fs.mkdirSync(path.join(base, 'root-other'));
    const sandbox = resolveSandbox({ allow: [], cwd: path.join(base, 'root') });
    failure('SANDBOX_ESCAPE', () => confineCwd('../root-other', sandbox));
  });

  it('says clearly when the directory is missing or is a file', () => {
    const root = tempDir();
    fs.writeFileSync(path.join(root, 'file.txt'), '');
    const sandbox = resolveSandbox({ allow: [], cwd: root });
    expect(failure('ACTION_FAILED', () => confineCwd('build/out', sandbox)).message).toContain(
      `Step cwd "build/out" resolves to "${path.join(root, 'build', 'out')}", which does not exist`,
    );
    expect(failure('ACTION_FAILED', () => confineCwd('file.txt', sandbox)).message).toContain(
      'which is not a directory',
    );
  });

  it('says clearly when the sandbox root itself is missing', () => {
    const missing = path.join(tempDir(), 'gone');
    const sandbox = resolveSandbox({ allow: [], cwd: missing });
    expect(failure('INVALID_OPTION', () => confineCwd(undefined, sandbox)).message).toContain(
      `The sandbox root "${missing}" does not exist`,
    );
  });
});
