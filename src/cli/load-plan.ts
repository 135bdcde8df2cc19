/**
 * `taskvisor run <plan.json | "goal text">`: a path to an existing file is a plan; any
 * other text is a goal for the model to plan.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { PlanInput } from '../model/plan.js';
import { CliError } from './exit-codes.js';
import { thisInvocation } from './invocation.js';

export type RunTarget =
  | { readonly kind: 'plan'; readonly file: string; readonly plan: PlanInput }
  | { readonly kind: 'goal'; readonly goal: string };

/**
 * A word with no spaces that has a directory separator, starts with `.` or `~`, or ends in
 * `.json` names a file, never a goal (`./plans/nope` is a missing file, not a request).
 */
export function looksLikePath(argument: string): boolean {
  if (/\s/.test(argument.trim())) return false;
  return /[/\\]/.test(argument) || /^[.~]/.test(argument) || /\.jsonc?$/i.test(argument);
}

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
  if (looksLikePath(argument)) {
    throw new CliError(
      `no plan file ${JSON.stringify(argument)}; check the path (it is relative to ${process.cwd()}), or quote a goal in words to have the model plan it.`,
    );
  }
  if (argument.trim() === '') {
    throw new CliError(`run needs a plan file or a goal; e.g. ${thisInvocation()} run examples/hello.json`);
  }
  return { kind: 'goal', goal: argument };
}
