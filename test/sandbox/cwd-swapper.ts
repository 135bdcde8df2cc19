/**
 * The other process of the cwd race: swaps `<root>/work` for a symlink to /etc and back, over
 * and over, until it is killed.
 *
 * Usage: node --import tsx test/sandbox/cwd-swapper.ts <sandbox root>
 */
import fs from 'node:fs';
import path from 'node:path';

const root = process.argv[2]!;
const work = path.join(root, 'work');
const aside = `${work}.d`;
const pause = new Int32Array(new SharedArrayBuffer(4));
for (;;) {
  try {
    fs.renameSync(work, aside);
    fs.symlinkSync('/etc', work);
    Atomics.wait(pause, 0, 0, 0.2);
    fs.unlinkSync(work);
    fs.renameSync(aside, work);
    // Mostly a directory, so that steps pass the check and the swap lands at every later point.
    Atomics.wait(pause, 0, 0, 2);
  } catch {
    // A step's own move of the directory (none here) or a kill mid-swap: go on.
  }
}
