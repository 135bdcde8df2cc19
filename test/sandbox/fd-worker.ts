/**
 * Started by the escape tests with a directory outside the sandbox open on descriptor 9
 * without close-on-exec, as a supervisor that inherited it would have: runs a shell step under
 * each isolation that looks through descriptor 9, and prints what it saw (`sealed` when the
 * directory did not reach the step).
 *
 * Usage: node --import tsx test/sandbox/fd-worker.ts <sandbox root> <isolation>...
 */
import { resolveSandbox } from '../../src/sandbox/policy.js';
import { runShell } from '../../src/sandbox/run-shell.js';

const [root, ...isolations] = process.argv.slice(2);
for (const isolation of isolations) {
  const sandbox = resolveSandbox({ allow: ['sh'], cwd: root!, isolation: isolation as 'none' | 'jail' });
  const result = await runShell(
    { command: 'sh', args: ['-c', 'if [ -e /proc/$$/fd/9/canary ]; then echo leaked; else echo sealed; fi'] },
    sandbox,
  );
  console.log(`${isolation} ${result.stdout.trim()}`);
}
