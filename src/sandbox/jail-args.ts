/**
 * The bubblewrap command line of one jailed run, from data: which mounts in which order, which
 * namespaces, where the command starts. Pure, so the layout can be tested without a jail.
 */
import path from 'node:path';

/** One thing placed in the jail's otherwise empty filesystem. */
export type JailMount =
  | { readonly kind: 'ro-bind' | 'bind' | 'ro-bind-try'; readonly source: string; readonly dest: string }
  /** An open directory of the supervisor's, bound as it was checked (no path is looked up again). */
  | { readonly kind: 'ro-bind-fd' | 'bind-fd'; readonly fd: number; readonly dest: string }
  | { readonly kind: 'symlink'; readonly target: string; readonly dest: string }
  | { readonly kind: 'tmpfs' | 'proc' | 'dev'; readonly dest: string };

/** Where the jail keeps its own bookkeeping (a tmpfs of the jail: nothing of the host). */
export const JAIL_RUN_DIRECTORY = '/run/taskvisor';
/** The step's checked cwd, bound a second time: the start-up check compares the cwd against it. */
export const JAIL_CWD_REFERENCE = `${JAIL_RUN_DIRECTORY}/cwd`;
/** Symlinks named like the requested command, so multi-call binaries see the name they were called by. */
export const JAIL_BIN_DIRECTORY = `${JAIL_RUN_DIRECTORY}/bin`;
/** The exit code and stderr prefix of a start-up check that found the cwd swapped. */
export const CWD_CHECK_EXIT_CODE = 125;
export const CWD_CHECK_MARKER = 'taskvisor-jail: cwd';

/**
 * A POSIX sh script run before the command when it starts in a subdirectory of the sandbox
 * root: `cd` there and check (`-ef`: same device and inode) that it is the directory the
 * supervisor checked, bound at {@link JAIL_CWD_REFERENCE}. A directory swapped for a symlink
 * after the check fails the step instead of running the command elsewhere.
 */
const CWD_CHECK = `cd -P -- "$1" 2>/dev/null && [ . -ef ${JAIL_CWD_REFERENCE} ] || { printf '%s %s is not the directory that was checked\\n' '${CWD_CHECK_MARKER}' "$1" >&2; exit ${CWD_CHECK_EXIT_CODE}; }; shift; exec "$@"`;

/** What a jailed run is: its mounts by role, and the command. */
export interface JailLayout {
  /** The system's binaries, libraries and the few `/etc` files programs need, read-only. */
  readonly system: readonly JailMount[];
  /** The sandbox root (canonical path), bound writable from an open directory. */
  readonly root: { readonly fd: number; readonly path: string };
  /** `sandbox.readPaths` and `sandbox.writePaths`, canonical. */
  readonly readPaths: readonly string[];
  readonly writePaths: readonly string[];
  /** Allowed binaries outside every other mount, bound read-only one file each. */
  readonly files: readonly string[];
  /** `HOME`, as an empty private tmpfs, when nothing else holds it. */
  readonly home?: string;
  /** Configured paths that are symlinks to bound ones (a `sandbox.cwd` of `/work` -> `/srv/work`). */
  readonly aliases: ReadonlyArray<{ readonly target: string; readonly dest: string }>;
  /** Where the command starts (canonical), and, when that is not the root, the open directory to check it against. */
  readonly cwd: string;
  readonly cwdCheck?: { readonly fd: number; readonly shell: string };
  /** The checked binary (canonical) and the name it was asked for. */
  readonly binary: string;
  readonly name: string;
  readonly args: readonly string[];
  readonly network: boolean;
  readonly disableUserns: boolean;
  /** The descriptor bubblewrap writes its JSON status to (the jail's pid, then the exit code). */
  readonly statusFd: number;
}

/**
 * The mounts of a jailed run in the order bubblewrap must make them: the system first, then
 * `/proc`, `/dev` and `/tmp`, then the step's own paths from the shallowest to the deepest (so
 * a write path inside a read path stays writable), then the jail's bookkeeping.
 */
