/**
 * What of the host a jailed run sees: the system directories (as this machine lays them out),
 * a few `/etc` files, the sandbox's own paths (checked to exist, canonical), allowed binaries
 * that live elsewhere, and `HOME` as an empty tmpfs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { TaskvisorError } from '../errors.js';
import { isInside, type JailMount } from './jail-args.js';
import { realPathOf } from './path-lookup.js';
import type { ResolvedSandbox } from './policy.js';

/** Top-level directories of binaries and libraries, bound read-only (or recreated as the symlinks they are). */
export const SYSTEM_DIRECTORIES: readonly string[] = Object.freeze([
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
]);

/**
 * The `/etc` files a jailed program may read: the loader's cache, users and groups (no
 * passwords: `/etc/shadow` is not among them), name service, time zone and certificates.
 */
export const JAIL_ETC_FILES: readonly string[] = Object.freeze([
  '/etc/alternatives',
  '/etc/ld.so.cache',
  '/etc/passwd',
  '/etc/group',
  '/etc/nsswitch.conf',
  '/etc/hosts',
  '/etc/localtime',
  '/etc/timezone',
  '/etc/os-release',
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/pki',
  '/etc/crypto-policies',
  '/etc/protocols',
  '/etc/services',
]);

/** Read as well when the jail may use the network. */
export const JAIL_NETWORK_ETC_FILES: readonly string[] = Object.freeze([
  '/etc/resolv.conf',
  '/etc/host.conf',
  '/etc/gai.conf',
]);

let systemCache: readonly JailMount[] | undefined;

/** The system mounts of this machine (looked at once per process). */
export function systemMounts(network: boolean): JailMount[] {
  systemCache ??= Object.freeze(
    SYSTEM_DIRECTORIES.flatMap((directory): JailMount[] => {
      let stat: fs.Stats;
      try {
        stat = fs.lstatSync(directory);
      } catch {
        return [];
      }
      if (stat.isSymbolicLink())
        return [{ kind: 'symlink', target: fs.readlinkSync(directory), dest: directory }];
      return stat.isDirectory() ? [{ kind: 'ro-bind', source: directory, dest: directory }] : [];
    }),
  );
  const etc = [...JAIL_ETC_FILES, ...(network ? JAIL_NETWORK_ETC_FILES : [])];
  return [...systemCache, ...etc.map((file) => ({ kind: 'ro-bind-try' as const, source: file, dest: file }))];
}

/** The sandbox's paths, canonical and checked to exist, plus the symlinks that name them. */
export interface JailPaths {
  readonly readPaths: string[];
  readonly writePaths: string[];
  readonly aliases: Array<{ target: string; dest: string }>;
}

/**
 * Resolves `sandbox.readPaths` and `sandbox.writePaths` now (they may have been created since
 * the sandbox was set up). A missing one fails the step with `INVALID_OPTION` naming it.
 */
export function jailPaths(sandbox: ResolvedSandbox, root: string): JailPaths {
  const aliases: Array<{ target: string; dest: string }> = [];
  const resolve = (field: string, entries: readonly string[]) =>
    entries.map((entry, index) => {
      const real = realPathOf(entry);
      if (real === undefined) {
        throw new TaskvisorError(
          'INVALID_OPTION',
          `${field}[${index}] "${entry}" does not exist, so the jail cannot bind it; create it, or remove it from ${field}.`,
          { field: `${field}[${index}]`, value: entry, retryable: false },
        );
      }
      if (real !== entry) aliases.push({ target: real, dest: entry });
      return real;
    });
  const readPaths = resolve('sandbox.readPaths', sandbox.readPaths);
  const writePaths = resolve('sandbox.writePaths', sandbox.writePaths);
  if (root !== sandbox.cwd) aliases.push({ target: root, dest: sandbox.cwd });
  return { readPaths, writePaths, aliases };
}

/**
 * Allowed binaries that no other mount holds (a node under `~/.nvm`, a tool in `/opt`): each
 * is bound read-only as one file. Whatever else such a binary needs (npm's `lib/`, a
 * virtualenv) must be listed in `sandbox.readPaths`.
 */
export function outsideBinaries(sandbox: ResolvedSandbox, bound: readonly string[]): string[] {
  const files = new Set<string>();
  for (const binary of sandbox.allowed) {
    if (binary.realPath === undefined) continue;
    if (bound.some((directory) => isInside(binary.realPath!, directory))) continue;
    files.add(binary.realPath);
  }
  return [...files];
}

/** Real directories every jail binds (the system ones that are not symlinks). */
export function systemDirectories(mounts: readonly JailMount[]): string[] {
  return mounts.flatMap((mount) => (mount.kind === 'ro-bind' ? [mount.dest] : []));
}

/**
 * `HOME` as an empty private tmpfs, unless it is unset, relative, the filesystem root, or
 * already inside (or above a system directory of) what the jail binds: then it is left alone.
 * A HOME under `/tmp` is a directory of the jail's own `/tmp`.
 */
export function privateHome(home: string | undefined, bound: readonly string[]): string | undefined {
  if (home === undefined || !path.isAbsolute(home)) return undefined;
  const normal = path.resolve(home);
  if (normal === '/') return undefined;
  if (bound.some((directory) => isInside(normal, directory))) return undefined;
  if (SYSTEM_DIRECTORIES.some((directory) => isInside(directory, normal))) return undefined;
  return normal;
}
