/** `taskvisor serve`: the local web monitor (runs, their DAGs, approvals) until Ctrl-C. */
import type { Io } from '../io.js';
import { parsePort } from '../inspector.js';
import { startMonitor } from '../monitor/server.js';
import { type CommonFlags, closeQuietly, openSupervisor, requireDatabase } from '../open-supervisor.js';
import { CliError } from '../exit-codes.js';

export interface ServeFlags extends CommonFlags {
  readonly port: string;
  readonly host: string;
}

export async function serveCommand(flags: ServeFlags, io: Io): Promise<number> {
  requireDatabase(flags);
  const port = parsePort(flags.port, '--port');
  const sv = await openSupervisor(flags);
  try {
    const monitor = await startMonitor(sv, { host: flags.host, port }).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE') {
          throw new CliError(
            `--port ${port} is in use; pass another, e.g. --port ${port + 1} (or --port 0 for any free port).`,
          );
        }
        throw error;
      },
    );
    io.stdout.write(
      flags.json
        ? `${JSON.stringify({ url: monitor.url })}\n`
        : `taskvisor monitor: ${monitor.url} (Ctrl-C to stop)\n`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await monitor.close();
    return 0;
  } finally {
    await closeQuietly(sv);
  }
}
