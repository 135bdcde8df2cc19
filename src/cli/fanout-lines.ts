/**
 * A fan-out as a human reads it in the terminal: one row per worker while it runs, and at
 * the end each worker's answer and the reducer's verdict (the winner and why, the ranking,
 * or the synthesis), instead of the step's JSON cut at a hundred characters. Pure.
 */
import type { Json } from '../model/json.js';
import type { RunView } from '../model/views.js';
import { oneLine, pad } from './style.js';

/** Rows under a fan-out step in the live display: label, model, state, attempt, error. */
export function workerRows(view: RunView, stepId: string): string[] {
  const workers = (view.workers ?? []).filter((worker) => worker.stepId === stepId);
  const width = Math.max(4, ...workers.map((worker) => worker.label.length));
  return workers.map((worker) =>
    [
      `    ↳ ${pad(worker.label, width)}`,
      pad(worker.model, 14),
      pad(worker.state, 11),
      worker.attempt > 0 ? `#${worker.attempt}` : '',
      worker.error ? oneLine(worker.error, 60) : (worker.reason ?? ''),
    ]
      .join(' ')
      .trimEnd(),
  );
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** The verdict's lines: winner and rationale, ranking and recommendation, or the synthesis. */
export function verdictLines(mode: string, verdict: Record<string, unknown>, max = 300): string[] {
  const lines: string[] = [];
  const add = (label: string, value: unknown) => {
    const shown = text(value);
    if (shown !== undefined) lines.push(`${label}: ${oneLine(shown, max)}`);
  };
  if (mode === 'best_of_n') {
    add('winner', verdict.winner_label);
    add('why', verdict.rationale);
    add('next', verdict.recommended_next_step);
  } else if (mode === 'compare') {
    if (Array.isArray(verdict.ranked_labels)) lines.push(`ranking: ${verdict.ranked_labels.join(' > ')}`);
    add('recommendation', verdict.recommendation);
  } else {
    add('summary', verdict.summary);
    add('synthesis', verdict.synthesis);
  }
  return lines;
}

/**
 * The lines for a finished fan-out step's output, or undefined when `output` is not one.
 *
 * @example
 * ```text
 *   gpt-4o-mini#1 (completed): Call it warden.
 *   llama3.2#1 (failed): the server answered 503
 *   verdict (best_of_n by gpt-4o-mini): winner: gpt-4o-mini#1
 *   why: Short and apt.
 * ```
 */
export function fanoutOutputLines(output: Json | undefined): string[] | undefined {
  const value = record(output);
  if (!value || !Array.isArray(value.results)) return undefined;
  const lines: string[] = [];
  for (const result of value.results) {
    const worker = record(result);
    if (!worker) continue;
    const answer = text(worker.text) ?? text(worker.error) ?? '';
    lines.push(`${String(worker.label)} (${String(worker.state)}): ${oneLine(answer, 200)}`);
  }
  const reduction = record(value.reduction);
  const verdict = record(reduction?.verdict);
  if (reduction && verdict) {
    const [first, ...rest] = verdictLines(String(reduction.mode), verdict);
    lines.push(
      `verdict (${String(reduction.mode)} by ${String(reduction.model)})${first ? `: ${first}` : ''}`,
    );
    lines.push(...rest);
  }
  if (text(value.reductionError)) lines.push(`no verdict: ${oneLine(value.reductionError, 200)}`);
  return lines;
}
