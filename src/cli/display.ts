/** Picks how a command shows runs it follows: redrawn in place on a TTY, lines otherwise, nothing with --json. */
import type { RunView } from '../model/views.js';
import type { Display } from './follow.js';
import type { CommandHint } from './hints.js';
import type { Io } from './io.js';
import { LineDisplay } from './line-display.js';
import { styleFor } from './style.js';

export interface DisplayChoice {
  readonly display: Display;
  /** Stops redrawing when the command ends with an error. */
  stop(): void;
}

/** With --json, stdout holds only the JSON: lines from the work go to stderr. */
function silent(io: Io): Display {
  return {
    onEvent: () => {},
    finish: (_views: readonly RunView[]) => {},
    note: (text) => io.stderr.write(`${text}\n`),
  };
}

export async function chooseDisplay(
  io: Io,
  options: { json?: boolean; hint: CommandHint; severalRuns: boolean },
): Promise<DisplayChoice> {
  if (options.json) return { display: silent(io), stop: () => {} };
  if (io.stdout.isTTY && process.env.TERM !== 'dumb') {
    const { LiveDisplay } = await import('./live-display.js');
    const live = new LiveDisplay(io.stdout, styleFor(io.stdout), options.hint);
    return { display: live, stop: () => live.stop() };
  }
  const line = new LineDisplay((text) => io.stdout.write(`${text}\n`), options.hint, options.severalRuns);
  return { display: line, stop: () => {} };
}
