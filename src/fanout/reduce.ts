/**
 * Reductions of a fan-out's answers: `compare`, `summarize` or `best_of_n`. The reducer
 * model sees the candidates by label with their text only and answers with a JSON verdict,
 * asked for on the planner's structured-output ladder (a JSON Schema with the labels as an
 * enum, then JSON mode, then JSON found in the text, by what the server accepts). Only the
 * deciding field of a mode is required; it gets exactly one repair turn that quotes the
 * validation error. A label that names no candidate is a validation error.
 */
import { z } from 'zod';
import { quote, TaskvisorError } from '../errors.js';
import type { ChatMessage, TokenUsage } from '../llm/chat.js';
import { firstJsonMatching } from '../llm/json-extract.js';
import type { Prices } from '../llm/prices.js';
import { type StructuredOutput, StructuredOutputLadder } from '../llm/structured-output.js';
import type { ReduceMode } from '../model/action.js';
import type { WorkerUsage } from '../../machines/worker.machine.js';
import { type FanoutClient, type FanoutUsageReport, pricedUsage } from './call-model.js';
import { renderReductionMarkdown } from './render.js';
import type { BestOfNVerdict, CompareVerdict, SummarizeVerdict, Verdict } from './verdict.js';

/** A reducer's outcome: the verdict, rendered, and what it cost. */
export interface Reduction {
  readonly mode: ReduceMode;
  readonly model: string;
  /** The validated verdict: the fields of the mode's schema the model gave (the deciding one always). */
  readonly verdict: CompareVerdict | SummarizeVerdict | BestOfNVerdict;
  readonly markdown: string;
  /** The verdict as pretty-printed JSON. */
  readonly json: string;
  /** Model calls made: 1, or 2 when a repair was needed. */
  readonly calls: number;
  /** The validation error the repair call quoted, when there was one. */
  readonly repairedError?: string;
  readonly usage: WorkerUsage;
}

export interface Candidate {
  readonly label: string;
  readonly text: string;
}

const prose = z.string().trim().min(1);

/** Optional prose: a blank string counts as absent (and is dropped from the verdict). */
const optionalProse = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value));

/** Drops the keys whose value is `undefined`, so an absent field is absent from the JSON too. */
function defined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/**
 * The zod schema of a mode's verdict, with labels restricted to `labels`: only the deciding
 * field is required (`winner_label`, `ranked_labels`, `synthesis`).
 */
export function verdictSchema(
  mode: ReduceMode,
  labels: readonly string[],
): z.ZodType<CompareVerdict | SummarizeVerdict | BestOfNVerdict> {
  const known = new Set(labels);
  const label = z.string().superRefine((value, ctx) => {
    if (!known.has(value)) {
      ctx.addIssue({
        code: 'custom',
        message: `${quote(value)} names no candidate; use one of ${labels.map((l) => quote(l)).join(', ')}`,
      });
    }
  });
  switch (mode) {
    case 'compare':
      return z
        .object({
          ranked_labels: z
            .array(label)
            .min(1)
            .superRefine((ranked, ctx) => {
              const duplicate = ranked.find((value, index) => ranked.indexOf(value) !== index);
              if (duplicate !== undefined) {
                ctx.addIssue({ code: 'custom', message: `${quote(duplicate)} is ranked more than once` });
              }
            }),
          summary: optionalProse,
          comparison: optionalProse,
          recommendation: optionalProse,
        })
        .transform((verdict) => defined(verdict) as CompareVerdict);
    case 'summarize':
      return z
        .object({
          synthesis: prose,
          summary: optionalProse,
          highlights: z
            .array(z.string())
            .optional()
            .transform((points) => {
              const kept = points?.filter((point) => point.trim() !== '');
              return kept && kept.length > 0 ? kept : undefined;
            }),
        })
        .transform((verdict) => defined(verdict) as SummarizeVerdict);
    case 'best_of_n':
      return z
        .object({
          winner_label: label,
          summary: optionalProse,
          rationale: optionalProse,
          recommended_next_step: optionalProse,
        })
        .transform((verdict) => defined(verdict) as BestOfNVerdict);
  }
}

