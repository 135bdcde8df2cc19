/**
 * A run started from the command line remembers how it was started: which `--config` file
 * (absolute path and SHA-256 of its content), which `--allow` binaries and which `--model`.
 * `resume` (and the console's resume) drive it with the same, warn when the file changed
 * since, and refuse with exit 2 before touching the run when the step kinds or the model it
 * still needs are not available, naming them and the flag that provides them.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Json } from '../model/json.js';
import { knownKinds } from '../model/parse-plan.js';
import type { RunView } from '../model/views.js';
import { CliError } from './exit-codes.js';
import type { CommandHint } from './hints.js';
import { type DriveFlags, loadConfig } from './open-supervisor.js';

/** The key of `RunView.metadata` where the command line records how it started a run. */
export const CLI_METADATA_KEY = 'taskvisorCli';

const RecordedSchema = z.object({
  config: z.object({ path: z.string(), sha256: z.string() }).optional(),
  allow: z.array(z.string()).default([]),
  model: z.string().optional(),
});
export type RecordedConfig = z.infer<typeof RecordedSchema>;

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** What `run` records in the run's metadata. */
export function recordConfig(flags: DriveFlags): Record<string, Json> {
  const recorded: Record<string, Json> = { allow: [...(flags.allow ?? [])] };
  if (flags.config !== undefined) {
    const absolute = path.resolve(flags.config);
    recorded.config = { path: absolute, sha256: existsSync(absolute) ? sha256(absolute) : '' };
  }
  if (flags.model !== undefined) recorded.model = flags.model;
  return { [CLI_METADATA_KEY]: recorded };
}

/** How the run was started from the command line, or undefined (an embedding app started it). */
export function recordedConfigOf(view: Pick<RunView, 'metadata'>): RecordedConfig | undefined {
  const value = view.metadata?.[CLI_METADATA_KEY];
  if (value === undefined) return undefined;
  const parsed = RecordedSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** Step kinds the run still needs: those of steps that may still run, and of a proposed replan. */
export function kindsNeeded(view: RunView): Map<string, string[]> {
  const needed = new Map<string, string[]>();
  const add = (kind: string, stepId: string) => needed.set(kind, [...(needed.get(kind) ?? []), stepId]);
  for (const step of view.steps) {
    if (step.state === 'succeeded' || step.state === 'skipped' || step.replacedBy !== undefined) continue;
    if (step.state === 'cancelled') continue;
    add(step.kind, step.id);
  }
  for (const step of view.proposal ?? []) add(step.kind, step.id);
  return needed;
}

export interface ResumeSetup {
  /** The flags to open the driving supervisor with. */
  readonly flags: DriveFlags;
  /** Lines for stderr (a config file changed since the run started). */
  readonly warnings: string[];
}

function describeRecorded(recorded: RecordedConfig | undefined): string {
  if (!recorded) return 'it was not started from the command line';
  const parts: string[] = [];
  if (recorded.config) parts.push(`--config ${recorded.config.path}`);
  if (recorded.allow.length > 0) parts.push(`--allow ${recorded.allow.join(',')}`);
  if (recorded.model) parts.push(`--model ${recorded.model}`);
  return parts.length > 0 ? `it was started with ${parts.join(' ')}` : 'it was started with no --config';
}

/**
 * The flags that drive `views` as they were started (the flags given now win), or a
 * `CliError` (exit 2) naming what is missing: a config file that is gone, configs that
 * differ between runs, step kinds nothing registers, a model for model steps.
 */
export async function resumeSetup(
  views: readonly RunView[],
  given: DriveFlags,
  hint: CommandHint,
  modelFromEnvironment: boolean,
): Promise<ResumeSetup> {
  const recordings = views.map((view) => ({ view, recorded: recordedConfigOf(view) }));
  const configs = new Set(
    recordings.map(({ recorded }) => recorded?.config?.path).filter((file) => file !== undefined),
  );
  if (given.config === undefined && configs.size > 1) {
    throw new CliError(
      `the runs to resume were started with different --config files (${[...configs].join(', ')}); resume them one at a time: ${recordings.map(({ view }) => hint(`resume ${view.id}`)).join(', ')}.`,
    );
  }
  const warnings: string[] = [];
  const recordedConfig = recordings.find(({ recorded }) => recorded?.config)?.recorded?.config;
  let config = given.config;
  if (config === undefined && recordedConfig) {
    if (!existsSync(recordedConfig.path)) {
      const run = recordings.find(({ recorded }) => recorded?.config)!.view.id;
      throw new CliError(
        `run ${run} was started with --config ${recordedConfig.path}, which is gone; pass --config <file> with the options it needs (${hint(`resume ${run} --config <file>`)}).`,
      );
    }
    config = recordedConfig.path;
    if (recordedConfig.sha256 !== '' && sha256(recordedConfig.path) !== recordedConfig.sha256) {
      warnings.push(
        `taskvisor: warning: ${recordedConfig.path} changed since the run started (sha256 ${recordedConfig.sha256.slice(0, 12)}… then, ${sha256(recordedConfig.path).slice(0, 12)}… now); resuming with the file as it is now.`,
      );
    }
  }
  const allow = [
    ...new Set([...recordings.flatMap(({ recorded }) => recorded?.allow ?? []), ...(given.allow ?? [])]),
  ];
  const model = given.model ?? recordings.find(({ recorded }) => recorded?.model)?.recorded?.model;
  const flags: DriveFlags = {
    ...given,
    ...(config === undefined ? {} : { config }),
    allow,
    ...(model === undefined ? {} : { model }),
  };

  const options = config === undefined ? {} : await loadConfig(config);
  const registered = knownKinds(Object.keys((options.actions as Record<string, unknown> | undefined) ?? {}));
  const hasModel = model !== undefined || options.llm !== undefined || modelFromEnvironment;
  for (const { view, recorded } of recordings) {
    const needed = kindsNeeded(view);
    const missing = [...needed].filter(([kind]) => !registered.includes(kind));
    if (missing.length > 0) {
      const list = missing.map(([kind, steps]) => `"${kind}" (step ${steps.join(', ')})`).join(', ');
      throw new CliError(
        `run ${view.id} needs step kind${missing.length === 1 ? '' : 's'} ${list}, which ${config ? `--config ${config} does not register` : 'no --config registers'}; ${describeRecorded(recorded)}. Pass --config <file> whose actions register ${missing.length === 1 ? 'it' : 'them'} (${hint(`resume ${view.id} --config <file>`)}). Nothing was changed.`,
      );
    }
    const modelSteps = [...needed].filter(([kind]) => kind === 'research' || kind === 'review');
    if (modelSteps.length > 0 && !hasModel) {
      const steps = modelSteps.flatMap(([, ids]) => ids).join(', ');
      throw new CliError(
        `run ${view.id} has model steps left (${steps}) and no model is configured; pass --model <name> (with OPENAI_BASE_URL / OPENAI_API_KEY), or set TASKVISOR_MODEL. Nothing was changed.`,
      );
    }
  }
  return { flags, warnings };
}
