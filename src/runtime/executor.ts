/**
 * The `executeAction` and `waitUntil` actors the step machine invokes.
 *
 * An attempt runs its action only after the step's `running` snapshot and the attempt's
 * intent (with its idempotency key) are committed; its result is journaled as soon as
 * the action returns. After a crash the restored step's attempt is not run again
 * silently: a recorded result is reused, otherwise the attempt reports
 * `ATTEMPT_INTERRUPTED` and the step machine decides (an idempotent step re-runs, any
 * other waits for a human).
 */
import { fromPromise } from 'xstate';
import {
  ATTEMPT_INTERRUPTED,
  type ExecuteActionInput,
  type ExecuteActionOutput,
  type StepError,
  type WaitUntilInput,
  type WaitUntilOutput,
} from '../../machines/protocol.js';
import { whenAborted, withDeadline } from '../abort.js';
import { type Clock, sleep } from '../clock.js';
import { isTaskvisorError, TaskvisorError, type TaskvisorErrorCode } from '../errors.js';
import type { Answer } from '../model/events.js';
import { type Json, toJsonOutput } from '../model/json.js';
import { interpolate } from '../model/templates.js';
import { thrownValueMessage } from '../model/thrown-value.js';
import { isIdempotentStep } from '../model/plan.js';
import type { Tier } from '../model/tier.js';
import type { ChatRequest, ChatResult } from '../llm/chat.js';
import type { AttemptGate } from './attempt-gate.js';
import type { Persistence } from './persistence.js';

/** A question an action asks a human with `ctx.ask()`. */
export interface Question {
  /** Stable within the step: the same key after a crash returns the recorded answer. */
  readonly key: string;
  readonly question: string;
  readonly options?: ReadonlyArray<{ readonly id: string; readonly label: string }>;
}

/** What an action gets besides its input. */
export interface ActionContext {
  /** Aborts when the step is cancelled or interrupted, the attempt times out, or the supervisor closes. */
  readonly signal: AbortSignal;
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  /** `<runId>/<stepId>`: the same on every attempt and after a crash; pass it to external systems to dedupe. */
  readonly idempotencyKey: string;
  /** The step's tier (a shell step's default timeout depends on it). */
  readonly tier: Tier;
  /** The step's own `timeoutMs`, when it has one. */
  readonly timeoutMs?: number;
  /** `'model'` when the supervisor's model wrote the step (planned or replanned); absent for the caller's steps. */
  readonly writtenBy?: 'model';
  /** Parks the step in `awaitingInput` until a human answers (journaled across crashes). */
  ask(question: Question): Promise<Answer>;
  /** Adds a line to the step's log (a `step.log` event). */
  log(message: string, data?: Json): void;
  /** Records an artifact of this step (a file written, a message sent, a reviewed text); `trace()` lists it. */
  artifact(kind: string, name: string, body: Json): void;
  /**
   * The supervisor's model, bound to this run: every call is checked against the run's
   * budget first and recorded as usage. `undefined` when no `llm` is configured.
   */
  readonly llm?: RunModel;
}

/** A model client bound to one run and step (budget-checked, usage recorded). */
export interface RunModel {
  /** The default model name. */
  readonly model: string;
  /** One model call; `signal` defaults to the step's. */
  chat(request: ChatRequest): Promise<ChatResult>;
}

/** A custom step kind: `(input, ctx) => ({ output })`. `input` is the action without `kind`. */
export type ActionFunction = (
  input: Record<string, unknown>,
  ctx: ActionContext,
) => Promise<{ output?: unknown }> | { output?: unknown };

/** An attempt's journaled outcome found at restore. */
export type RecordedOutcome = { readonly output: Json } | { readonly error: StepError };

