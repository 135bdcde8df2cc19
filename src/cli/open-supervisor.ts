/**
 * Opens a supervisor for a command: the database from `--db` (or `TASKVISOR_DB`), the
 * options of a `--config` file, binaries from `--allow`, a model from the environment,
 * and the Stately inspector when `--inspect` started one.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isPostgresUrl } from '../store/pg-url.js';
import { DEFAULT_DB_PATH } from '../store/sqlite-open.js';
import { createSupervisor, type Supervisor, type SupervisorOptions } from '../supervisor.js';
import { CliError } from './exit-codes.js';
import { thisInvocation } from './invocation.js';

/** Flags every command takes. */
export interface CommonFlags {
  readonly db?: string;
  readonly json?: boolean;
}

/** Flags of the commands that drive runs (run, resume, fanout). */
export interface DriveFlags extends CommonFlags {
  readonly config?: string;
  readonly allow?: readonly string[];
  readonly model?: string;
}

/** The database of a command: a SQLite file or a postgres:// URL (--db, else TASKVISOR_DB). */
export function dbPathOf(flags: CommonFlags): string {
  return flags.db ?? (process.env.TASKVISOR_DB || DEFAULT_DB_PATH);
}

/** Fails with exit 2 when the database does not exist (commands that only read or command runs). */
export function requireDatabase(flags: CommonFlags): string {
  const db = dbPathOf(flags);
  if (db !== ':memory:' && !isPostgresUrl(db) && !existsSync(db)) {
    throw new CliError(
      `no taskvisor database at ${JSON.stringify(db)}; start a run first (${thisInvocation()} run <plan.json>) or pass --db <path> of an existing database.`,
    );
  }
  return db;
}

/** `createSupervisor` options from a config file and flags (checked by `createSupervisor` itself). */
type ConfigOptions = Record<string, unknown>;

/**
 * Reads a config file: JSON, or a JavaScript module (`.mjs`/`.js`) whose default export
 * (or `options` export) is `createSupervisor` options: custom `actions`, `sandbox`,
 * `channels`, `agents`, `llm`, `budget`, ...
 */
export async function loadConfig(file: string): Promise<ConfigOptions> {
  const absolute = path.resolve(file);
  if (!existsSync(absolute)) {
    throw new CliError(
      `--config ${JSON.stringify(file)}: no such file; pass the path of a .json or .mjs file.`,
    );
  }
  let loaded: unknown;
  if (absolute.endsWith('.json')) {
    try {
      loaded = JSON.parse(readFileSync(absolute, 'utf8'));
    } catch (error) {
      throw new CliError(`--config ${JSON.stringify(file)} is not valid JSON: ${(error as Error).message}.`);
    }
  } else {
    const module = (await import(pathToFileURL(absolute).href)) as { default?: unknown; options?: unknown };
    loaded = module.default ?? module.options;
  }
  if (typeof loaded !== 'object' || loaded === null || Array.isArray(loaded)) {
    throw new CliError(
      `--config ${JSON.stringify(file)} must hold an object of createSupervisor options (a JSON object, or a module whose default export is one).`,
    );
  }
  for (const key of ['db', 'store', 'resume', 'inspect']) {
    if (key in loaded) {
      throw new CliError(
        `--config ${JSON.stringify(file)}: "${key}" is set by the command line; remove it from the config (use --db${key === 'inspect' ? ' or --inspect' : ''}).`,
      );
    }
  }
  return loaded as ConfigOptions;
}

export interface OpenOptions {
  /**
   * The run starts from a plan file a human wrote: the model replans it only when asked
   * (`--replan`, or `maxReplans` in the config), never just because a model is configured.
   */
  readonly handWritten?: { readonly replan: boolean };
  /** Restore unfinished runs on open (only `resume` without a run id does). */
  readonly resume?: boolean;
  readonly inspect?: SupervisorOptions['inspect'];
  /** Options of the driving commands: config, --allow, the model. */
  readonly drive?: DriveFlags;
  /** Which runs it drives (default `own`; `taskvisor worker` is `all`). */
  readonly driveMode?: 'own' | 'all' | 'none';
  /** Runs driven at once (`--concurrency`), over the config's `concurrency.runs`. */
  readonly runs?: number;
  /** The id of the run this supervisor will start (the background process of `run --detach`). */
  readonly runId?: string;
  /**
   * Where `notify` on the console channel writes (unless the config sets `channels.console`):
   * the display, so a live step list is not garbled and --json output stays JSON.
   */
  readonly console?: (text: string) => void;
}

/**
 * The options a driving command passes to `createSupervisor`. Without `--model` or a
 * config's `llm`, `createSupervisor` finds a model in the environment itself
 * (TASKVISOR_MODEL, with OPENAI_BASE_URL / OPENAI_API_KEY).
 */
async function driveOptions(flags: DriveFlags): Promise<ConfigOptions> {
  const options: ConfigOptions = flags.config ? { ...(await loadConfig(flags.config)) } : {};
  if (flags.allow && flags.allow.length > 0) {
    const sandbox = (options.sandbox ?? {}) as Record<string, unknown>;
    const allow = [...((sandbox.allow as string[] | undefined) ?? []), ...flags.allow];
    options.sandbox = { cwd: process.cwd(), ...sandbox, allow };
  }
  if (options.llm === undefined && flags.model !== undefined) options.llm = { model: flags.model };
  return options;
}

export async function openSupervisor(flags: CommonFlags, open: OpenOptions = {}): Promise<Supervisor> {
  const db = dbPathOf(flags);
  const options = open.drive ? await driveOptions(open.drive) : {};
  if (open.handWritten && !open.handWritten.replan && options.maxReplans === undefined)
    options.maxReplans = 0;
  const sink = open.console;
  const channels = (options.channels ?? {}) as Record<string, unknown>;
  if (sink && open.drive && channels.console === undefined) {
    options.channels = {
      ...channels,
      console: (message: { runId: string; stepId: string; message: string }) => {
        sink(`[notify] ${message.runId}/${message.stepId}: ${message.message}`);
      },
    };
  }
  const full: SupervisorOptions = {
    ...options,
    db,
    resume: open.resume ?? false,
    ...(open.driveMode ? { drive: open.driveMode } : {}),
    ...(open.runs === undefined
      ? {}
      : { concurrency: { ...((options.concurrency as object | undefined) ?? {}), runs: open.runs } }),
    ...(open.inspect ? { inspect: open.inspect } : {}),
    ...(open.runId ? { ids: { run: () => open.runId! } } : {}),
  } as SupervisorOptions;
  return createSupervisor(full);
}

/** Closes a supervisor, keeping the first error. */
export async function closeQuietly(sv: Supervisor | undefined): Promise<void> {
  try {
    await sv?.close();
  } catch {
    // Closing after a failure: the original error is what the user needs to see.
  }
}
