#!/usr/bin/env node
/** The `taskvisor` executable: runs the command line and exits with its code. */
import { main } from './program.js';

// `taskvisor ls | head`: once the reader is gone, stop quietly (as a pipe's writer does),
// without an EPIPE stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

process.exitCode = await main(process.argv.slice(2));
