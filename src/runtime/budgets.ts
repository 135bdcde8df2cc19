/**
 * Dollars and tokens per run. Every model call reserves its worst case first (the prompt
 * estimate plus the most it may write): a call that would take the run past a limit is
 * not made; the run pauses instead, and the call waits until `extendBudget` raises the
 * limit (or the run ends and the wait is aborted). Calls in flight count with their
 * reservations, so a limit is exceeded by at most the one call whose real prompt came
 * out larger than its estimate.
 *
 * Under a token limit a call's output is capped to what is left (`reserveCall`): the call
 * is made with a smaller `max_tokens` as long as at least `MIN_OUTPUT_TOKENS` (or all it
 * asked for, when it asked for less) fit; only below that does the run pause.
 *
 * `maxSteps` is the task machine's (it decides which steps start).
 */
import { TaskvisorError } from '../errors.js';
import type { Budget, BudgetExhaustion } from '../model/budget.js';

export interface Spend {
  readonly tokens: number;
  readonly costUsd: number;
}

interface RunLedger {
  budget: Budget;
  used: Spend;
  reserved: Spend;
  /** Set while the run is paused on its budget: resolves when the budget is extended. */
  gate?: Gate;
}

/**
 * The fewest output tokens a capped model call is made with: below this, what a run's token
 * budget has left cannot hold a useful answer, and the run pauses instead.
 */
export const MIN_OUTPUT_TOKENS = 128;

/** A model call about to be made: its prompt estimate and the most it wants to write. */
export interface CallEstimate {
  readonly promptTokens: number;
  readonly maxOutputTokens: number;
  /** The call's worst-case cost when it writes `outputTokens`. */
  readonly costUsd: (outputTokens: number) => number;
}

/** A reserved call: the `max_tokens` it may use, and the release of its reservation. */
export interface CallReservation {
  readonly maxOutputTokens: number;
  readonly release: () => void;
}

const NOTHING: Spend = { tokens: 0, costUsd: 0 };

function add(a: Spend, b: Spend, sign = 1): Spend {
  return {
    tokens: a.tokens + sign * b.tokens,
    costUsd: Math.round((a.costUsd + sign * b.costUsd) * 1e9) / 1e9,
  };
}

function usd(value: number): string {
  return `$${value.toFixed(value < 0.01 ? 6 : 4)}`;
}

export class BudgetLedger {
  private readonly runs = new Map<string, RunLedger>();

  /** Pauses the run (the runtime sends `budget.exhausted` to its task). */
  constructor(private readonly exhaust: (runId: string, exhaustion: BudgetExhaustion) => void) {}

  /** Starts (or restores) a run's books; `paused` when the run waits on its budget. */
  track(runId: string, budget: Budget, used: Spend = NOTHING, paused = false): void {
    const ledger: RunLedger = { budget, used, reserved: NOTHING };
    if (paused) ledger.gate = gate();
    this.runs.set(runId, ledger);
  }

  forget(runId: string): void {
    const ledger = this.runs.get(runId);
    ledger?.gate?.open(false);
    this.runs.delete(runId);
  }

  budgetOf(runId: string): Budget | undefined {
    return this.runs.get(runId)?.budget;
  }

  usedBy(runId: string): Spend {
    return this.runs.get(runId)?.used ?? NOTHING;
  }

  /** New limits merged in; a paused run's waiting calls check again. */
  extend(runId: string, budget: Budget): void {
    const ledger = this.runs.get(runId);
    if (!ledger) return;
    ledger.budget = { ...ledger.budget, ...budget };
    const waiting = ledger.gate;
    delete ledger.gate;
    waiting?.open(true);
  }

  /**
   * Reserves `estimate` for one call, waiting while the run is paused. Resolves with a
   * release function; rejects with ABORTED when `signal` aborts while waiting.
   */
  async reserve(runId: string, estimate: Spend, signal?: AbortSignal): Promise<() => void> {
    const reservation = await this.reserveFitting(runId, () => estimate, signal);
    return reservation.release;
  }

