/** `taskvisor serve`: the local console (runs, their DAGs, every human action) until Ctrl-C. */
import path from 'node:path';
import type { Io } from '../io.js';
import { parsePort } from '../inspector.js';
import { startConsole } from '../../serve/console-server.js';
import { createResumeLauncher } from '../../serve/resume-run.js';
import { type CommonFlags, closeQuietly, openSupervisor, requireDatabase } from '../open-supervisor.js';
import { CliError } from '../exit-codes.js';

export interface ServeFlags extends CommonFlags {
  readonly port: string;
  readonly host: string;
}

export async function serveCommand(flags: ServeFlags, io: Io): Promise<number> {
  const db = path.resolve(requireDatabase(flags));
  const port = parsePort(flags.port, '--port');
  const sv = await openSupervisor(flags);
  try {
    const consoleServer = await startConsole(sv, {
      host: flags.host,
      port,
      db,
      resume: createResumeLauncher({
        command: [process.execPath, ...process.execArgv, process.argv[1]!],
        db,
      }),
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        throw new CliError(
          `--port ${port} is in use; pass another, e.g. --port ${port + 1} (or --port 0 for any free port).`,
        );
      }
      throw error;
    });
    if (consoleServer.warning) io.stderr.write(`taskvisor: ${consoleServer.warning}\n`);
    io.stdout.write(
      flags.json
        ? `${JSON.stringify({ url: consoleServer.url })}\n`
        : `taskvisor console: ${consoleServer.url} (Ctrl-C to stop)\n`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await consoleServer.close();
    return 0;
  } finally {
    await closeQuietly(sv);
  }
}
