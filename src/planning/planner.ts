/**
 * The model writes plans and repairs them. A first plan comes back as structured output
 * (a JSON Schema derived from the plan schema), or as JSON found in the text for servers
 * without `json_schema` support; it is validated with `parsePlan` against what this
 * supervisor allows. An invalid answer gets one repair call that quotes the error. A replan
 * sees the goal, what the completed steps produced, the failed step and its error, and
 * returns 1–6 steps that splice into the plan.
 */
import { z } from 'zod';
import { isTaskvisorError, TaskvisorError } from '../errors.js';
import type { ChatMessage } from '../llm/chat.js';
import { extractJson } from '../llm/json-extract.js';
import { type StructuredOutput, StructuredOutputLadder } from '../llm/structured-output.js';
import type { Json } from '../model/json.js';
import { parsePlan } from '../model/parse-plan.js';
import { type Plan, PlanSchema, type Step, writtenByModel } from '../model/plan.js';
import { resolveReplacements, spliceSteps } from '../model/splice.js';
import type { Tier } from '../model/tier.js';
import type { RunModel } from '../runtime/executor.js';
import {
  type Catalog,
  describeKinds,
  MAX_REPLAN_STEPS,
  planJsonSchema,
  replanJsonSchema,
} from './catalog.js';

export type { StructuredOutput } from '../llm/structured-output.js';

export const OUTPUT_CAP_CHARS = 1_500;

export interface PlannerOptions {
  readonly catalog: Catalog;
  readonly confirmTiers: readonly Tier[];
  readonly structuredOutput?: StructuredOutput;
  /** The most a planning answer may take, in tokens (default 4096). */
  readonly maxOutputTokens?: number;
  /** Past episodes relevant to a text, already cut to size (episodic memory). */
  readonly recall?: (text: string) => Promise<string | undefined> | string | undefined;
}

export interface CompletedStep {
  readonly id: string;
  readonly title: string;
  readonly output: Json | undefined;
}

export interface FailedStep {
  readonly id: string;
  readonly title: string;
  readonly action: Step['action'];
  readonly error: string;
}

export interface ReplanRequest {
  readonly goal: string;
  readonly plan: Plan;
  readonly completed: readonly CompletedStep[];
  readonly failed: readonly FailedStep[];
  /** 1 for the first corrective replan. */
  readonly attempt: number;
}

/** `text` cut to `max` characters (whole code points), marked when cut. */
export function capText(text: string, max = OUTPUT_CAP_CHARS): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  return `${chars.slice(0, max).join('')}… [truncated: ${chars.length - max} more characters]`;
}

function outputText(output: Json | undefined): string {
  if (output === undefined || output === null) return '(no output)';
  return typeof output === 'string' ? output : JSON.stringify(output);
}

export class Planner {
  private readonly ladder: StructuredOutputLadder;
  private readonly maxOutputTokens: number;

  constructor(private readonly options: PlannerOptions) {
    this.ladder = new StructuredOutputLadder(options.structuredOutput);
    this.maxOutputTokens = options.maxOutputTokens ?? 4096;
  }

  /** A validated plan for `goal`, or a TaskvisorError (`LLM_BAD_OUTPUT` after a failed repair). */
  async plan(model: RunModel, goal: string): Promise<Plan> {
    const { catalog } = this.options;
    const memory = await this.options.recall?.(goal);
    const messages: ChatMessage[] = [
      { role: 'system', content: this.planSystemPrompt() },
      {
        role: 'user',
        content: [
          `Goal: ${goal}`,
          ...(memory ? ['', 'What happened in similar past runs (for reference):', memory] : []),
        ].join('\n'),
      },
    ];
    return this.ask(model, messages, 'taskvisor_plan', planJsonSchema(catalog), (value) => {
      const plan = parsePlan({ goal, steps: stepsOf(value) }, catalog.context);
      return { ...plan, steps: writtenByModel(plan.steps) };
    });
  }

  /** Validated steps that splice into `request.plan`, repairing `request.failed`. */
  async replan(model: RunModel, request: ReplanRequest): Promise<Step[]> {
    const { catalog } = this.options;
    const failedIds = request.failed.map((step) => step.id);
    const messages: ChatMessage[] = [
      { role: 'system', content: this.replanSystemPrompt() },
      { role: 'user', content: replanBrief(request) },
    ];
    return this.ask(model, messages, 'taskvisor_replan', replanJsonSchema(catalog), (value) => {
      const parsed = PlanSchema.safeParse({ steps: stepsOf(value) });
      if (!parsed.success) {
        throw new TaskvisorError('INVALID_PLAN', `Invalid steps: ${z.prettifyError(parsed.error)}`);
      }
      const steps = parsed.data.steps;
      if (steps.length > MAX_REPLAN_STEPS) {
        throw new TaskvisorError(
          'INVALID_PLAN',
          `A replan adds at most ${MAX_REPLAN_STEPS} steps; this one has ${steps.length}.`,
        );
      }
      spliceSteps(request.plan, steps, { replaceable: failedIds, context: catalog.context });
      return writtenByModel(resolveReplacements(request.plan, steps));
    });
  }

