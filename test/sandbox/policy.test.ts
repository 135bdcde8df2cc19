import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTaskvisorError } from '../../src/errors.js';
import {
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_TIMEOUTS_MS,
  resolveSandbox,
  type SandboxOptions,
  timeoutFor,
} from '../../src/sandbox/policy.js';

const parentEnv = { PATH: '/usr/bin:/bin', HOME: '/home/someone', SECRET_TOKEN: 'x', LANG: 'C.UTF-8' };

function invalidOption(options: unknown): Error {
  try {
    resolveSandbox(options as SandboxOptions, parentEnv);
  } catch (error) {
    expect(isTaskvisorError(error, 'INVALID_OPTION'), String(error)).toBe(true);
    return error as Error;
  }
  throw new Error('expected resolveSandbox to throw');
}

describe('resolveSandbox', () => {
  it('fills in the defaults: tier timeouts, a 1 MiB output cap and PATH and HOME passed through', () => {
    const sandbox = resolveSandbox({ allow: [], cwd: '/srv/repo' }, parentEnv);
    expect(sandbox.timeoutsMs).toEqual({
      read: 30_000,
      write: 60_000,
      execute: 120_000,
      destructive: 300_000,
      external: 300_000,
    });
    expect(sandbox.maxOutputBytes).toBe(DEFAULT_MAX_OUTPUT_BYTES);
    expect(DEFAULT_MAX_OUTPUT_BYTES).toBe(1024 * 1024);
    expect(sandbox.envNames).toEqual(['PATH', 'HOME']);
    expect(sandbox.env).toEqual({ PATH: '/usr/bin:/bin', HOME: '/home/someone' });
    expect(sandbox.cwd).toBe('/srv/repo');
  });

  it('applies a single timeoutMs to every tier', () => {
    const sandbox = resolveSandbox({ allow: [], cwd: '/', timeoutMs: 5_000 }, parentEnv);
    expect(Object.values(sandbox.timeoutsMs)).toEqual([5_000, 5_000, 5_000, 5_000, 5_000]);
  });

  it('overrides only the tiers a per-tier timeoutMs names', () => {
    const sandbox = resolveSandbox(
      { allow: [], cwd: '/', timeoutMs: { read: 1_000, external: 9_000 } },
      parentEnv,
    );
    expect(sandbox.timeoutsMs).toEqual({ ...DEFAULT_TIMEOUTS_MS, read: 1_000, external: 9_000 });
  });

  it("lets a step's own timeoutMs override the tier's", () => {
    const sandbox = resolveSandbox({ allow: [], cwd: '/' }, parentEnv);
    expect(timeoutFor(sandbox, 'read')).toBe(30_000);
    expect(timeoutFor(sandbox, 'destructive')).toBe(300_000);
    expect(timeoutFor(sandbox, 'read', 250)).toBe(250);
    expect(() => timeoutFor(sandbox, 'read', 0)).toThrow(/step timeoutMs.*got 0/);
  });

  it('captures only the listed parent variables that are set', () => {
    const sandbox = resolveSandbox({ allow: [], cwd: '/', env: ['LANG', 'TERM', 'LANG'] }, parentEnv);
    expect(sandbox.envNames).toEqual(['LANG', 'TERM']);
    expect(sandbox.env).toEqual({ LANG: 'C.UTF-8' });
  });

  it('looks bare names up on the parent PATH even when PATH is not passed through', () => {
    const sandbox = resolveSandbox({ allow: [], cwd: '/', env: [] }, parentEnv);
    expect(sandbox.env).toEqual({});
    expect(sandbox.searchPath).toBe('/usr/bin:/bin');
  });

  it('resolves every allow entry to its realpath when the sandbox is set up', () => {
    const sandbox = resolveSandbox(
      { allow: ['sh', '/usr/bin/sleep', 'not-installed-anywhere'], cwd: '/' },
      parentEnv,
    );
    expect(sandbox.allowed).toEqual([
      { entry: 'sh', path: '/usr/bin/sh', realPath: fs.realpathSync('/usr/bin/sh') },
      { entry: '/usr/bin/sleep', path: '/usr/bin/sleep', realPath: fs.realpathSync('/usr/bin/sleep') },
      { entry: 'not-installed-anywhere' },
    ]);
  });

  it('resolves a relative cwd against the current directory', () => {
    expect(resolveSandbox({ allow: [], cwd: 'work' }, parentEnv).cwd).toBe(path.resolve('work'));
  });

  it.each(
    [
      { bad: 'options that are not an object', options: 'git', names: ['sandbox', '"git"'] },
      {
        bad: 'an unknown option',
        options: { allow: [], cwd: '/', allwo: ['git'] },
        names: ['"allwo"', '"allow"'],
      },
      { bad: 'a missing allow list', options: { cwd: '/' }, names: ['sandbox.allow', 'undefined'] },
      {
        bad: 'an empty allow entry',
        options: { allow: ['git', ''], cwd: '/' },
        names: ['sandbox.allow[1]', '""'],
      },
      {
        bad: 'a relative path in allow',
        options: { allow: ['bin/git'], cwd: '/' },
        names: ['sandbox.allow[0]', '"bin/git"', '"git"'],
      },
      { bad: 'a missing cwd', options: { allow: [] }, names: ['sandbox.cwd', 'undefined'] },
      {
        bad: 'a negative timeoutMs',
        options: { allow: [], cwd: '/', timeoutMs: -1 },
        names: ['sandbox.timeoutMs', '-1'],
      },
      {
        bad: 'a timeoutMs longer than a timer can hold',
        options: { allow: [], cwd: '/', timeoutMs: 3_000_000_000 },
        names: ['sandbox.timeoutMs', '3000000000', '2147483647'],
      },
      {
        bad: 'an unknown tier in timeoutMs',
        options: { allow: [], cwd: '/', timeoutMs: { reed: 1_000 } },
        names: ['"reed"', '"read"'],
      },
      {
        bad: 'a tier timeout that is not a number',
        options: { allow: [], cwd: '/', timeoutMs: { write: 'fast' } },
        names: ['sandbox.timeoutMs.write', '"fast"'],
      },
      {
        bad: 'a fractional maxOutputBytes',
        options: { allow: [], cwd: '/', maxOutputBytes: 1.5 },
        names: ['sandbox.maxOutputBytes', '1.5'],
      },
      {
        bad: 'an env entry that is not a variable name',
        options: { allow: [], cwd: '/', env: ['PATH', 'BAD-NAME'] },
        names: ['sandbox.env[1]', '"BAD-NAME"'],
      },
      {
        bad: 'an unknown isolation',
        options: { allow: [], cwd: '/', isolation: 'strict' },
        names: ['sandbox.isolation', '"strict"', "'auto', 'jail', 'none'"],
      },
      {
        bad: 'a network that is not a boolean',
        options: { allow: [], cwd: '/', network: 'yes' },
        names: ['sandbox.network', '"yes"', 'a boolean'],
      },
      {
        bad: 'readPaths that are not an array',
        options: { allow: [], cwd: '/', readPaths: '/opt' },
        names: ['sandbox.readPaths', '"/opt"', 'an array of paths'],
      },
      {
        bad: 'a writePath of the whole filesystem',
        options: { allow: [], cwd: '/', writePaths: ['/tmp', '/'] },
        names: ['sandbox.writePaths[1]', 'is the whole filesystem'],
      },
      {
        bad: 'a misspelt jail option',
        options: { allow: [], cwd: '/', readPath: ['/opt'] },
        names: ['"readPath"', 'did you mean "readPaths"'],
      },
    ].map((row) => [row.bad, row] as const),
  )('rejects %s with INVALID_OPTION naming the field and value', (_bad, { options, names }) => {
    const error = invalidOption(options);
    for (const value of names) expect(error.message).toContain(value);
  });

  it('takes isolation, network, readPaths and writePaths, with the jail on by default', () => {
    const defaults = resolveSandbox({ allow: [], cwd: '/' }, parentEnv);
    expect(defaults).toMatchObject({ isolation: 'auto', network: false, readPaths: [], writePaths: [] });
    const sandbox = resolveSandbox(
      {
        allow: [],
        cwd: '/',
        isolation: 'jail',
        network: true,
        readPaths: ['docs', '/opt/x'],
        writePaths: ['/tmp/out/'],
      },
      parentEnv,
    );
    expect(sandbox).toMatchObject({
      isolation: 'jail',
      network: true,
      readPaths: [path.resolve('docs'), '/opt/x'],
      writePaths: ['/tmp/out'],
    });
  });
});
