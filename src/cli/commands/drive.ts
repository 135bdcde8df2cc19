/** What the commands that drive runs (run, resume, fanout) share: exit codes, Ctrl-C, the inspector's hold. */
import type { RunView } from '../../model/views.js';
import type { Io } from '../io.js';
import { EXIT_OK, EXIT_RUN_FAILED } from '../exit-codes.js';
import type { InspectorRelay } from '../inspector.js';
import type { Supervisor } from '../../supervisor.js';
import type { DisplayChoice } from '../display.js';
import { followRuns } from '../follow.js';
import { closeQuietly } from '../open-supervisor.js';

/** 0 when every run completed, 1 when one failed or was cancelled. */
export function exitCodeForViews(views: readonly RunView[]): number {
  return views.every((view) => view.phase === 'completed') ? EXIT_OK : EXIT_RUN_FAILED;
}

/**
 * On Ctrl-C (or SIGTERM) the supervisor is closed cleanly: its runs stay unfinished and
 * resume later. Exits 130; a second Ctrl-C exits at once.
 *
 * The handler stays registered while it stops (`on`, not `once`): the terminal display's
 * cursor restorer (signal-exit) re-raises SIGINT when it finds itself the last listener,
 * which killed the process before the "stopped; resume with …" line was written.
 */
export function onInterrupt(stop: () => Promise<void>): { dispose(): void } {
  let stopping = false;
  const handler = () => {
    if (stopping) process.exit(130);
    stopping = true;
    void stop().finally(() => process.exit(130));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/**
 * Follows `runIds` to their end on `display`. Ctrl-C stops the display, closes the
 * supervisor, then runs `stopped` (say how to resume); an error stops the display.
 */
export async function followInterruptibly(
  supervisor: Supervisor,
  runIds: readonly string[],
  display: DisplayChoice,
  stopped: () => void,
  failure?: Promise<unknown>,
): Promise<RunView[]> {
  const interrupted = onInterrupt(async () => {
    display.stop();
    await closeQuietly(supervisor);
    stopped();
  });
  try {
    return await followRuns(supervisor, runIds, display.display, failure);
  } catch (error) {
    display.stop();
    throw error;
  } finally {
    interrupted.dispose();
  }
}

/**
 * After the runs ended, a terminal user still has the inspector page to look at: keep
 * the relay serving until Ctrl-C. Elsewhere (a pipe, a log file, --json) stop at once.
 */
export async function holdInspector(
  inspector: InspectorRelay | undefined,
  io: Io,
  flags: { readonly json?: boolean },
): Promise<void> {
  if (!inspector || flags.json || !io.stdout.isTTY) return;
  io.stdout.write(`the inspector keeps serving at ${inspector.url}; press Ctrl-C to exit\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
  });
}
