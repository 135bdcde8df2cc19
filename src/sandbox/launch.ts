/**
 * How a checked command is started: under the policy alone (the binary itself, started in the
 * checked cwd through an open descriptor) or in the jail (bubblewrap, with the sandbox root and
 * the cwd bound from open descriptors). Either way no path is looked up again after the check.
 */
import type { StdioOptions } from 'node:child_process';
import { TaskvisorError } from '../errors.js';
import { openDirectory, type DirectoryHandle } from './directory-handle.js';
import { jailArguments, type JailLayout } from './jail-args.js';
import { jailPaths, outsideBinaries, privateHome, systemDirectories, systemMounts } from './jail-layout.js';
import type { JailSupport } from './jail-probe.js';
import { findOnPath, realPathOf } from './path-lookup.js';
import type { ResolvedSandbox } from './policy.js';

/** What to spawn. Call `release()` once spawned: the child holds its own copies of the descriptors. */
export interface Launch {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly argv0?: string;
  readonly stdio: StdioOptions;
  readonly jailed: boolean;
  release(): void;
}

/** The descriptor numbers inside bubblewrap: its JSON status, the root, the cwd to check. */
const STATUS_FD = 3;
const ROOT_FD = 4;
const CWD_FD = 5;

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
  return {
    file: input.binary,
    args: input.args,
    cwd: cwd.procPath,
    argv0: input.command,
    stdio: ['ignore', 'pipe', 'pipe'],
    jailed: false,
    release: () => cwd.close(),
  };
}

/** bubblewrap around the binary: see `jailArguments` for the namespaces and `jailMounts` for what it sees. */
export function jailLaunch(input: LaunchInput, support: Extract<JailSupport, { available: true }>): Launch {
  const { sandbox } = input;
  const handles: DirectoryHandle[] = [];
  const release = () => {
    for (const handle of handles.splice(0)) handle.close();
  };
  if (input.root === '/') {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `sandbox.cwd is "${input.sandbox.cwd}", the whole filesystem, and the jail binds sandbox.cwd writable, so it would confine nothing; point sandbox.cwd at the work directory, or set sandbox.isolation: 'none'.`,
      { field: 'sandbox.cwd', value: input.sandbox.cwd, retryable: false },
    );
  }
  try {
    const root = openDirectory(input.root, 'The sandbox root');
    handles.push(root);
    const below = input.cwd !== input.root;
    const cwd = below ? openDirectory(input.cwd, "The step's cwd") : undefined;
    if (cwd) handles.push(cwd);

    const system = systemMounts(sandbox.network);
    const paths = jailPaths(sandbox, input.root);
    const bound = [...systemDirectories(system), input.root, ...paths.readPaths, ...paths.writePaths];
    const shell = below ? checkShell() : undefined;
    const layout: JailLayout = {
      system,
      root: { fd: ROOT_FD, path: input.root },
      readPaths: paths.readPaths,
      writePaths: paths.writePaths,
      files: outsideBinaries(sandbox, bound),
      ...(privateHome(input.env.HOME, bound) === undefined
        ? {}
        : { home: privateHome(input.env.HOME, bound)! }),
      aliases: paths.aliases,
      cwd: input.cwd,
      ...(shell === undefined ? {} : { cwdCheck: { fd: CWD_FD, shell } }),
      binary: input.binary,
      name: input.command,
      args: input.args,
      network: sandbox.network,
      disableUserns: support.disableUserns,
      statusFd: STATUS_FD,
    };
    return {
      file: support.bwrap,
      args: jailArguments(layout),
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', root.fd, ...(cwd ? [cwd.fd] : [])],
      jailed: true,
      release,
    };
  } catch (error) {
    release();
    throw error;
  }
}

/** The shell that checks a cwd below the root inside the jail. */
function checkShell(): string {
  const found = findOnPath('sh', '/usr/bin:/bin');
  const shell = found === undefined ? undefined : realPathOf(found);
  if (shell === undefined) {
    throw new TaskvisorError(
      'SANDBOX_UNAVAILABLE',
      'A step whose cwd is below the sandbox root needs /bin/sh inside the jail to check its cwd, and there is none; install a POSIX sh, or run the step in the sandbox root.',
      { missing: 'sh', retryable: false },
    );
  }
  return shell;
}
