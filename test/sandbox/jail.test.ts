/**
 * Whether the jail can be had, and what happens when it cannot: the probe names what is
 * missing (found with stand-in bwrap binaries that lack one namespace each), `isolation`
 * decides between refusing and running under the policy alone, and the jail works for an
 * unprivileged user as it does for root.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { isTaskvisorError, type TaskvisorError } from '../../src/errors.js';
import { decideIsolation } from '../../src/sandbox/isolation.js';
import { probeJail } from '../../src/sandbox/jail-probe.js';
import { resolveSandbox, type SandboxOptions } from '../../src/sandbox/policy.js';
import { runShell } from '../../src/sandbox/run-shell.js';
import { REPO } from '../support/processes.js';
import { JAIL, jailSupport, reportJailSkip } from './jail-support.js';
import { liveProcessesRunning, pollUntil } from './process-group.js';
import { useTempDirs } from './temp-dirs.js';

const tempDir = useTempDirs();
reportJailSkip('the jail');

/** A sandbox whose PATH has no bwrap (its binaries allowed by absolute path). */
function withoutBwrap(options: Partial<SandboxOptions> = {}) {
  return resolveSandbox(
    { allow: ['/usr/bin/echo'], cwd: tempDir(), ...options },
    { PATH: '/nonexistent-bin', HOME: '/nonexistent-home' },
  );
}

async function rejection(promise: Promise<unknown>): Promise<TaskvisorError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isTaskvisorError(error), String(error)).toBe(true);
  return error as TaskvisorError;
}

const warnings: Error[] = [];
const onWarning = (warning: Error) => {
  if ((warning as { code?: string }).code === 'TASKVISOR_NO_JAIL') warnings.push(warning);
};
afterEach(() => {
  process.off('warning', onWarning);
  warnings.length = 0;
});

