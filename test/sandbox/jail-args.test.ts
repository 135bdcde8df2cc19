/**
 * The bubblewrap command line as data: namespaces, the order of the mounts, the aliases it may
 * make, and the start-up check in front of the command (and when it is needed). No jail is
 * needed: nothing here runs bubblewrap.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  JAIL_BIN_DIRECTORY,
  jailArguments,
  type JailLayout,
  jailMounts,
} from '../../src/sandbox/jail-args.js';
import { jailLaunch } from '../../src/sandbox/launch.js';
import { resolveSandbox } from '../../src/sandbox/policy.js';
import { useTempDirs } from './temp-dirs.js';

function layout(overrides: Partial<JailLayout> = {}): JailLayout {
  return {
    system: [
      { kind: 'ro-bind', source: '/usr', dest: '/usr' },
      { kind: 'symlink', target: 'usr/bin', dest: '/bin' },
      { kind: 'ro-bind-try', source: '/etc/passwd', dest: '/etc/passwd' },
    ],
    root: { fd: 4, path: '/work/repo', id: '1:10' },
    readPaths: [],
    writePaths: [],
    files: [],
    aliases: [],
    cwd: { path: '/work/repo', id: '1:10' },
    check: { shell: '/usr/bin/dash', stat: '/usr/bin/stat' },
    binary: '/usr/bin/git',
    name: 'git',
    args: ['status'],
    network: false,
    disableUserns: true,
    statusFd: 3,
    ...overrides,
  };
}

describe('jailArguments', () => {
  it('unshares every namespace, the network too unless allowed, and drops every capability', () => {
    const args = jailArguments(layout());
    for (const flag of [
      '--unshare-user',
      '--disable-userns',
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-net',
      '--die-with-parent',
      '--new-session',
    ]) {
      expect(args).toContain(flag);
    }
    expect(args.slice(args.indexOf('--cap-drop'), args.indexOf('--cap-drop') + 2)).toEqual([
      '--cap-drop',
      'ALL',
    ]);
    expect(args.slice(args.indexOf('--json-status-fd'), args.indexOf('--json-status-fd') + 2)).toEqual([
      '--json-status-fd',
      '3',
    ]);
    const shared = jailArguments(layout({ network: true, disableUserns: false }));
    expect(shared).not.toContain('--unshare-net');
    expect(shared).not.toContain('--disable-userns');
  });

  it('starts the command in its cwd directly when the layout has no start-up check', () => {
    const args = jailArguments(layout({ check: undefined }));
    expect(args.slice(args.indexOf('--chdir'))).toEqual([
      '--chdir',
      '/work/repo',
      '--',
      '/usr/bin/git',
      'status',
    ]);
  });

  it('runs the command behind the start-up check: the cwd, the ids and paths it was checked with, stat', () => {
    const args = jailArguments(
      layout({
        cwd: { path: '/work/repo/pkg', id: '1:11' },
        readPaths: [{ fd: 5, path: '/opt/tool', id: '2:20' }],
        writePaths: [{ fd: 6, path: '/var/cache/x', id: '3:30' }],
      }),
    );
    const command = args.slice(args.indexOf('--') + 1);
    expect(command[0]).toBe('/usr/bin/dash');
    expect(command[1]).toBe('-c');
    expect(command[2]).toContain('cd -P -- "$1"');
    expect(command.slice(3)).toEqual([
      'taskvisor-jail',
      '/work/repo/pkg',
      '1:11\n1:10\n2:20\n3:30',
      '/work/repo\n/opt/tool\n/var/cache/x',
      '/usr/bin/stat',
      '/usr/bin/git',
      'status',
    ]);
  });

  it('executes a link named like the command when the binary has another name (multi-call binaries)', () => {
    const args = jailArguments(layout({ binary: '/usr/bin/busybox', name: 'ls', args: [] }));
    expect(args.at(-1)).toBe(`${JAIL_BIN_DIRECTORY}/ls`);
    expect(jailMounts(layout({ binary: '/usr/bin/busybox', name: 'ls' })).at(-1)).toEqual({
      kind: 'symlink',
      target: '/usr/bin/busybox',
      dest: `${JAIL_BIN_DIRECTORY}/ls`,
    });
  });
});

describe('jailMounts', () => {
  it('mounts the system first, then /proc, /dev and /tmp, then the sandbox paths from the shallowest', () => {
    const mounts = jailMounts(
      layout({
        home: '/home/me',
        readPaths: [{ fd: 5, path: '/data', id: '2:1' }],
        writePaths: [{ fd: 6, path: '/data/out', id: '2:2' }],
        files: ['/opt/node/bin/node'],
      }),
    );
    expect(mounts.map((mount) => `${mount.kind} ${mount.dest}`)).toEqual([
      'ro-bind /usr',
      'symlink /bin',
      'ro-bind-try /etc/passwd',
      'proc /proc',
      'dev /dev',
      'tmpfs /tmp',
      'ro-bind-fd /data',
      'tmpfs /home/me',
      'bind-fd /data/out',
      'bind-fd /work/repo',
      'ro-bind /opt/node/bin/node',
    ]);
  });

  it('makes an alias only where it creates nothing on the host (not inside a bound directory)', () => {
    const mounts = jailMounts(
      layout({
        aliases: [
          { target: '/work/repo', dest: '/srv/repo' },
          { target: '/work/repo', dest: '/usr/local/repo' },
          { target: '/work/repo', dest: '/work/repo/self' },
          { target: '/work/repo', dest: '/tmp/repo' },
        ],
      }),
    );
    const symlinks = mounts.filter((mount) => mount.kind === 'symlink').map((mount) => mount.dest);
    expect(symlinks).toEqual(['/bin', '/srv/repo', '/tmp/repo']);
  });
});

describe('jailLaunch', () => {
  const tempDir = useTempDirs();
  const support = {
    available: true,
    bwrap: '/usr/bin/bwrap',
    version: 'bubblewrap 0.8.0',
    disableUserns: true,
  } as const;
  function argsFor(
    options: { cwd?: string; readPaths?: string[]; writePaths?: string[] },
    root: string,
  ): string[] {
    const sandbox = resolveSandbox({
      allow: ['true'],
      cwd: root,
      isolation: 'jail',
      ...(options.readPaths ? { readPaths: options.readPaths } : {}),
      ...(options.writePaths ? { writePaths: options.writePaths } : {}),
    });
    const launch = jailLaunch(
      {
        sandbox,
        root,
        cwd: options.cwd ?? root,
        binary: '/usr/bin/true',
        command: 'true',
        args: [],
        env: {},
      },
      support,
    );
    launch.release();
    return [...launch.args];
  }

  it('starts a command in the root directly: nothing a step could swap is at stake', () => {
    const root = tempDir();
    const args = argsFor({}, root);
    expect(args.slice(-4)).toEqual(['--chdir', root, '--', '/usr/bin/true']);
  });

  it('runs the start-up check for a cwd below the root, or a bound path a step could rename', () => {
    const base = tempDir();
    const root = path.join(base, 'root');
    fs.mkdirSync(path.join(root, 'pkg'), { recursive: true });
    fs.mkdirSync(path.join(base, 'docs'));
    expect(argsFor({ cwd: path.join(root, 'pkg') }, root)).toContain('taskvisor-jail');
    expect(argsFor({ readPaths: [path.join(root, 'pkg')] }, root)).toContain('taskvisor-jail');
    expect(argsFor({ writePaths: [base] }, root)).toContain('taskvisor-jail');
    expect(argsFor({ readPaths: [path.join(base, 'docs')] }, root)).not.toContain('taskvisor-jail');
  });
});
