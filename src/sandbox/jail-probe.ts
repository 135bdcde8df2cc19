import { execFile } from 'node:child_process';
import { findOnPath, realPathOf } from './path-lookup.js';

/** What the jail is made of; a probe that fails names the first one this machine lacks. */
export type JailFeature =
  | 'linux'
  | 'bwrap'
  | 'mount-namespace'
  | 'user-namespace'
  | 'pid-namespace'
  | 'ipc-namespace'
  | 'uts-namespace'
  | 'network-namespace'
  | 'private-dev'
  | 'capability-drop'
  | 'jail';

/** Whether shell steps can be jailed here, and if not, what is missing and how to get it. */
export type JailSupport =
  | {
      readonly available: true;
      /** The bubblewrap binary (canonical path). */
      readonly bwrap: string;
      readonly version: string;
      /** bubblewrap >= 0.8 also stops jailed processes from creating user namespaces of their own. */
      readonly disableUserns: boolean;
    }
  | {
      readonly available: false;
      readonly missing: JailFeature;
      /** A sentence: what is missing, what bubblewrap said, and how to get it. */
      readonly reason: string;
      readonly bwrap?: string;
    };

/** What a probe needs to know: which bwrap, and whether the jail keeps its own network namespace. */
export interface JailProbeTarget {
  readonly bwrap?: string;
  readonly network: boolean;
}

const probes = new Map<string, Promise<JailSupport>>();

/**
 * Finds out, once per process (per bwrap binary and network setting), whether the jail can be
 * had: Linux, a `bwrap` binary, and every namespace the jail uses (user, mount, PID with a fresh
 * `/proc`, IPC, UTS, network unless `network: true`), by running bubblewrap with `true` inside.
 * When something is missing, `reason` names it, quotes bubblewrap, and says how to get it.
 *
 * @example
 * ```ts
 * const support = await probeJail(resolveSandbox({ allow: ['git'], cwd: '/repo' }));
 * if (!support.available) console.warn(support.reason);
 * ```
 */
export function probeJail(target: JailProbeTarget): Promise<JailSupport> {
  const key = `${target.bwrap ?? ''}\u0000${target.network}`;
  let probe = probes.get(key);
  if (probe === undefined) {
    probe = runProbe(target);
    probes.set(key, probe);
  }
  return probe;
}

/** Finds `bwrap` on a PATH (canonical path), as `resolveSandbox` does at set-up. */
export function findBwrap(searchPath: string): string | undefined {
  const found = findOnPath('bwrap', searchPath);
  return found === undefined ? undefined : realPathOf(found);
}

const BASE = ['--ro-bind', '/', '/'];

interface Stage {
  readonly feature: JailFeature;
  readonly args: readonly string[];
}

/** Each stage adds one part of the jail to the ones before it. */
function stages(network: boolean, disableUserns: boolean): Stage[] {
  return [
    { feature: 'mount-namespace', args: [] },
    { feature: 'user-namespace', args: ['--unshare-user', ...(disableUserns ? ['--disable-userns'] : [])] },
    { feature: 'pid-namespace', args: ['--unshare-pid', '--proc', '/proc'] },
    { feature: 'ipc-namespace', args: ['--unshare-ipc'] },
    { feature: 'uts-namespace', args: ['--unshare-uts'] },
    ...(network ? [] : [{ feature: 'network-namespace' as const, args: ['--unshare-net'] }]),
    { feature: 'private-dev', args: ['--dev', '/dev', '--tmpfs', '/tmp'] },
    {
      feature: 'capability-drop',
      args: ['--unshare-cgroup-try', '--die-with-parent', '--new-session', '--cap-drop', 'ALL'],
    },
  ];
}

