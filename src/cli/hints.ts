/**
 * What a run waits for, as lines that say which command answers it: the plan gate, a
 * step's confirmation, a question an action asked.
 */
import { resolveDescription, shellWord } from '../model/action-description.js';
import { thisInvocation } from './invocation.js';
import type { RunView } from '../model/views.js';
import { summarizePlan, summarizeReplan } from '../planning/summary.js';

/** An open question: from a `request.opened` event, or `sv.pending().requests`. */
export interface WaitingRequest {
  readonly requestId: string;
  readonly stepId: string;
  readonly question: string;
  readonly options?: ReadonlyArray<{ readonly id: string; readonly label: string }>;
}

/** `taskvisor <command> <args> [--db <path>]`: the command to type, for the database in use. */
export type CommandHint = (command: string) => string;

export function commandHint(db: string | undefined, prefix: string = thisInvocation()): CommandHint {
  const suffix = db === undefined ? '' : ` --db ${shellWord(db)}`;
  return (command) => `${prefix} ${command}${suffix}`;
}

/** Something a run waits for: the line that says what and which command answers it, and what would run. */
export interface WaitingItem {
  readonly kind: 'plan' | 'budget' | 'confirmation' | 'interrupted' | 'request';
  readonly text: string;
  /** What the human approves or confirms: the plan (or replan diff) step by step, or the step's action. */
  readonly details: readonly string[];
}

/** The plan (or the replan's diff) a run waits to have approved, one line per step and action. */
function approvalDetails(view: RunView): string[] {
  const lines = view.proposal
    ? summarizeReplan(view.goal, view.steps, view.proposal, [])
    : summarizePlan(view.goal, view.steps, []);
  return lines.split('\n').slice(1);
}

/** One item per thing the run waits for, with the command that answers it and what would run. */
export function waitingItems(
  view: RunView,
  requests: Iterable<WaitingRequest>,
  hint: CommandHint,
): WaitingItem[] {
  const runId = view.id;
  const items: WaitingItem[] = [];
  if (view.phase === 'awaitingApproval') {
    const what = view.proposal ? 'replan waits for approval' : 'plan waits for approval';
    items.push({
      kind: 'plan',
      text: `${what}: ${hint(`approve ${runId}`)}  (or ${hint(`reject ${runId} --reason "…"`)})`,
      details: approvalDetails(view),
    });
  }
  if (view.phase === 'paused') {
    const limit = /max(CostUsd|Tokens|Steps)/.exec(view.reason ?? '')?.[1];
    const flag =
      limit === 'CostUsd' ? '--max-cost <usd>' : limit === 'Tokens' ? '--max-tokens <n>' : '--max-steps <n>';
    items.push({
      kind: 'budget',
      text: `run paused${view.reason ? `: ${view.reason}` : ''}: ${hint(`extend ${runId} ${flag}`)}  (or ${hint(`cancel ${runId}`)})`,
      details: [],
    });
  }
  const outputOf = (stepId: string) => view.steps.find((step) => step.id === stepId)?.output;
  for (const step of view.steps) {
    if (step.state === 'awaitingConfirmation') {
      const why = step.reason ? ` (${step.reason})` : ` (tier ${step.tier})`;
      items.push({
        kind: 'confirmation',
        text: `step ${step.id} waits for confirmation${why}: ${hint(`approve ${runId} ${step.id}`)}  (or ${hint(`reject ${runId} ${step.id} [--decision skip|fail]`)})`,
        details: step.action ? [`runs: ${resolveDescription(step.action, outputOf).summary}`] : [],
      });
    }
    if (step.state === 'interrupted') {
      items.push({
        kind: 'interrupted',
        text: `step ${step.id} is interrupted: ${hint(`control ${runId} ${step.id} resume`)}`,
        details: [],
      });
    }
  }
  for (const request of requests) {
    const options = request.options?.map((option) => `${option.id} = ${option.label}`).join(', ');
    const how = request.options?.length
      ? hint(`answer ${request.requestId} --option <id>`)
      : hint(`answer ${request.requestId} --text "…"`);
    items.push({
      kind: 'request',
      text: `step ${request.stepId} asks: ${request.question}${options ? ` [${options}]` : ''}: ${how}`,
      details: [],
    });
  }
  return items;
}

/** The items as lines: each item's text, then its details indented. */
export function waitingLines(view: RunView, requests: Iterable<WaitingRequest>, hint: CommandHint): string[] {
  return waitingItems(view, requests, hint).flatMap((item) => [
    item.text,
    ...item.details.map((line) => `    ${line}`),
  ]);
}
