/**
 * What a run waits for, as lines that say which command answers it: the plan gate, a
 * step's confirmation, a question an action asked.
 */
import type { RunView } from '../model/views.js';

/** An open question: from a `request.opened` event, or `sv.pending().requests`. */
export interface WaitingRequest {
  readonly requestId: string;
  readonly stepId: string;
  readonly question: string;
  readonly options?: ReadonlyArray<{ readonly id: string; readonly label: string }>;
}

/** `taskvisor <command> <args> [--db <path>]`: the command to type, for the database in use. */
export type CommandHint = (command: string) => string;

export function commandHint(db: string | undefined): CommandHint {
  const suffix = db === undefined ? '' : ` --db ${shellQuote(db)}`;
  return (command) => `taskvisor ${command}${suffix}`;
}

export function shellQuote(value: string): string {
  return /^[\w./:@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** One line per thing the run waits for, with the command that answers it. */
export function waitingLines(view: RunView, requests: Iterable<WaitingRequest>, hint: CommandHint): string[] {
  const runId = view.id;
  const lines: string[] = [];
  if (view.phase === 'awaitingApproval') {
    lines.push(
      `plan waits for approval: ${hint(`approve ${runId}`)}  (or ${hint(`reject ${runId} --reason "…"`)})`,
    );
  }
  if (view.phase === 'paused') {
    const limit = /max(CostUsd|Tokens|Steps)/.exec(view.reason ?? '')?.[1];
    const flag =
      limit === 'CostUsd' ? '--max-cost <usd>' : limit === 'Tokens' ? '--max-tokens <n>' : '--max-steps <n>';
    lines.push(
      `run paused${view.reason ? `: ${view.reason}` : ''}: ${hint(`extend ${runId} ${flag}`)}  (or ${hint(`cancel ${runId}`)})`,
    );
  }
  for (const step of view.steps) {
    if (step.state === 'awaitingConfirmation') {
      const why = step.reason ? ` (${step.reason})` : ` (tier ${step.tier})`;
      lines.push(
        `step ${step.id} waits for confirmation${why}: ${hint(`approve ${runId} ${step.id}`)}  (or ${hint(`reject ${runId} ${step.id} [--decision skip|fail]`)})`,
      );
    }
    if (step.state === 'interrupted') {
      lines.push(`step ${step.id} is interrupted: ${hint(`control ${runId} ${step.id} resume`)}`);
    }
  }
  for (const request of requests) {
    const options = request.options?.map((option) => `${option.id} = ${option.label}`).join(', ');
    const how = request.options?.length
      ? hint(`answer ${request.requestId} --option <id>`)
      : hint(`answer ${request.requestId} --text "…"`);
    lines.push(`step ${request.stepId} asks: ${request.question}${options ? ` [${options}]` : ''}: ${how}`);
  }
  return lines;
}
