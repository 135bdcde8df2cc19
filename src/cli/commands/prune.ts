/**
 * `taskvisor prune --older-than 30d [--phase p]`: deletes finished runs that ended longer
 * ago than that, each whole (events, attempts, artifacts, outputs, requests, commands and
 * its audit chain); episodes are kept. The audit still verifies afterwards.
 */
import { isTaskvisorError } from '../../errors.js';
import type { RunPhase } from '../../model/states.js';
import type { Supervisor } from '../../supervisor.js';
import { redactUrl } from '../../store/pg-errors.js';
import { CliError } from '../exit-codes.js';
import { type Io, printJson, printLine } from '../io.js';
import { type CommonFlags, closeQuietly, openSupervisor, requireDatabase } from '../open-supervisor.js';

export interface PruneFlags extends CommonFlags {
  readonly olderThan?: string;
  readonly phase: readonly string[];
}

export async function pruneCommand(flags: PruneFlags, io: Io): Promise<number> {
  if (flags.olderThan === undefined) {
    throw new CliError('prune needs --older-than <duration>, e.g. --older-than 30d (or 12h, 90m).');
  }
  const db = requireDatabase(flags);
  let sv: Supervisor | undefined;
  try {
    sv = await openSupervisor(flags);
    const olderThan = /^\d+$/.test(flags.olderThan) ? Number(flags.olderThan) : flags.olderThan;
    const result = await sv
      .prune({
        olderThan,
        ...(flags.phase.length > 0 ? { phases: flags.phase as RunPhase[] } : {}),
      })
      .catch((error: unknown) => {
        // Name the flag the user typed, not the API's option.
        if (isTaskvisorError(error, 'INVALID_OPTION'))
          throw new CliError(
            error.message.replace(/^prune: olderThan/, '--older-than').replace(/^prune: /, ''),
          );
        throw error;
      });
    if (flags.json) printJson(io, result);
    else
      printLine(
        io,
        `pruned ${result.runs} finished run(s) and their ${result.events} event(s) older than ${flags.olderThan} from ${redactUrl(db)}`,
      );
    return 0;
  } finally {
    await closeQuietly(sv);
  }
}
