/**
 * Reductions of a fan-out's answers: `compare`, `summarize` or `best_of_n`. The reducer
 * model sees the candidates by label with their text only, answers with a JSON verdict
 * (found in untidy answers by `firstJsonMatching`), and gets exactly one repair turn that
 * quotes the validation error. A label that names no candidate is a validation error.
 */
import { z } from 'zod';
import { quote, TaskvisorError } from '../errors.js';
import type { ChatMessage, TokenUsage } from '../llm/chat.js';
import { firstJsonMatching } from '../llm/json-extract.js';
import type { Prices } from '../llm/prices.js';
import type { ReduceMode } from '../model/action.js';
import type { WorkerUsage } from '../../machines/worker.machine.js';
import { type FanoutClient, type FanoutUsageReport, pricedUsage } from './call-model.js';
import { renderReductionMarkdown } from './render.js';
import type { BestOfNVerdict, CompareVerdict, SummarizeVerdict, Verdict } from './verdict.js';

/** A reducer's outcome: the verdict, rendered, and what it cost. */
export interface Reduction {
  readonly mode: ReduceMode;
  readonly model: string;
  /** The validated verdict, exactly the fields of the mode's schema. */
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

/** The zod schema of a mode's verdict, with labels restricted to `labels`. */
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
      return z.object({
        summary: prose,
        comparison: prose,
        recommendation: prose,
        ranked_labels: z
          .array(label)
          .min(1)
          .superRefine((ranked, ctx) => {
            const duplicate = ranked.find((value, index) => ranked.indexOf(value) !== index);
            if (duplicate !== undefined) {
              ctx.addIssue({ code: 'custom', message: `${quote(duplicate)} is ranked more than once` });
            }
          }),
      });
    case 'summarize':
      return z.object({ summary: prose, synthesis: prose, highlights: z.array(prose) });
    case 'best_of_n':
      return z.object({
        summary: prose,
        winner_label: label,
        rationale: prose,
        recommended_next_step: prose,
      });
  }
}

const SHAPES: Record<ReduceMode, (labels: readonly string[]) => string> = {
  compare: (labels) =>
    JSON.stringify({
      summary: 'one paragraph: what the candidates agree and disagree on',
      comparison: 'how the candidates differ, point by point (Markdown allowed)',
      recommendation: 'which answer to use and why',
      ranked_labels: labels,
    }),
  summarize: () =>
    JSON.stringify({
      summary: 'one paragraph',
      synthesis: 'one answer that combines the best of all candidates (Markdown allowed)',
      highlights: ['a notable point', 'another one'],
    }),
  best_of_n: (labels) =>
    JSON.stringify({
      summary: 'one paragraph about the candidates',
      winner_label: labels[0] ?? 'label',
      rationale: 'why this candidate is the best',
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
  const prices = options.prices ?? {};
  let usage: WorkerUsage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
  const ask = async (messages: ChatMessage[]) => {
    const result = await client.chat({
      model,
      messages,
      ...(options.signal ? { signal: options.signal } : {}),
    });
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