export interface ExecutorDeps {
  readonly clock: Clock;
  readonly persistence: Persistence;
  readonly actions: ReadonlyMap<string, ActionFunction>;
  /** A succeeded step's output, for `{{steps.<id>.output}}`. */
  readonly outputOf: (runId: string, stepId: string) => Json | undefined;
  /** Attempts that were running when the last process died, by `attemptKey`. */
  readonly interrupted: Set<string>;
  /** Attempts whose outcome was journaled but whose step transition was not, by `attemptKey`. */
  readonly recorded: Map<string, RecordedOutcome>;
  readonly ask: (input: ExecuteActionInput, question: Question, signal: AbortSignal) => Promise<Answer>;
  /** The run's budgeted model for an attempt (absent when no model is configured). */
  readonly modelFor?: (input: ExecuteActionInput, signal: AbortSignal) => RunModel | undefined;
  /** Where attempts begin: held while the process drains (`close({ graceMs })`). */
  readonly gate?: AttemptGate;
  /**
   * Runs this process took over from a holder that left its lease behind (it died or froze):
   * there every attempt, an idempotent one too, is durable before its action runs, so a
   * step that kills its process is counted each time (the crash-loop guard).
   */
  readonly journalFirst: (runId: string) => boolean;
  /** Lets the event loop turn now and then (a long chain of idempotent steps must not hold it). */
  readonly yieldNow: () => Promise<void>;
}

export function attemptKey(runId: string, stepId: string, attempt: number): string {
  return `${runId}/${stepId}#${attempt}`;
}

function stepError(error: unknown, at: number): StepError {
  if (isTaskvisorError(error)) {
    const retryable =
      typeof error.details.retryable === 'boolean'
        ? error.details.retryable
        : error.code !== 'ABORTED' && error.code !== 'INVALID_OPTION';
    return { message: error.message, code: error.code, retryable, at };
  }
  if (error instanceof Error) {
    const flagged = (error as { retryable?: unknown }).retryable;
    return {
      message: error.message,
      code: 'ACTION_FAILED',
      retryable: typeof flagged === 'boolean' ? flagged : true,
      at,
    };
  }
  // A thrown plain object or string keeps its content (bounded JSON), not "[object Object]".
  return { message: thrownValueMessage(error), code: 'ACTION_FAILED', retryable: true, at };
}

/**
 * What an attempt rejects with: a `TaskvisorError` whose code is the step error's, with
 * `retryable` and `at` in its details (the step machine's `toStepError` reads them back).
 */
function attemptFailure(error: StepError): TaskvisorError {
  // Codes of step errors are TaskvisorError codes: `stepError` and the journal write no other.
  return new TaskvisorError(error.code as TaskvisorErrorCode, error.message, {
    retryable: error.retryable,
    at: error.at,
  });
}

export function createExecuteAction(deps: ExecutorDeps) {
  return fromPromise<ExecuteActionOutput, ExecuteActionInput>(async ({ input, signal }) => {
    const { clock } = deps;
    const key = attemptKey(input.runId, input.stepId, input.attempt);
    const recorded = deps.recorded.get(key);
    if (recorded) {
      deps.recorded.delete(key);
      if ('error' in recorded) throw attemptFailure({ ...recorded.error, at: clock.now() });
      return { output: recorded.output, at: clock.now() };
    }
    if (deps.interrupted.delete(key)) {
      throw attemptFailure({
        message: `attempt ${input.attempt} was running when the process stopped; it may or may not have finished`,
        code: ATTEMPT_INTERRUPTED,
        retryable: true,
        at: clock.now(),
      });
    }
    // A stopping worker starts nothing new: the attempt waits, unjournaled, until close()
    // aborts it, and begins for the first time wherever the run resumes.
    const held = deps.gate?.enter(signal);
    if (held) {
      await held.catch(() => undefined);
      throw stepError(new TaskvisorError('ABORTED', 'the attempt was stopped before it ran'), clock.now());
    }
    try {
      return await runAttempt(deps, input, signal);
    } finally {
      deps.gate?.leave();
    }
  });
}

