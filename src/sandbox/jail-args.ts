/**
 * The bubblewrap command line of one jailed run, from data: which mounts in which order, which
 * namespaces, and the start-up check that runs before the command. Pure, so the layout can be
 * tested without a jail.
 */
import path from 'node:path';

/** One thing placed in the jail's otherwise empty filesystem. */
export type JailMount =
  | { readonly kind: 'ro-bind' | 'bind' | 'ro-bind-try'; readonly source: string; readonly dest: string }
  /** An open descriptor of the supervisor's (bubblewrap checks the path still is that file, then binds it). */
  | { readonly kind: 'ro-bind-fd' | 'bind-fd'; readonly fd: number; readonly dest: string }
  | { readonly kind: 'symlink'; readonly target: string; readonly dest: string }
  | { readonly kind: 'tmpfs' | 'proc' | 'dev'; readonly dest: string };

/** A path of the sandbox bound from an open descriptor, with the identity it had when it was checked. */
export interface CheckedPath {
  readonly fd: number;
  /** Canonical. */
  readonly path: string;
  /** `<st_dev>:<st_ino>` of what was opened and checked. */
  readonly id: string;
}

/** Symlinks named like the requested command, so multi-call binaries see the name they were called by. */
export const JAIL_BIN_DIRECTORY = '/run/taskvisor/bin';
/** The exit code and stderr prefix of a start-up check that found something swapped. */
export const START_CHECK_EXIT_CODE = 125;
export const START_CHECK_MARKER = 'taskvisor-jail: not what was checked:';

/**
 * The start-up check, a POSIX sh script run inside the jail just before the command: `cd` to
 * the step's cwd, then compare the device and inode of the cwd and of every bound path of the
 * sandbox (`stat -c %d:%i`) with those of what the supervisor opened and checked. bubblewrap
 * binds by path (after its own check), so a directory swapped in that instant, or the cwd
 * swapped after it, fails the step here instead of running the command anywhere else.
 * Arguments: cwd, the expected ids (one a line), the paths (one a line), `stat`, the command.
 *
 * It costs a shell and a `stat` per run, so it runs only when something a jailed step could
 * reach is at stake: a cwd below the root (a step can swap it), or a bound path inside the
 * root or inside a write path (a step can rename it). Otherwise the command starts in the
 * root, a path made of the jail's own directories and the root's mount: nothing to swap.
 */
const START_CHECK = [
  `cd -P -- "$1" 2>/dev/null && set -f && IFS='\n' && got=$("$4" -c %d:%i -- . $3) && unset IFS && set +f && [ "$got" = "$2" ]`,
  `|| { printf '%s cwd %s\\n' '${START_CHECK_MARKER}' "$1" >&2; exit ${START_CHECK_EXIT_CODE}; }`,
  '; unset OLDPWD; shift 4; exec "$@"',
].join(' ');

/** What a jailed run is: its mounts by role, and the command. */
export interface JailLayout {
  /** The system's binaries, libraries and the few `/etc` files programs need, read-only. */
  readonly system: readonly JailMount[];
  /** The sandbox root, bound writable. */
  readonly root: CheckedPath;
  /** `sandbox.readPaths` (read-only) and `sandbox.writePaths` (writable). */
  readonly readPaths: readonly CheckedPath[];
  readonly writePaths: readonly CheckedPath[];
  /** Allowed binaries outside every other mount, bound read-only one file each. */
  readonly files: readonly string[];
  /** `HOME`, as an empty private tmpfs, when nothing else holds it. */
  readonly home?: string;
  /** Configured paths that are symlinks to bound ones (a `sandbox.cwd` of `/work` -> `/srv/work`). */
  readonly aliases: ReadonlyArray<{ readonly target: string; readonly dest: string }>;
  /** Where the command starts (canonical, inside the root) and the identity it had when checked. */
  readonly cwd: { readonly path: string; readonly id: string };
  /** The `sh` and `stat` of the start-up check (canonical, inside the system directories), when it runs. */
  readonly check?: { readonly shell: string; readonly stat: string };
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
 * a write path inside a read path stays writable), then the aliases and the command's link.
 */
export function jailMounts(layout: JailLayout): JailMount[] {
  const own: JailMount[] = [
    ...(layout.home === undefined ? [] : [{ kind: 'tmpfs' as const, dest: layout.home }]),
    ...layout.readPaths.map((bound) => ({ kind: 'ro-bind-fd' as const, fd: bound.fd, dest: bound.path })),
    ...layout.writePaths.map((bound) => ({ kind: 'bind-fd' as const, fd: bound.fd, dest: bound.path })),
    ...layout.files.map((dest) => ({ kind: 'ro-bind' as const, source: dest, dest })),
    { kind: 'bind-fd', fd: layout.root.fd, dest: layout.root.path },
  ];
  const ordered = own
    .map((mount, index) => ({ mount, index, depth: depthOf(mount.dest) }))
    .sort((a, b) => a.depth - b.depth || a.index - b.index)
    .map(({ mount }) => mount);
  // An alias is made only where it creates nothing on the host: not inside a bound directory.
  const bound = [...layout.system, ...ordered].filter(
    (mount) => mount.kind !== 'symlink' && mount.kind !== 'tmpfs',
  );
  const aliases = layout.aliases.filter((alias) => !bound.some((mount) => isInside(alias.dest, mount.dest)));
  const exec = execPath(layout);
  return [
    ...layout.system,
    { kind: 'proc', dest: '/proc' },
    { kind: 'dev', dest: '/dev' },
    { kind: 'tmpfs', dest: '/tmp' },
    ...ordered,
    ...aliases.map((alias) => ({ kind: 'symlink' as const, target: alias.target, dest: alias.dest })),
    ...(exec === layout.binary ? [] : [{ kind: 'symlink' as const, target: layout.binary, dest: exec }]),
  ];
}

/**
 * The whole `bwrap` argv of a jailed run: new user, PID, IPC, UTS, cgroup (when it can) and,
 * unless `network`, network namespaces; every capability dropped; a new session (no terminal
 * to push input into); the jail dies with the supervisor; then the mounts, and the command
 * (behind the start-up check when the layout has one).
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
  if (layout.check === undefined) {
    args.push('--chdir', layout.cwd.path, '--', execPath(layout), ...layout.args);
    return args;
  }
  const checked = [layout.root, ...layout.readPaths, ...layout.writePaths];
  args.push(
    '--chdir',
    '/',
    '--',
    layout.check.shell,
    '-c',
    START_CHECK,
    'taskvisor-jail',
    layout.cwd.path,
    [layout.cwd.id, ...checked.map((bound) => bound.id)].join('\n'),
    checked.map((bound) => bound.path).join('\n'),
    layout.check.stat,
    execPath(layout),
    ...layout.args,
  );
  return args;
}

/** What the jail executes: the checked binary itself, or a symlink to it named like the request. */
function execPath(layout: JailLayout): string {
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
