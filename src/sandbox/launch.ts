/**
 * How a checked command is started: under the policy alone (the binary itself, started in the
 * checked cwd through an open descriptor) or in the jail (bubblewrap, the sandbox's paths bound
 * from open descriptors, and a start-up check of what was bound before the command runs).
 * Either way no path is trusted again after the check.
 */
import fs from 'node:fs';
import type { StdioOptions } from 'node:child_process';
import { TaskvisorError } from '../errors.js';
import { type DirectoryHandle, openDirectory } from './directory-handle.js';
import { type CheckedPath, isInside, jailArguments, type JailLayout } from './jail-args.js';
import { jailPaths, outsideBinaries, privateHome, systemDirectories, systemMounts } from './jail-layout.js';
import type { JailSupport } from './jail-probe.js';
import { findOnPath, realPathOf } from './path-lookup.js';
import type { ResolvedSandbox } from './policy.js';

/** What to spawn. Call `release()` once the child has ended (it closes the descriptors). */
export interface Launch {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly argv0?: string;
  readonly stdio: StdioOptions;
  readonly jailed: boolean;
  release(): void;
}

/** The first descriptor numbers inside bubblewrap: its JSON status, then the bound paths. */
const STATUS_FD = 3;
const FIRST_BOUND_FD = 4;

export interface LaunchInput {
  readonly sandbox: ResolvedSandbox;
  /** The canonical sandbox root and step cwd (inside it), as `confineCwd` resolved them. */
  readonly root: string;
  readonly cwd: string;
  /** The checked binary (canonical) and the command as the step named it. */
  readonly binary: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** The binary itself, started in the checked cwd (`/proc/self/fd/N` resolves to the directory that was checked). */
export function policyLaunch(input: LaunchInput): Launch {
  const cwd = openDirectory(input.cwd, "The step's cwd");
  const stdio = withoutLeaks(['ignore', 'pipe', 'pipe']);
  return {
    file: input.binary,
    args: input.args,
    cwd: cwd.procPath,
    argv0: input.command,
    stdio: stdio.stdio,
    jailed: false,
    release: () => {
      cwd.close();
      stdio.release();
    },
  };
}

/** bubblewrap around the binary: see `jailArguments` for the namespaces and `jailMounts` for what it sees. */
export function jailLaunch(input: LaunchInput, support: Extract<JailSupport, { available: true }>): Launch {
  const { sandbox } = input;
  if (input.root === '/') {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `sandbox.cwd is "${input.sandbox.cwd}", the whole filesystem, and the jail binds sandbox.cwd writable, so it would confine nothing; point sandbox.cwd at the work directory, or set sandbox.isolation: 'none'.`,
      { field: 'sandbox.cwd', value: input.sandbox.cwd, retryable: false },
    );
  }
  const handles: DirectoryHandle[] = [];
  const release = () => {
    for (const handle of handles.splice(0)) handle.close();
  };
  try {
    const open = (file: string, what: string, fileToo = false): DirectoryHandle => {
      if (file.includes('\n')) {
        throw new TaskvisorError(
          'INVALID_OPTION',
          `${what} ${JSON.stringify(file)} has a newline in its path, which the jail cannot bind; rename it.`,
          { path: file, retryable: false },
        );
      }
      const handle = openDirectory(file, what, { fileToo });
      handles.push(handle);
      return handle;
    };
    const paths = jailPaths(sandbox, input.root);
    const cwd = open(input.cwd, "The step's cwd");
    const bound: DirectoryHandle[] = [];
    const bind = (file: string, what: string, fileToo = false): CheckedPath => {
      const handle = open(file, what, fileToo);
      bound.push(handle);
      return { fd: FIRST_BOUND_FD + bound.length - 1, path: handle.path, id: handle.id };
    };
    const root = bind(input.root, 'The sandbox root');
    const readPaths = paths.readPaths.map((file) => bind(file, 'A sandbox.readPaths entry', true));
    const writePaths = paths.writePaths.map((file) => bind(file, 'A sandbox.writePaths entry', true));

    // What a jailed step could swap or rename: then the start-up check verifies what was bound.
    const writable = [input.root, ...paths.writePaths];
    const renamable = (file: string) =>
      writable.some((directory) => directory !== file && isInside(file, directory));
    const atStake =
      input.cwd !== input.root || [input.root, ...paths.readPaths, ...paths.writePaths].some(renamable);

    const system = systemMounts(sandbox.network);
    const visible = [...systemDirectories(system), input.root, ...paths.readPaths, ...paths.writePaths];
    const home = privateHome(input.env.HOME, visible);
    const layout: JailLayout = {
      system,
      root,
      readPaths,
      writePaths,
      files: outsideBinaries(sandbox, visible),
      ...(home === undefined ? {} : { home }),
      aliases: paths.aliases,
      cwd: { path: cwd.path, id: cwd.id },
      ...(atStake ? { check: { shell: systemBinary('sh'), stat: systemBinary('stat') } } : {}),
      binary: input.binary,
      name: input.command,
      args: input.args,
      network: sandbox.network,
      disableUserns: support.disableUserns,
      statusFd: STATUS_FD,
    };
    const stdio = withoutLeaks(['ignore', 'pipe', 'pipe', 'pipe', ...bound.map((handle) => handle.fd)]);
    return {
      file: support.bwrap,
      args: jailArguments(layout),
      cwd: '/',
      stdio: stdio.stdio,
      jailed: true,
      release: () => {
        release();
        stdio.release();
      },
    };
  } catch (error) {
    release();
    throw error;
  }
}

/** A binary of the jail's start-up check (`sh`, `stat`), from the system directories. */
function systemBinary(name: string): string {
  const found = findOnPath(name, '/usr/bin:/bin');
  const binary = found === undefined ? undefined : realPathOf(found);
  if (binary === undefined) {
    throw new TaskvisorError(
      'SANDBOX_UNAVAILABLE',
      `The jail checks what it bound before a command starts, with /bin/sh and stat, and there is no ${name} in /usr/bin or /bin; install it (coreutils), or set sandbox.isolation: 'none'.`,
      { missing: name, retryable: false },
    );
  }
  return binary;
}

/**
 * `stdio` with every descriptor this process would leak into the child replaced by /dev/null.
 * Node opens its own descriptors close-on-exec, but one this process inherited without that
 * flag (from whoever started it) would otherwise reach the command — into the jail too, where
 * a directory descriptor of the host would undo the jail.
 */
function withoutLeaks(stdio: Array<'ignore' | 'pipe' | number>): { stdio: StdioOptions; release(): void } {
  const leaked = inheritableDescriptors().filter((fd) => fd >= stdio.length);
  if (leaked.length === 0) return { stdio, release: () => {} };
  const devNull = fs.openSync('/dev/null', 'r');
  const filled: Array<'ignore' | 'pipe' | number> = [...stdio];
  for (const fd of leaked) {
    while (filled.length < fd) filled.push('ignore');
    filled[fd] = devNull;
  }
  let closed = false;
  return {
    stdio: filled,
    release: () => {
      if (closed) return;
      closed = true;
      fs.closeSync(devNull);
    },
  };
}

/** Descriptors above stderr that are open without close-on-exec in this process (Linux /proc). */
function inheritableDescriptors(): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  const O_CLOEXEC = 0o2000000;
  const found: number[] = [];
  for (const entry of entries) {
    const fd = Number(entry);
    if (!Number.isInteger(fd) || fd <= 2) continue;
    try {
      const flags = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      if (flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) === 0) found.push(fd);
    } catch {
      // closed while we looked
    }
  }
  return found.sort((a, b) => a - b);
}