async function runProbe(target: JailProbeTarget): Promise<JailSupport> {
  if (process.platform !== 'linux') {
    return missing(
      'linux',
      `the jail is built from Linux namespaces (bubblewrap), and this is ${process.platform}`,
      "Set sandbox.isolation: 'none' to run shell steps under the policy sandbox alone (allow list, confined cwd, filtered environment).",
    );
  }
  const bwrap = target.bwrap;
  if (bwrap === undefined) {
    return missing(
      'bwrap',
      'bubblewrap (bwrap) is not on the PATH the supervisor started with',
      "Install it (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap; Arch: pacman -S bubblewrap), or set sandbox.isolation: 'none'.",
    );
  }
  const version = await run(bwrap, ['--version']);
  if (!version.ok) {
    return missing(
      'bwrap',
      `"${bwrap} --version" failed (${version.detail})`,
      'Reinstall bubblewrap.',
      bwrap,
    );
  }
  const trueBinary = findOnPath('true', '/usr/bin:/bin') ?? '/bin/true';
  const full = async (disableUserns: boolean) =>
    run(bwrap, [
      ...BASE,
      ...stages(target.network, disableUserns).flatMap((stage) => stage.args),
      '--',
      trueBinary,
    ]);
  // --disable-userns (bubblewrap 0.8+) is hardening on top of the jail: where the kernel refuses
  // it, the jail is still the jail, and JailSupport says it goes without.
  const canDisableUserns = versionAtLeast(version.stdout, [0, 8, 0]);
  const attempt = await full(canDisableUserns);
  if (attempt.ok)
    return { available: true, bwrap, version: version.stdout.trim(), disableUserns: canDisableUserns };
  if (canDisableUserns && (await full(false)).ok) {
    return { available: true, bwrap, version: version.stdout.trim(), disableUserns: false };
  }
  // Find the first part this machine lacks.
  const all = stages(target.network, false);
  const args = [...BASE];
  for (const stage of all) {
    args.push(...stage.args);
    const partial = await run(bwrap, [...args, '--', trueBinary]);
    if (!partial.ok)
      return missing(stage.feature, said(stage.feature, partial.detail), FIX[stage.feature], bwrap);
  }
  return missing('jail', said('jail', attempt.detail), FIX.jail, bwrap);
}

const WHAT: Record<JailFeature, string> = {
  linux: 'Linux',
  bwrap: 'bubblewrap',
  'mount-namespace': 'a mount namespace',
  'user-namespace': 'a user namespace',
  'pid-namespace': 'a PID namespace with a fresh /proc',
  'ipc-namespace': 'an IPC namespace',
  'uts-namespace': 'a UTS namespace',
  'network-namespace': 'a network namespace',
  'private-dev': 'a private /dev and /tmp',
  'capability-drop': 'dropping every capability',
  jail: 'the full set of namespaces at once',
};

const USERNS_FIX =
  'Unprivileged user namespaces are probably off: enable them (sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0; on Ubuntu 23.10+ kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap; in a container, a seccomp/AppArmor profile that allows unshare), or install bwrap setuid root';

const FIX: Record<JailFeature, string> = {
  linux: '',
  bwrap: '',
  'mount-namespace': `${USERNS_FIX}; or set sandbox.isolation: 'none'.`,
  'user-namespace': `${USERNS_FIX}; or set sandbox.isolation: 'none'.`,
  'pid-namespace':
    "Containers that mask /proc forbid mounting a fresh one (Docker: --security-opt systempaths=unconfined); or set sandbox.isolation: 'none'.",
  'ipc-namespace': "Allow IPC namespaces (CONFIG_IPC_NS), or set sandbox.isolation: 'none'.",
  'uts-namespace': "Allow UTS namespaces (CONFIG_UTS_NS), or set sandbox.isolation: 'none'.",
  'network-namespace':
    "Allow network namespaces (CONFIG_NET_NS), or set sandbox.network: true if steps may use the network, or sandbox.isolation: 'none'.",
  'private-dev': "Allow tmpfs mounts in the jail, or set sandbox.isolation: 'none'.",
  'capability-drop': "Update bubblewrap (0.4 or later), or set sandbox.isolation: 'none'.",
  jail: "Check bubblewrap's message above, or set sandbox.isolation: 'none'.",
};

function said(feature: JailFeature, detail: string): string {
  return `the jail needs ${WHAT[feature]}, which bubblewrap could not set up here (${detail})`;
}

function missing(feature: JailFeature, what: string, fix: string, bwrap?: string): JailSupport {
  return {
    available: false,
    missing: feature,
    reason: `${what.charAt(0).toUpperCase()}${what.slice(1)}.${fix ? ` ${fix}` : ''}`,
    ...(bwrap === undefined ? {} : { bwrap }),
  };
}

type RunResult = { ok: true; stdout: string } | { ok: false; detail: string };

function run(file: string, args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      [...args],
      { env: {}, encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ ok: true, stdout });
          return;
        }
        const line = stderr.trim().split('\n').at(-1)?.trim();
        resolve({ ok: false, detail: line ? `bwrap said: "${line}"` : error.message });
      },
    );
  });
}

/** Whether `bubblewrap X.Y.Z` is at least `minimum`. */
function versionAtLeast(text: string, minimum: readonly [number, number, number]): boolean {
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!match) return false;
  const parts = [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
  for (let index = 0; index < 3; index++) {
    if (parts[index]! !== minimum[index]) return parts[index]! > minimum[index]!;
  }
  return true;
}
