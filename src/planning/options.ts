/**
 * The supervisor options about the model: `llm`, `prices`, `budget`, `maxReplans`,
 * `approveReplans`, their schemas and what they resolve to.
 */
import type OpenAI from 'openai';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { TaskvisorError } from '../errors.js';
import { createLlmClient, type LlmClientOptions } from '../llm/client.js';
import type { Prices } from '../llm/prices.js';
import { type Budget, BudgetSchema } from '../model/budget.js';
import type { PlanContext } from '../model/parse-plan.js';
import type { ApproveReplans } from '../model/plan.js';
import type { Tier } from '../model/tier.js';
import type { RuntimeModel } from '../runtime/model-meter.js';
import { catalogOf } from './catalog.js';
import { Planner, type StructuredOutput } from './planner.js';

export interface LlmOptions {
  /** Any OpenAI-compatible endpoint (default `OPENAI_BASE_URL`, then OpenAI's). */
  readonly baseURL?: string;
  /** Default `OPENAI_API_KEY`; a local server takes any value, e.g. `'local'`. */
  readonly apiKey?: string;
  /** Default `TASKVISOR_MODEL`. */
  readonly model?: string;
  /** A ready `OpenAI` instance instead of `baseURL`/`apiKey`. */
  readonly client?: OpenAI;
  /** Retries after the first attempt on 429, 5xx and network errors (default 3). */
  readonly maxRetries?: number;
  /** Per-attempt HTTP timeout, ms. */
  readonly timeoutMs?: number;
  /** `max_tokens` for servers that do not know `max_completion_tokens`. */
  readonly maxTokensField?: 'max_completion_tokens' | 'max_tokens';
  /** How plans are asked for (default `json_schema`, falling back by itself). */
  readonly structuredOutput?: StructuredOutput;
  /** The most one call may write when it does not say (default 4096; reserved against budgets). */
  readonly maxOutputTokens?: number;
}

export interface ModelOptions {
  /** The model that plans, replans and runs research/review steps. */
  readonly llm?: LlmOptions;
  /** Dollars per million tokens by model name. */
  readonly prices?: Prices;
  /** Every run's limits (a run's `start({ budget })` overrides them). */
  readonly budget?: Budget;
  /** Corrective replans per run (default 2). */
  readonly maxReplans?: number;
  /**
   * Whether a corrective replan waits in awaitingApproval like a first plan: `'auto'` (the
   * default) when it adds a step above the `read` tier, `true` always, `false` never.
   */
  readonly approveReplans?: ApproveReplans;
}

const PriceSchema = z.strictObject({
  inputPer1M: z.number().min(0),
  outputPer1M: z.number().min(0),
});

export const ModelOptionSchemas = {
  llm: z
    .strictObject({
      baseURL: z
        .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as http://127.0.0.1:11434/v1' })
        .optional(),
      apiKey: z.string().optional(),
      model: z.string().min(1).optional(),
      client: z
        .custom<OpenAI>(
          (value) => typeof value === 'object' && value !== null && 'chat' in value,
          'must be an OpenAI instance',
        )
        .optional(),
      maxRetries: z.int().min(0).max(20).optional(),
      timeoutMs: z.int().positive().optional(),
      maxTokensField: z.enum(['max_completion_tokens', 'max_tokens']).optional(),
      structuredOutput: z.enum(['json_schema', 'json_object', 'text']).optional(),
      maxOutputTokens: z.int().positive().optional(),
    })
    .optional(),
  prices: z.record(z.string(), PriceSchema).optional(),
  budget: BudgetSchema.optional(),
  maxReplans: z.int().min(0).max(20).optional(),
  approveReplans: z
    .union([z.boolean(), z.literal('auto')], { error: "must be 'auto', true or false" })
    .optional(),
};

/** Whether the supervisor will have a model: `llm` is given, or TASKVISOR_MODEL is set. */
export function modelConfigured(
  options: ModelOptions,
  env: Record<string, string | undefined> = process.env,
): boolean {
  return options.llm !== undefined || Boolean(env['TASKVISOR_MODEL']?.trim());
}

/**
 * The model the supervisor uses: from `llm`, or from TASKVISOR_MODEL when that is set;
 * undefined when neither says which model.
 */
export function resolveModel(
  options: ModelOptions,
  deps: {
    readonly clock: Clock;
    readonly planContext: PlanContext;
    readonly confirmTiers: readonly Tier[];
    readonly env?: Record<string, string | undefined>;
    /** Relevant past episodes for a planning prompt (episodic memory). */
    readonly recall?: (text: string) => Promise<string | undefined> | string | undefined;
  },
): RuntimeModel | undefined {
  const env = deps.env ?? process.env;
  const llm = options.llm;
  if (!modelConfigured(options, env)) return undefined;
  const { structuredOutput, maxOutputTokens, ...clientOptions } = llm ?? {};
  let client;
  try {
    client = createLlmClient({ ...(clientOptions as LlmClientOptions), clock: deps.clock, env });
  } catch (error) {
    if (error instanceof TaskvisorError && !llm) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `TASKVISOR_MODEL is set, so taskvisor would plan with "${env['TASKVISOR_MODEL']}", but: ${error.message}`,
        { option: 'llm' },
      );
    }
    if (error instanceof TaskvisorError) {
      throw new TaskvisorError('INVALID_OPTION', `Option llm: ${error.message}`, { option: 'llm' });
    }
    throw error;
  }
  const outputTokens = maxOutputTokens ?? 4096;
  return {
    client,
    prices: options.prices ?? {},
    maxOutputTokens: outputTokens,
    planner: new Planner({
      catalog: catalogOf(deps.planContext),
      confirmTiers: deps.confirmTiers,
      maxOutputTokens: outputTokens,
      ...(structuredOutput ? { structuredOutput } : {}),
      ...(deps.recall ? { recall: deps.recall } : {}),
    }),
  };
}
