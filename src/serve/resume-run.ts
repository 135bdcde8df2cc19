/**
 * The console's "Resume" button: the same checks as `taskvisor resume <run>` (the run's own
 * `--config`, `--allow` and `--model`; missing kinds refused before anything is touched),
 * then `taskvisor resume <run>` in a background process that logs beside the database.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { CliError } from '../cli/exit-codes.js';
import { commandHint } from '../cli/hints.js';
import { resumeSetup } from '../cli/run-config.js';
import type { RunView } from '../model/views.js';
import { Refusal } from './security.js';

export type ResumeLauncher = (view: RunView) => Promise<{ pid: number; log: string }>;

/** `command`: how to start the taskvisor bin, e.g. `[process.execPath, process.argv[1]]`. */
export function createResumeLauncher(options: {
  readonly command: readonly string[];
  readonly db: string;
}): ResumeLauncher {
  return async (view) => {
    try {
      // Refuses (409, nothing touched) what `taskvisor resume` would refuse.
      await resumeSetup([view], {}, commandHint(options.db), Boolean(process.env.TASKVISOR_MODEL?.trim()));
    } catch (error) {
      if (error instanceof CliError) throw new Refusal(409, error.message);
      throw error;
    }
    const log = path.join(path.dirname(path.resolve(options.db)), `${view.id}.resume.log`);
    mkdirSync(path.dirname(log), { recursive: true });
    const fd = openSync(log, 'a');
    const [executable, ...prefix] = options.command;
    const child = spawn(executable!, [...prefix, 'resume', view.id, '--db', options.db], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    closeSync(fd);
    child.unref();
    return { pid: child.pid ?? 0, log };
  };
}