/**
 * The JSON Schema a reducer answers with in `json_schema` mode: labels as an enum, only the
 * deciding field required.
 *
 * @example
 * ```ts
 * verdictJsonSchema('best_of_n', ['a', 'b']).required; // ['winner_label']
 * ```
 */
export function verdictJsonSchema(mode: ReduceMode, labels: readonly string[]): Record<string, unknown> {
  const label = { type: 'string', enum: [...labels] };
  const text = { type: 'string' };
  const object = (properties: Record<string, unknown>, required: string[]) => ({
    type: 'object',
    properties,
    required,
    additionalProperties: false,
  });
  switch (mode) {
    case 'compare':
      return object(
        {
          ranked_labels: { type: 'array', items: label, minItems: 1, uniqueItems: true },
          summary: text,
          comparison: text,
          recommendation: text,
        },
        ['ranked_labels'],
      );
    case 'summarize':
      return object({ synthesis: text, summary: text, highlights: { type: 'array', items: text } }, [
        'synthesis',
      ]);
    case 'best_of_n':
      return object({ winner_label: label, summary: text, rationale: text, recommended_next_step: text }, [
        'winner_label',
      ]);
  }
}

const REQUIRED: Record<ReduceMode, string> = {
  compare: 'ranked_labels',
  summarize: 'synthesis',
  best_of_n: 'winner_label',
};

const SHAPES: Record<ReduceMode, (labels: readonly string[]) => string> = {
  compare: (labels) =>
    JSON.stringify({
      ranked_labels: labels,
      summary: 'one paragraph: what the candidates agree and disagree on',
      comparison: 'how the candidates differ, point by point (Markdown allowed)',
      recommendation: 'which answer to use and why',
    }),
  summarize: () =>
    JSON.stringify({
      synthesis: 'one answer that combines the best of all candidates (Markdown allowed)',
      summary: 'one paragraph',
      highlights: ['a notable point', 'another one'],
    }),
  best_of_n: (labels) =>
    JSON.stringify({
      winner_label: labels[0] ?? 'label',
      rationale: 'why this candidate is the best',
      summary: 'one paragraph about the candidates',
      recommended_next_step: 'what to do next with the winning answer',
    }),
};

const TASKS: Record<ReduceMode, string> = {
  compare: 'Compare the candidate answers and rank them from best to worst.',
  summarize: 'Summarize the candidate answers and synthesize one answer from them.',
  best_of_n: 'Pick the single best candidate answer.',
};

/** The reducer's first messages: the task, then every candidate by label with its text only. */
export function reductionMessages(
  mode: ReduceMode,
  prompt: string,
  candidates: readonly Candidate[],
): ChatMessage[] {
  const labels = candidates.map((candidate) => candidate.label);
  const system = [
    'You review answers that several AI models gave to the same task. Candidates are known only by their label.',
    TASKS[mode],
    'Reply with only one JSON object, no prose before or after it, shaped like this example:',
    SHAPES[mode](labels),
    `Only "${REQUIRED[mode]}" is required; give the other fields when you can.`,
    `Every label you name must be one of: ${labels.map((l) => JSON.stringify(l)).join(', ')}.`,
  ].join('\n');
  const body = [
    'The task every candidate was given:',
    '<task>',
    prompt,
    '</task>',
    '',
    ...candidates.flatMap((candidate) => [
      `<candidate label=${JSON.stringify(candidate.label)}>`,
      candidate.text,
      '</candidate>',
      '',
    ]),
  ].join('\n');
  return [
    { role: 'system', content: system },
    { role: 'user', content: body },
  ];
}

/** The repair turn: it quotes the validation error. */
export function repairMessage(mode: ReduceMode, labels: readonly string[], error: string): ChatMessage {
  return {
    role: 'user',
    content:
      `Your answer could not be used: ${error}\n` +
      `Reply again with only the JSON object, shaped like ${SHAPES[mode](labels)}, ` +
      `naming only these labels: ${labels.map((l) => JSON.stringify(l)).join(', ')}.`,
  };
}

