import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTaskvisorError } from '../../src/errors.js';
import { isShellCommandAllowed, resolveAllowedBinary } from '../../src/sandbox/binary.js';
import { resolveSandbox } from '../../src/sandbox/policy.js';
import { useTempDirs } from './temp-dirs.js';

const SLEEP = fs.realpathSync('/usr/bin/sleep');
const SH = fs.realpathSync('/usr/bin/sh');
const tempDir = useTempDirs();

function refusal(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    expect(isTaskvisorError(error, 'SHELL_NOT_ALLOWED'), String(error)).toBe(true);
    return error as Error;
  }
  throw new Error('expected a SHELL_NOT_ALLOWED refusal');
}

describe('resolveAllowedBinary', () => {
  it('resolves an allowed bare name on the sandbox PATH to its realpath', () => {
    const sandbox = resolveSandbox({ allow: ['sh', 'sleep'], cwd: tempDir() });
    expect(resolveAllowedBinary('sleep', sandbox)).toBe(SLEEP);
    expect(resolveAllowedBinary('sh', sandbox)).toBe(SH);
  });

  it('judges an explicit path by what it really is', () => {
    const sandbox = resolveSandbox({ allow: ['sleep'], cwd: tempDir() });
    expect(resolveAllowedBinary('/usr/bin/../bin/sleep', sandbox)).toBe(SLEEP);
    expect(resolveAllowedBinary(SLEEP, sandbox)).toBe(SLEEP);
  });

  it('accepts a symlink under another name when it points at an allowed binary', () => {
    const root = tempDir();
    fs.symlinkSync('/usr/bin/sleep', path.join(root, 'nap'));
    const sandbox = resolveSandbox({ allow: ['sleep'], cwd: root });
    expect(resolveAllowedBinary('./nap', sandbox)).toBe(SLEEP);
  });

  it('resolves an explicit relative command from the given cwd, else from the sandbox root', () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'tools'));
    const tool = path.join(root, 'tools', 'build');
    fs.writeFileSync(tool, '#!/bin/sh\necho built\n', { mode: 0o755 });
    const sandbox = resolveSandbox({ allow: [tool], cwd: root });
    expect(resolveAllowedBinary('./tools/build', sandbox)).toBe(tool);
    expect(resolveAllowedBinary('./build', sandbox, { cwd: path.join(root, 'tools') })).toBe(tool);
  });

  it('ignores relative PATH entries, so a binary in the current directory is not found by name', () => {
    const root = tempDir();
    fs.copyFileSync('/usr/bin/sleep', path.join(root, 'sleep'));
    fs.chmodSync(path.join(root, 'sleep'), 0o755);
    const sandbox = resolveSandbox(
      { allow: [path.join(root, 'sleep')], cwd: root },
      { PATH: `.${path.delimiter}` },
    );
    const error = refusal(() => resolveAllowedBinary('sleep', sandbox));
    expect(error.message).toContain('"sleep" was not found on the sandbox PATH');
  });

  it('refuses a missing binary, saying it was not found and how to fix it', () => {
    const sandbox = resolveSandbox({ allow: ['sleep', 'taskvisor-missing-tool'], cwd: tempDir() });
    const unknown = refusal(() => resolveAllowedBinary('no-such-binary-here', sandbox));
    expect(unknown.message).toContain('"no-such-binary-here" was not found on the sandbox PATH');
    expect(unknown.message).toContain('"taskvisor-missing-tool" (not found)');
    expect(unknown.message).toContain('add it to sandbox.allow');
    const allowedButMissing = refusal(() => resolveAllowedBinary('taskvisor-missing-tool', sandbox));
    expect(allowedButMissing.message).toContain('is in sandbox.allow but is not installed');
  });

  it('refuses a directory or a non-executable file given by path', () => {
    const root = tempDir();
    fs.writeFileSync(path.join(root, 'notes.txt'), 'hello');
    const sandbox = resolveSandbox({ allow: ['sleep'], cwd: root });
    expect(refusal(() => resolveAllowedBinary('./notes.txt', sandbox)).message).toContain(
      `resolves to "${path.join(root, 'notes.txt')}", which is not an executable file`,
    );
    expect(refusal(() => resolveAllowedBinary('/usr/bin', sandbox)).message).toContain(
      'not an executable file',
    );
  });

  it('refuses everything when the allow list is empty', () => {
    const sandbox = resolveSandbox({ allow: [], cwd: tempDir() });
    expect(refusal(() => resolveAllowedBinary('sleep', sandbox)).message).toContain('sandbox.allow is empty');
  });
});

describe('isShellCommandAllowed', () => {
  it('answers synchronously whether a command would be allowed', () => {
    const sandbox = resolveSandbox({ allow: ['sleep', 'sh'], cwd: tempDir() });
    expect(isShellCommandAllowed('sleep', sandbox)).toBe(true);
    expect(isShellCommandAllowed('/usr/bin/../bin/sleep', sandbox)).toBe(true);
    expect(isShellCommandAllowed('rm', sandbox)).toBe(false);
    expect(isShellCommandAllowed('/usr/bin/../bin/rm', sandbox)).toBe(false);
    expect(isShellCommandAllowed('no-such-binary-here', sandbox)).toBe(false);
    expect(isShellCommandAllowed('', sandbox)).toBe(false);
  });
});