export function jailMounts(layout: JailLayout): JailMount[] {
  const own: JailMount[] = [
    ...(layout.home === undefined ? [] : [{ kind: 'tmpfs' as const, dest: layout.home }]),
    ...layout.readPaths.map((dest) => ({ kind: 'ro-bind' as const, source: dest, dest })),
    ...layout.writePaths.map((dest) => ({ kind: 'bind' as const, source: dest, dest })),
    ...layout.files.map((dest) => ({ kind: 'ro-bind' as const, source: dest, dest })),
    { kind: 'bind-fd', fd: layout.root.fd, dest: layout.root.path },
  ];
  const ordered = own
    .map((mount, index) => ({ mount, index, depth: depthOf(mount.dest) }))
    .sort((a, b) => a.depth - b.depth || a.index - b.index)
    .map(({ mount }) => mount);
  const bound = [...layout.system, ...ordered].filter(
    (mount) => mount.kind !== 'symlink' && mount.kind !== 'tmpfs',
  );
  const aliases = layout.aliases.filter(
    (alias) =>
      !bound.some((mount) => isInside(alias.dest, mount.dest)) && !isInside(alias.dest, layout.root.path),
  );
  return [
    ...layout.system,
    { kind: 'proc', dest: '/proc' },
    { kind: 'dev', dest: '/dev' },
    { kind: 'tmpfs', dest: '/tmp' },
    ...ordered,
    ...aliases.map((alias) => ({ kind: 'symlink' as const, target: alias.target, dest: alias.dest })),
    ...(layout.cwdCheck === undefined
      ? []
      : [{ kind: 'ro-bind-fd' as const, fd: layout.cwdCheck.fd, dest: JAIL_CWD_REFERENCE }]),
    ...(execName(layout) === layout.binary
      ? []
      : [{ kind: 'symlink' as const, target: layout.binary, dest: execName(layout) }]),
  ];
}

/**
 * The whole `bwrap` argv of a jailed run: new user, PID, IPC, UTS, cgroup (when it can) and,
 * unless `network`, network namespaces; every capability dropped; a new session (no terminal
 * to push input into); the jail dies with the supervisor; then the mounts, the cwd and the
 * command (behind the cwd check when it starts below the root).
 *
 * @example
 * ```ts
 * spawn(bwrap, jailArguments(layout), { stdio: ['ignore', 'pipe', 'pipe', 'pipe', rootFd] });
 * ```
 */
export function jailArguments(layout: JailLayout): string[] {
  const args = [
    '--unshare-user',
    ...(layout.disableUserns ? ['--disable-userns'] : []),
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    ...(layout.network ? [] : ['--unshare-net']),
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--json-status-fd',
    String(layout.statusFd),
  ];
  for (const mount of jailMounts(layout)) args.push(...mountArguments(mount));
  const command = [execName(layout), ...layout.args];
  if (layout.cwdCheck === undefined) {
    args.push('--chdir', layout.cwd, '--', ...command);
  } else {
    args.push(
      '--chdir',
      '/',
      '--',
      layout.cwdCheck.shell,
      '-c',
      CWD_CHECK,
      'taskvisor-cwd',
      layout.cwd,
      ...command,
    );
  }
  return args;
}

/** What the jail executes: the checked binary itself, or a symlink to it named like the request. */
function execName(layout: JailLayout): string {
  const name = path.basename(layout.name);
  return name === path.basename(layout.binary) || name === ''
    ? layout.binary
    : `${JAIL_BIN_DIRECTORY}/${name}`;
}

function mountArguments(mount: JailMount): string[] {
  switch (mount.kind) {
    case 'ro-bind':
    case 'bind':
    case 'ro-bind-try':
      return [`--${mount.kind}`, mount.source, mount.dest];
    case 'ro-bind-fd':
    case 'bind-fd':
      return [`--${mount.kind}`, String(mount.fd), mount.dest];
    case 'symlink':
      return ['--symlink', mount.target, mount.dest];
    case 'tmpfs':
    case 'proc':
    case 'dev':
      return [`--${mount.kind}`, mount.dest];
  }
}

function depthOf(file: string): number {
  return file.split('/').filter(Boolean).length;
}

/** True when `file` is `directory` or below it. */
export function isInside(file: string, directory: string): boolean {
  if (directory === '/') return true;
  return file === directory || file.startsWith(`${directory}/`);
}
