/**
 * `taskvisor fanout "<prompt>" --target <model> …`: one prompt to several model targets,
 * optionally repeated and reduced, followed to the end like `run`.
 */
import { ReduceModeSchema } from '../../model/action.js';
import { didYouMean } from '../../model/suggest.js';
import type { Supervisor } from '../../supervisor.js';
import { chooseDisplay } from '../display.js';
import { type Io, printJson, printLine } from '../io.js';
import { CliError } from '../exit-codes.js';
import { commandHint } from '../hints.js';
import { closeQuietly, type DriveFlags, loadConfig, openSupervisor } from '../open-supervisor.js';
import { hasModel, requireEndpointsFor } from '../preflight.js';
import { recordConfig } from '../run-config.js';
import { exitCodeForViews, followInterruptibly } from './drive.js';

export interface FanoutFlags extends DriveFlags {
  readonly target: readonly string[];
  readonly repeat?: number;
  readonly reduce?: string;
  readonly reduceTarget?: string;
}

export async function fanoutCommand(prompt: string, flags: FanoutFlags, io: Io): Promise<number> {
  if (flags.target.length === 0) {
    throw new CliError(
      'fanout needs at least one --target <model>, e.g. --target gpt-4o-mini --target llama3.2.',
    );
  }
  if (flags.reduce !== undefined && !ReduceModeSchema.safeParse(flags.reduce).success) {
    throw new CliError(
      `--reduce ${JSON.stringify(flags.reduce)} is not a reduce mode${didYouMean(flags.reduce, ReduceModeSchema.options)}; modes are ${ReduceModeSchema.options.join(', ')}.`,
    );
  }
  if (flags.reduceTarget !== undefined && flags.reduce === undefined) {
    throw new CliError('--reduce-target needs --reduce <mode>.');
  }
  const withModel = hasModel(flags, flags.config ? await loadConfig(flags.config) : {});
  requireEndpointsFor(flags.target, withModel);
  const hint = commandHint(flags.db);
  const display = await chooseDisplay(io, { json: flags.json, hint, severalRuns: false });
  let sv: Supervisor | undefined;
  try {
    sv = await openSupervisor(flags, {
      drive: flags,
      console: (text) => display.display.note(text),
    });
    const handle = await sv.fanout({
      metadata: recordConfig(flags),
      prompt,
      targets: [...flags.target],
      ...(flags.repeat !== undefined ? { repeat: flags.repeat } : {}),
      ...(flags.reduce !== undefined
        ? {
            reduce: {
              mode: ReduceModeSchema.parse(flags.reduce),
              ...(flags.reduceTarget ? { target: flags.reduceTarget } : {}),
            },
          }
        : {}),
    });
    if (!flags.json) printLine(io, `run ${handle.id}`);
    const views = await followInterruptibly(
      sv,
      [handle.id],
      display,
      () =>
        io.stderr.write(
          `\ntaskvisor: stopped; run ${handle.id} resumes with ${hint(`resume ${handle.id}`)}.\n`,
        ),
      handle.done,
    );
    if (flags.json) printJson(io, views[0]);
    return exitCodeForViews(views);
  } finally {
    display.stop();
    await closeQuietly(sv);
  }
}