export interface ReduceOptions {
  readonly mode: ReduceMode;
  /** The fan-out's prompt. */
  readonly prompt: string;
  /** The completed workers' answers, in target order. */
  readonly candidates: readonly Candidate[];
  readonly client: FanoutClient;
  readonly model: string;
  readonly prices?: Prices;
  readonly signal?: AbortSignal;
  readonly onUsage?: (report: FanoutUsageReport) => void;
  /** Where to start on the structured-output ladder (default `json_schema`). */
  readonly structuredOutput?: StructuredOutput;
}

function addUsage(a: WorkerUsage, b: WorkerUsage): WorkerUsage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    costUsd: Math.round((a.costUsd + b.costUsd) * 1e9) / 1e9,
  };
}

/**
 * Asks the reducer model for a verdict over the candidates, with one repair call if the
 * first answer does not validate. Rejects with `TaskvisorError('LLM_BAD_OUTPUT')` (details:
 * `{ usage, calls, errors }`) when the repaired answer does not validate either.
 *
 * @example
 * ```ts
 * const reduction = await reduceCandidates({
 *   mode: 'best_of_n',
 *   prompt: 'Name a prime',
 *   candidates: [{ label: 'a', text: '7' }, { label: 'b', text: '9' }],
 *   client: createLlmClient({ model: 'gpt-4o-mini' }),
 *   model: 'gpt-4o-mini',
 * });
 * console.log(reduction.markdown);
 * ```
 */
export async function reduceCandidates(options: ReduceOptions): Promise<Reduction> {
  const { mode, candidates, client, model } = options;
  if (candidates.length === 0) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `A ${mode} reduction needs at least one completed worker, got none; retry a failed worker first`,
      { option: 'candidates' },
    );
  }
  const labels = candidates.map((candidate) => candidate.label);
  const schema = verdictSchema(mode, labels);
  const jsonSchema = verdictJsonSchema(mode, labels);
  const ladder = new StructuredOutputLadder(options.structuredOutput);
  const prices = options.prices ?? {};
  let usage: WorkerUsage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
  const ask = async (messages: ChatMessage[]) => {
    const result = await ladder.call(`taskvisor_${mode}_verdict`, jsonSchema, (format) =>
      client.chat({
        model,
        messages,
        ...format,
        ...(options.signal ? { signal: options.signal } : {}),
      }),
    );
    const priced = pricedUsage(result.usage satisfies TokenUsage, model, prices);
    usage = addUsage(usage, priced);
    options.onUsage?.({ label: 'reduce', model, role: 'reducer', ...priced });
    return result.text;
  };

  const messages = reductionMessages(mode, options.prompt, candidates);
  const first = await ask(messages);
  let match = firstJsonMatching(first, schema);
  let repairedError: string | undefined;
  const errors: string[] = [];
  if (!match.ok) {
    repairedError = match.error;
    errors.push(match.error);
    const second = await ask([
      ...messages,
      { role: 'assistant', content: first },
      repairMessage(mode, labels, match.error),
    ]);
    match = firstJsonMatching(second, schema);
    if (!match.ok) errors.push(match.error);
  }
  if (!match.ok) {
    throw new TaskvisorError(
      'LLM_BAD_OUTPUT',
      `The ${mode} reducer (model ${quote(model)}) gave no valid verdict after one repair call: ${match.error}`,
      { mode, model, usage, calls: 2, errors },
    );
  }
  const verdict = match.value;
  return {
    mode,
    model,
    verdict,
    markdown: renderReductionMarkdown({ mode, ...verdict } as Verdict),
    json: JSON.stringify(verdict, null, 2),
    calls: repairedError === undefined ? 1 : 2,
    ...(repairedError === undefined ? {} : { repairedError }),
    usage,
  };
}
