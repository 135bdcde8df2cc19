/**
 * Run by the jail tests as an unprivileged user (setpriv): one jailed shell step that reports
 * its uid, tries /etc/shadow, writes a file in the sandbox root and leaves a daemon behind;
 * prints the step's stdout.
 *
 * Usage: setpriv --reuid=65534 ... node --import tsx test/sandbox/unprivileged-worker.ts <sandbox root>
 */
import { resolveSandbox } from '../../src/sandbox/policy.js';
import { runShell } from '../../src/sandbox/run-shell.js';

const root = process.argv[2]!;
const sandbox = resolveSandbox({ allow: ['sh'], cwd: root, isolation: 'jail' });
const result = await runShell(
  {
    command: 'sh',
    args: [
      '-c',
      'id -u; cat /etc/shadow 2>&1; echo hi > written; setsid sleep 4501 </dev/null >/dev/null 2>&1 & echo done',
    ],
  },
  sandbox,
);
process.stdout.write(result.stdout);