describe('when there is no bubblewrap', () => {
  it('says what is missing and how to install it', async () => {
    const support = await probeJail(withoutBwrap());
    expect(support).toMatchObject({ available: false, missing: 'bwrap' });
    expect(support.available ? '' : support.reason).toContain('apt-get install bubblewrap');
  });

  it("fails a step with SANDBOX_UNAVAILABLE under isolation 'jail', before anything starts", async () => {
    const sandbox = withoutBwrap({ isolation: 'jail' });
    const error = await rejection(runShell({ command: '/usr/bin/echo', args: ['hi'] }, sandbox));
    expect(error.code).toBe('SANDBOX_UNAVAILABLE');
    expect(error.message).toContain("must run in the jail (sandbox.isolation: 'jail')");
    expect(error.message).toMatch(/bubblewrap \(bwrap\) is not on the PATH/i);
    expect(error.details).toMatchObject({ missing: 'bwrap', retryable: false });
  });

  it("runs the caller's steps under the policy alone with isolation 'auto': one warning, every run reported", async () => {
    process.on('warning', onWarning);
    const sandbox = withoutBwrap();
    const unjailed: string[] = [];
    for (let run = 0; run < 2; run++) {
      const result = await runShell({ command: '/usr/bin/echo', args: ['hi'] }, sandbox, {
        clock: new ManualClock(),
        onUnjailed: (reason) => unjailed.push(reason),
      });
      expect(result).toMatchObject({ stdout: 'hi\n', isolation: 'none' });
      expect(result.unjailed).toMatch(/bubblewrap \(bwrap\) is not on the PATH/i);
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(unjailed).toHaveLength(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain('run without the jail, under the policy sandbox alone');
  });

  it("refuses a step the model wrote under isolation 'auto', and says how to allow it", async () => {
    const sandbox = withoutBwrap();
    const error = await rejection(
      runShell({ command: '/usr/bin/echo', args: ['hi'] }, sandbox, { writtenBy: 'model' }),
    );
    expect(error.code).toBe('SANDBOX_UNAVAILABLE');
    expect(error.message).toContain(
      'was written by the model, and steps the model wrote run only in the jail',
    );
    expect(error.message).toContain("set sandbox.isolation: 'none' explicitly");
  });

  it("runs a step the model wrote under isolation 'none', without probing or warning", async () => {
    process.on('warning', onWarning);
    const sandbox = withoutBwrap({ isolation: 'none' });
    expect(await decideIsolation(sandbox, 'model')).toEqual({ isolation: 'none' });
    const result = await runShell({ command: '/usr/bin/echo', args: ['hi'] }, sandbox, {
      writtenBy: 'model',
    });
    expect(result).toMatchObject({ stdout: 'hi\n', isolation: 'none' });
    expect(result.unjailed).toBeUndefined();
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toEqual([]);
  });
});

describe.runIf(JAIL)('the probe', () => {
  it('finds the jail here, with the bubblewrap it uses', () => {
    expect(jailSupport).toMatchObject({ available: true });
    if (jailSupport.available) {
      expect(jailSupport.version).toMatch(/^bubblewrap \d+\.\d+/);
      expect(fs.realpathSync(jailSupport.bwrap)).toBe(jailSupport.bwrap);
    }
  });

  /** A bwrap that fails like one without `feature` would, and runs the real one otherwise. */
  function standIn(flag: string, message: string): string {
    const bin = tempDir('taskvisor-bwrap-');
    const real = jailSupport.available ? jailSupport.bwrap : '/usr/bin/bwrap';
    fs.writeFileSync(
      path.join(bin, 'bwrap'),
      `#!/bin/sh\nfor a in "$@"; do [ "$a" = "${flag}" ] && { echo '${message.replaceAll("'", "'\\''")}' >&2; exit 1; }; done\nexec ${real} "$@"\n`,
      { mode: 0o755 },
    );
    return bin;
  }
  const sandboxOn = (bin: string, options: Partial<SandboxOptions> = {}) =>
    resolveSandbox(
      { allow: ['sh'], cwd: tempDir(), isolation: 'jail', ...options },
      {
        PATH: `${bin}:/usr/bin:/bin`,
      },
    );

  it.each([
    [
      'user-namespace',
      '--unshare-user',
      'bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged user namespaces.',
      'kernel.unprivileged_userns_clone',
    ],
    [
      'pid-namespace',
      '--proc',
      "bwrap: Can't mount proc on /newroot/proc: Operation not permitted",
      'systempaths=unconfined',
    ],
    [
      'network-namespace',
      '--unshare-net',
      'bwrap: loopback: Failed RTM_NEWADDR: Operation not permitted',
      'sandbox.network: true',
    ],
  ])('names a missing %s, quotes bubblewrap and says how to get it', async (feature, flag, message, fix) => {
    const sandbox = sandboxOn(standIn(flag, message));
    const support = await probeJail(sandbox);
    expect(support).toMatchObject({ available: false, missing: feature });
    const reason = support.available ? '' : support.reason;
    expect(reason).toContain(`bwrap said: "${message}"`);
    expect(reason).toContain(fix);
    const error = await rejection(runShell({ command: 'sh', args: ['-c', 'true'] }, sandbox));
    expect(error.code).toBe('SANDBOX_UNAVAILABLE');
    expect(error.message).toContain(message);
  });

  it('goes without --disable-userns (hardening on top) where bubblewrap cannot, and says so', async () => {
    const sandbox = sandboxOn(standIn('--disable-userns', 'bwrap: --disable-userns not supported by kernel'));
    expect(await probeJail(sandbox)).toMatchObject({ available: true, disableUserns: false });
    const result = await runShell({ command: 'sh', args: ['-c', 'echo jailed'] }, sandbox, {
      clock: new ManualClock(),
    });
    expect(result).toMatchObject({ stdout: 'jailed\n', isolation: 'jail' });
  });

  it('needs no network namespace with sandbox.network: true', async () => {
    const bin = standIn('--unshare-net', 'bwrap: loopback: Failed RTM_NEWADDR: Operation not permitted');
    const sandbox = sandboxOn(bin, { network: true });
    expect(await probeJail(sandbox)).toMatchObject({ available: true, bwrap: path.join(bin, 'bwrap') });
    const result = await runShell({ command: 'sh', args: ['-c', 'echo jailed'] }, sandbox, {
      clock: new ManualClock(),
    });
    expect(result).toMatchObject({ stdout: 'jailed\n', isolation: 'jail' });
  });
});

const isRoot = process.getuid?.() === 0;
const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((file) => fs.existsSync(file));
if (JAIL && !(isRoot && setpriv)) {
  console.log(
    'the jail for an unprivileged user: left out (it needs root and setpriv to switch users); the suite already runs unprivileged here',
  );
}

describe.runIf(JAIL && isRoot && setpriv !== undefined)('for an unprivileged user', () => {
  it('jails as nobody too: its own uid, no /etc/shadow, the files it writes are its own, daemons end', async () => {
    const root = tempDir();
    fs.chmodSync(root, 0o777);
    const worker = spawnSync(
      setpriv!,
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        '--import',
        'tsx',
        'test/sandbox/unprivileged-worker.ts',
        root,
      ],
      {
        cwd: REPO,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', NODE_NO_WARNINGS: '1' },
      },
    );
    expect(worker.stderr).toBe('');
    expect(worker.status).toBe(0);
    expect(worker.stdout).toBe('65534\ncat: /etc/shadow: No such file or directory\ndone\n');
    expect(fs.statSync(path.join(root, 'written')).uid).toBe(65534);
    await pollUntil(() => liveProcessesRunning(['sleep', '4501']).length === 0, 'the daemon is gone');
  }, 30_000);
});