async function runAttempt(
  deps: ExecutorDeps,
  input: ExecuteActionInput,
  signal: AbortSignal,
): Promise<ExecuteActionOutput> {
  const { clock, persistence } = deps;
  const base = {
    runId: input.runId,
    stepId: input.stepId,
    attempt: input.attempt,
    idempotencyKey: input.idempotencyKey,
  };
  const startedAt = clock.now();
  persistence.stageAttempt({ ...base, status: 'started', startedAt });
  if (isIdempotentStep(input.step) && !deps.journalFirst(input.runId)) {
    // May run again after a crash by contract: it need not wait for its attempt to be
    // durable (its result still is before anyone sees it), so attempts group into commits.
    // A process that dies before the commit leaves its lease behind; whoever takes the run
    // over journals every attempt first, so a step that keeps killing its process is
    // counted from then on and stops at retry.maxAttempts (the crash-loop guard).
    await deps.yieldNow();
  } else {
    // A side effect runs only once its intent is durable.
    await persistence.durable();
  }
  if (signal.aborted)
    throw stepError(new TaskvisorError('ABORTED', 'the attempt was stopped before it ran'), clock.now());

  const deadline = input.deadline;
  const timed = withDeadline(
    clock,
    signal,
    deadline,
    () =>
      new TaskvisorError(
        'STEP_TIMEOUT',
        `step ${input.stepId} timed out after ${input.step.timeoutMs ?? deadline! - startedAt} ms (attempt ${input.attempt})`,
        { retryable: true },
      ),
  );
  const combined = timed.signal;
  try {
    const action = deps.actions.get(input.step.action.kind);
    if (!action) {
      throw new TaskvisorError(
        'UNKNOWN_ACTION_KIND',
        `no action is registered for kind "${input.step.action.kind}"; register it with createSupervisor({ actions })`,
        { retryable: false },
      );
    }
    const { kind: _kind, ...fields } = interpolate(input.step.action, (id) => deps.outputOf(input.runId, id));
    const llm = deps.modelFor?.(input, combined);
    const ctx: ActionContext = {
      ...base,
      ...(llm ? { llm } : {}),
      tier: input.step.tier,
      ...(input.step.timeoutMs === undefined ? {} : { timeoutMs: input.step.timeoutMs }),
      ...(input.step.writtenBy === undefined ? {} : { writtenBy: input.step.writtenBy }),
      signal: combined,
      ask: (question) => deps.ask(input, question, combined),
      log: (message, data) =>
        persistence.stageEvent({
          type: 'step.log',
          at: clock.now(),
          runId: input.runId,
          stepId: input.stepId,
          attempt: input.attempt,
          message,
          ...(data === undefined ? {} : { data }),
        }),
      artifact: (kind, name, body) =>
        persistence.stageArtifact({
          runId: input.runId,
          stepId: input.stepId,
          kind,
          name,
          body: toJsonOutput(body, `step ${input.stepId}`),
          at: clock.now(),
        }),
    };

    const result = await Promise.race([Promise.resolve(action(fields, ctx)), whenAborted(combined)]);
    const output = toJsonOutput(result?.output, `step ${input.stepId}`);
    if (signal.aborted) throw signal.reason;
    persistence.stageAttempt({ ...base, status: 'succeeded', startedAt, endedAt: clock.now(), output });
    return { output, at: clock.now() };
  } catch (error) {
    const reason = signal.aborted
      ? new TaskvisorError(
          'ABORTED',
          `attempt ${input.attempt} of step ${input.stepId} was stopped (the step was cancelled or interrupted, or the supervisor closed)`,
          { retryable: false },
        )
      : combined.aborted
        ? combined.reason
        : error;
    const failure = stepError(reason, clock.now());
    persistence.stageAttempt({
      ...base,
      status: signal.aborted ? 'aborted' : 'failed',
      startedAt,
      endedAt: failure.at,
      error: {
        message: failure.message,
        ...(failure.code ? { code: failure.code } : {}),
        retryable: failure.retryable,
      },
    });
    throw attemptFailure(failure);
  } finally {
    timed.clear();
  }
}

/** Resolves at `until` on the injected clock; restored with the same deadline after a crash. */
export function createWaitUntil(clock: Clock) {
  return fromPromise<WaitUntilOutput, WaitUntilInput>(async ({ input, signal }) => {
    await sleep(clock, input.until - clock.now(), signal);
    return { at: clock.now() };
  });
}
