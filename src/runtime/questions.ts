/**
 * `ctx.ask()`: a question is a persisted request; the step waits in `awaitingInput` until
 * `answer()` (from any process) and the answer is journaled, so an action re-run after a
 * crash gets the recorded answer without asking again.
 */
import type { ExecuteActionInput, RunCommand } from '../../machines/protocol.js';
import type { Clock } from '../clock.js';
import { TaskvisorError } from '../errors.js';
import type { Answer } from '../model/events.js';
import type { RequestRow } from '../store/rows.js';
import type { Store } from '../store/store.js';
import type { Question } from './executor.js';
import type { Persistence } from './persistence.js';

export interface QuestionsDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly persistence: Persistence;
  readonly newId: (prefix: 'req') => string;
  /** Sends a command to a run's task (through the supervisor actor). */
  readonly send: (runId: string, command: RunCommand) => void;
}

export class Questions {
  private readonly waiters = new Map<
    string,
    { resolve(answer: Answer): void; reject(error: unknown): void }
  >();

  constructor(private readonly deps: QuestionsDeps) {}

  /** Hands an applied answer to the action waiting for it in this process, if any. */
  answered(requestId: string, answer: Answer): void {
    const waiter = this.waiters.get(requestId);
    this.waiters.delete(requestId);
    waiter?.resolve(answer);
  }

  /** Fails every question still waiting (the supervisor is closing). */
  rejectAll(error: unknown): void {
    for (const waiter of this.waiters.values()) waiter.reject(error);
    this.waiters.clear();
  }

  async ask(input: ExecuteActionInput, question: Question, signal: AbortSignal): Promise<Answer> {
    if (
      !question ||
      typeof question.key !== 'string' ||
      question.key === '' ||
      typeof question.question !== 'string'
    ) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `ctx.ask() needs { key, question } (strings; key is stable within the step), got ${JSON.stringify(question)}.`,
        { retryable: false },
      );
    }
    const store = this.deps.store;
    const existing = await store.inbox.findRequest({
      runId: input.runId,
      stepId: input.stepId,
      key: question.key,
    });
    if (existing?.answer !== undefined) return existing.answer as Answer;
    if (signal.aborted) throw signal.reason;
    const at = this.deps.clock.now();
    const requestId = existing?.id ?? this.deps.newId('req');
    // Asked again (a new attempt after a retry, a crash or a resume): the same request,
    // announced again only if it had been closed.
    const row: RequestRow = existing ?? {
      id: requestId,
      runId: input.runId,
      stepId: input.stepId,
      key: question.key,
      question: question.question,
      ...(question.options
        ? {
            options: question.options.map((option) => ({
              id: String(option.id),
              label: String(option.label),
            })),
          }
        : {}),
      openedAt: at,
    };
    const reopened = existing !== undefined && existing.closedAt !== undefined;
    this.deps.persistence.stageRequestOpen(row, reopened);
    if (!existing || reopened) {
      this.deps.persistence.stageEvent({
        type: 'request.opened',
        at,
        runId: input.runId,
        stepId: input.stepId,
        requestId,
        key: row.key,
        question: row.question,
        ...(row.options ? { options: [...row.options] } : {}),
      });
    }
    const answered = new Promise<Answer>((resolve, reject) => {
      this.waiters.set(requestId, { resolve, reject });
      signal.addEventListener(
        'abort',
        () => {
          this.waiters.delete(requestId);
          reject(signal.reason);
        },
        { once: true },
      );
    });
    this.deps.send(input.runId, {
      type: 'step.command',
      stepId: input.stepId,
      command: { type: 'input.requested', requestId, at },
    });
    return answered;
  }
}