  /**
   * Reserves a model call whose output is capped to what the run's token budget has left
   * after the prompt (at least `MIN_OUTPUT_TOKENS`, else the run pauses and the call waits
   * as with `reserve`). Resolves with the `max_tokens` to call with and the release.
   *
   * @example
   * ```ts
   * const { maxOutputTokens, release } = await ledger.reserveCall(runId, { promptTokens: 40, maxOutputTokens: 4096, costUsd: () => 0 });
   * ```
   */
  async reserveCall(runId: string, call: CallEstimate, signal?: AbortSignal): Promise<CallReservation> {
    let outputTokens = call.maxOutputTokens;
    const reservation = await this.reserveFitting(
      runId,
      (ledger) => {
        outputTokens = cappedOutput(ledger, call);
        return { tokens: call.promptTokens + outputTokens, costUsd: call.costUsd(outputTokens) };
      },
      signal,
    );
    return { maxOutputTokens: outputTokens, release: reservation.release };
  }

  private async reserveFitting(
    runId: string,
    estimateFor: (ledger: RunLedger) => Spend,
    signal: AbortSignal | undefined,
  ): Promise<{ release: () => void }> {
    for (;;) {
      const ledger = this.runs.get(runId);
      if (!ledger) return { release: () => {} };
      if (ledger.gate) {
        if (!(await waitFor(ledger.gate.opened, signal))) throw stopped(runId);
        continue;
      }
      const estimate = estimateFor(ledger);
      const exhaustion = this.wouldExceed(ledger, estimate);
      if (!exhaustion) {
        ledger.reserved = add(ledger.reserved, estimate);
        let released = false;
        const release = () => {
          if (released) return;
          released = true;
          ledger.reserved = add(ledger.reserved, estimate, -1);
        };
        return { release };
      }
      ledger.gate = gate();
      this.exhaust(runId, exhaustion);
    }
  }

  /** Adds what a call really used. */
  record(runId: string, spend: Spend): void {
    const ledger = this.runs.get(runId);
    if (ledger) ledger.used = add(ledger.used, spend);
  }

  private wouldExceed(ledger: RunLedger, estimate: Spend): BudgetExhaustion | undefined {
    const { maxCostUsd, maxTokens } = ledger.budget;
    const tokens = ledger.used.tokens + ledger.reserved.tokens + estimate.tokens;
    if (maxTokens !== undefined && tokens > maxTokens) {
      return {
        limit: 'maxTokens',
        detail: `budget: maxTokens ${maxTokens} reached (${ledger.used.tokens} used, the next model call may take up to ${estimate.tokens} more)`,
      };
    }
    const cost = ledger.used.costUsd + ledger.reserved.costUsd + estimate.costUsd;
    if (maxCostUsd !== undefined && cost > maxCostUsd + 1e-12) {
      return {
        limit: 'maxCostUsd',
        detail: `budget: maxCostUsd ${usd(maxCostUsd)} reached (${usd(ledger.used.costUsd)} spent, the next model call may cost up to ${usd(estimate.costUsd)} more)`,
      };
    }
    return undefined;
  }
}

/**
 * What a call may write: all it asked for without a token limit, else what the limit leaves
 * after the prompt and the calls in flight; never less than the minimum (then the call does
 * not fit, and the run pauses).
 */
function cappedOutput(ledger: RunLedger, call: CallEstimate): number {
  const { maxTokens } = ledger.budget;
  if (maxTokens === undefined) return call.maxOutputTokens;
  const left = maxTokens - ledger.used.tokens - ledger.reserved.tokens - call.promptTokens;
  const minimum = Math.min(MIN_OUTPUT_TOKENS, call.maxOutputTokens);
  return Math.max(minimum, Math.min(call.maxOutputTokens, left));
}

/** Opens with `true` when the budget is extended, `false` when the run is no longer driven here. */
interface Gate {
  readonly opened: Promise<boolean>;
  readonly open: (extended: boolean) => void;
}

function gate(): Gate {
  let open!: (extended: boolean) => void;
  const opened = new Promise<boolean>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

function stopped(runId: string): TaskvisorError {
  return new TaskvisorError(
    'ABORTED',
    `the model call of run ${runId} was waiting for its budget and was stopped`,
    { retryable: false },
  );
}

function waitFor(opened: Promise<boolean>, signal: AbortSignal | undefined): Promise<boolean> {
  if (!signal) return opened;
  if (signal.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
    void opened.then((extended) => {
      signal.removeEventListener('abort', onAbort);
      resolve(extended);
    });
  });
}
