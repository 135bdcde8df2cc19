/**
 * Checks made before a run starts, so a run that could only fail for want of a model does
 * not start at all: a goal to plan, `research` / `review` steps, fan-out targets with no
 * endpoint of their own, and `--replan` all need a model (`--model`, `llm` in the config,
 * or TASKVISOR_MODEL). Each refusal is a `CliError` (exit 2) naming the steps and the flag.
 */
import type { PlanInput } from '../model/plan.js';
import { CliError } from './exit-codes.js';

/** Whether the supervisor these flags open will have a model. */
export function hasModel(
  flags: { readonly model?: string },
  config: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): boolean {
  return flags.model !== undefined || config.llm !== undefined || Boolean(env.TASKVISOR_MODEL?.trim());
}

const HOW =
  'pass --model <name> (with OPENAI_BASE_URL and OPENAI_API_KEY saying where), set TASKVISOR_MODEL, or put "llm" in a --config file';

function targetNeedsModel(target: unknown): boolean {
  if (typeof target === 'string') return true;
  if (typeof target !== 'object' || target === null) return false;
  const record = target as Record<string, unknown>;
  return record.agent === undefined && record.baseURL === undefined && record.apiKey === undefined;
}

/** Fan-out targets that would call the supervisor's model (no endpoint of their own). */
export function targetsWithoutEndpoint(targets: readonly unknown[]): string[] {
  return targets
    .filter(targetNeedsModel)
    .map((target) => (typeof target === 'string' ? target : String((target as { model?: unknown }).model)));
}

/** Refuses a plan whose steps need a model when none is configured. */
export function requireModelFor(plan: PlanInput, withModel: boolean, replan: boolean): void {
  if (withModel) return;
  if (replan)
    throw new CliError(`--replan has the model write corrective steps, but no model is configured; ${HOW}.`);
  const needing: string[] = [];
  for (const step of plan.steps ?? []) {
    const action = (step as { id?: unknown; action?: Record<string, unknown> }).action ?? {};
    const id = String((step as { id?: unknown }).id);
    if (action.kind === 'research' || action.kind === 'review') needing.push(`${id} (${action.kind})`);
    if (action.kind === 'fanout' && Array.isArray(action.targets)) {
      const reduce = action.reduce as { target?: unknown } | undefined;
      const bare = targetsWithoutEndpoint([...action.targets, ...(reduce?.target ? [reduce.target] : [])]);
      if (bare.length > 0) needing.push(`${id} (fan-out to ${bare.join(', ')} with no baseURL)`);
    }
  }
  if (needing.length > 0) {
    throw new CliError(
      `step${needing.length === 1 ? '' : 's'} ${needing.join(', ')} need${needing.length === 1 ? 's' : ''} a model and none is configured; ${HOW}. Nothing was started.`,
    );
  }
}

/** Refuses a goal (for the model to plan) when there is no model. */
export function requireModelForGoal(goal: string, withModel: boolean): void {
  if (withModel) return;
  throw new CliError(
    `${JSON.stringify(goal)} is not a file, so it is a goal for the model to plan, but no model is configured; ${HOW}, or pass a plan file.`,
  );
}

/** Refuses `fanout` targets with no endpoint when there is no model to reach them through. */
export function requireEndpointsFor(targets: readonly string[], withModel: boolean): void {
  if (withModel) return;
  throw new CliError(
    `fanout --target ${targets.join(', ')}: no endpoint to ask ${targets.length === 1 ? 'it' : 'them'}; ${HOW}.`,
  );
}
