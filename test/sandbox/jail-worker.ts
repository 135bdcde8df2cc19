/**
 * A supervisor-like process for the jail tests: runs one jailed shell step that leaves a daemon
 * (`setsid sleep <n>`) beside its command (`sleep <n + 1>`), prints `jail <pid>` once the jail
 * runs, and waits to be killed.
 *
 * Usage: node --import tsx test/sandbox/jail-worker.ts <sandbox root> <n>
 */
import { resolveSandbox } from '../../src/sandbox/policy.js';
import { runShell } from '../../src/sandbox/run-shell.js';

const [root, marker] = process.argv.slice(2);
const sandbox = resolveSandbox({ allow: ['sh'], cwd: root!, isolation: 'jail' });
runShell(
  {
    command: 'sh',
    args: ['-c', `setsid sleep ${marker} </dev/null >/dev/null 2>&1 & sleep ${Number(marker) + 1}`],
  },
  sandbox,
  { onSpawn: (pid) => console.log(`jail ${pid}`) },
).catch((error: unknown) => {
  console.error(String(error));
  process.exit(1);
});
setInterval(() => {}, 60_000);