  private planSystemPrompt(): string {
    const { catalog, confirmTiers } = this.options;
    return [
      'You are the planner of taskvisor, a supervisor that runs plans of steps.',
      'Break the goal into a short plan: a DAG of steps (usually 2 to 8).',
      'Answer with JSON only: {"steps": [{"id", "title", "dependsOn"?, "tier"?, "action": {"kind", ...}}]}.',
      '- id: letters, digits, _ or -, starting with a letter; unique.',
      '- dependsOn: ids of steps that must succeed first.',
      '- {{steps.<id>.output}} inside an action field is replaced by that step’s output; <id> must be one the step depends on (directly or through others).',
      `- tier: read | write | execute | destructive | external; steps in ${confirmTiers.join(', ') || 'no tier'} wait for a human to confirm before they run.`,
      'Step kinds you may use (no others):',
      describeKinds(catalog),
    ].join('\n');
  }

  private replanSystemPrompt(): string {
    return [
      'You are the planner of taskvisor. A step of a running plan failed.',
      `Propose 1 to ${MAX_REPLAN_STEPS} new steps that still reach the goal. Do not repeat steps that succeeded: depend on them and use their outputs.`,
      'To take the place of a failed step, give the new step "replaces": "<failed id>"; the failed step’s dependents then wait on the new step and read its output.',
      'New ids must differ from every existing id. The model only sees what you put in action fields.',
      'Answer with JSON only: {"steps": [{"id", "title", "dependsOn"?, "replaces"?, "tier"?, "action": {"kind", ...}}]}.',
      'Step kinds you may use (no others):',
      describeKinds(this.options.catalog),
    ].join('\n');
  }

  /**
   * Asks for JSON, validates it with `accept` (which throws a TaskvisorError naming the
   * problem), and repairs once.
   */
  private async ask<T>(
    model: RunModel,
    messages: ChatMessage[],
    name: string,
    schema: Record<string, unknown>,
    accept: (value: unknown) => T,
  ): Promise<T> {
    const first = await this.call(model, messages, name, schema);
    const firstTry = acceptFirst(first, accept);
    if (firstTry.ok) return firstTry.value;
    const repair: ChatMessage[] = [
      ...messages,
      { role: 'assistant', content: first },
      {
        role: 'user',
        content: `That answer cannot be used: ${firstTry.error}\nReturn the corrected JSON only, with the same shape.`,
      },
    ];
    const second = await this.call(model, repair, name, schema);
    const secondTry = acceptFirst(second, accept);
    if (secondTry.ok) return secondTry.value;
    throw new TaskvisorError(
      'LLM_BAD_OUTPUT',
      `The model's ${name === 'taskvisor_plan' ? 'plan' : 'replan'} was still invalid after one repair: ${secondTry.error}`,
      { retryable: false, firstError: firstTry.error },
    );
  }

  /** One call in the current mode, falling back to the next mode when the server refuses it. */
  private async call(
    model: RunModel,
    messages: ChatMessage[],
    name: string,
    schema: Record<string, unknown>,
  ): Promise<string> {
    const answer = await this.ladder.call(name, schema, (format) =>
      model.chat({ messages, maxTokens: this.maxOutputTokens, temperature: 0, ...format }),
    );
    return answer.text;
  }
}

/** The steps in an answer: `{ steps: [...] }`, or a bare array of steps. */
function stepsOf(value: unknown): unknown {
  if (Array.isArray(value)) return value;
  if (value && typeof value === 'object' && 'steps' in value) return (value as { steps: unknown }).steps;
  return value;
}

/** The first JSON value in `text` that `accept` takes, or the error of the first one. */
function acceptFirst<T>(
  text: string,
  accept: (value: unknown) => T,
): { ok: true; value: T } | { ok: false; error: string } {
  const candidates = extractJson(text);
  if (candidates.length === 0) return { ok: false, error: 'the answer contains no JSON object.' };
  let firstError: string | undefined;
  for (const candidate of candidates) {
    try {
      return { ok: true, value: accept(candidate) };
    } catch (error) {
      if (!isTaskvisorError(error)) throw error;
      firstError ??= error.message;
    }
  }
  return { ok: false, error: firstError ?? 'the answer is not a plan.' };
}

/** The replacement chain that ends at `stepId`, oldest first (`[b, b2, b3]` for `b3`). */
function replacementChain(plan: Plan, stepId: string): string[] {
  const byId = new Map(plan.steps.map((step) => [step.id, step]));
  const chain = [stepId];
  for (let step = byId.get(stepId); step?.replaces !== undefined; step = byId.get(step.replaces)) {
    if (chain.includes(step.replaces)) break;
    chain.unshift(step.replaces);
  }
  return chain;
}

function replanBrief(request: ReplanRequest): string {
  const lines = [`Goal: ${request.goal}`, '', `Replan ${request.attempt}.`, '', 'Steps that succeeded:'];
  if (request.completed.length === 0) lines.push('(none)');
  for (const step of request.completed) {
    lines.push(`- ${step.id} (${step.title}) output: ${capText(outputText(step.output))}`);
  }
  lines.push('', 'Failed steps:');
  for (const step of request.failed) {
    lines.push(
      `- ${step.id} (${step.title}) action: ${JSON.stringify(step.action)}`,
      `  error: ${step.error}`,
    );
    const chain = replacementChain(request.plan, step.id);
    if (chain.length > 1) {
      lines.push(
        `  ${step.id} already replaced ${chain.slice(0, -1).join(' → ')}; to try again, give a new step "replaces": "${step.id}".`,
      );
    }
  }
  if (request.failed.length > 0) {
    lines.push(
      '',
      `Steps you may replace: ${request.failed.map((step) => `"${step.id}"`).join(', ')} (say "replaces": "<id>").`,
    );
  }
  lines.push('', `Existing step ids: ${request.plan.steps.map((step) => step.id).join(', ')}`);
  return lines.join('\n');
}
