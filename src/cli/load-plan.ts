/**
 * `taskvisor run <plan.json | "goal text">`: a path to an existing file is a plan; any
 * other text is a goal for the model to plan.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { PlanInput } from '../model/plan.js';
import { CliError } from './exit-codes.js';

export type RunTarget =
  | { readonly kind: 'plan'; readonly file: string; readonly plan: PlanInput }
  | { readonly kind: 'goal'; readonly goal: string };

export function loadRunTarget(argument: string): RunTarget {
  if (existsSync(argument) && statSync(argument).isFile()) {
    const text = readFileSync(argument, 'utf8');
    let plan: unknown;
    try {
      plan = JSON.parse(text);
    } catch (error) {
      throw new CliError(
        `${argument} is not valid JSON (${(error as Error).message}); a plan file is a JSON object { "goal", "steps": [...] }.`,
      );
    }
    if (typeof plan !== 'object' || plan === null || Array.isArray(plan)) {
      throw new CliError(
        `${argument} holds ${Array.isArray(plan) ? 'an array' : JSON.stringify(plan)}; a plan file is a JSON object { "goal", "steps": [...] }.`,
      );
    }
    return { kind: 'plan', file: argument, plan: plan as PlanInput };
  }
  if (/\.json$/i.test(argument)) {
    throw new CliError(
      `no plan file ${JSON.stringify(argument)}; check the path (it is relative to ${process.cwd()}), or quote a goal in words to have the model plan it.`,
    );
  }
  if (argument.trim() === '') {
    throw new CliError('run needs a plan file or a goal; e.g. taskvisor run examples/hello.json');
  }
  return { kind: 'goal', goal: argument };
}
