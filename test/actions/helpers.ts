/**
 * Shared pieces of the built-in action tests: waiting for a step's state, reading the pid a
 * shell step logged, expecting a refusal, and a hand-made `ActionContext` for calling an
 * action directly.
 */
import { expect } from 'vitest';
import { isTaskvisorError, type TaskvisorError, type TaskvisorErrorCode } from '../../src/errors.js';
import type { Answer } from '../../src/model/events.js';
import type { Json } from '../../src/model/json.js';
import type { StepState } from '../../src/model/states.js';
import type { Tier } from '../../src/model/tier.js';
import type { ActionContext, Question, RunModel } from '../../src/runtime/executor.js';
import type { Supervisor } from '../../src/supervisor.js';
import { until } from '../support/until.js';

export async function untilStep(
  sv: Supervisor,
  runId: string,
  stepId: string,
  state: StepState,
  withinMs = 5000,
): Promise<void> {
  await until(async () => (await sv.get(runId))?.steps.find((step) => step.id === stepId)?.state === state, {
    what: `step ${stepId} ${state}`,
    withinMs,
  });
}

/** The pid a shell step (or CLI agent) logged when its child started (its process group id). */
export async function untilSpawned(sv: Supervisor, runId: string, stepId: string): Promise<number> {
  return until(
    async () => {
      const events = (await sv.trace(runId)).events;
      for (const event of events) {
        if (event.type !== 'step.log' || event.stepId !== stepId) continue;
        const pid = (event.data as { pid?: unknown } | undefined)?.pid;
        if (typeof pid === 'number') return pid;
      }
      return undefined;
    },
    { what: `step ${stepId} spawned its child` },
  );
}

/** The error `attempt` rejects (or throws) with, checked to be a TaskvisorError with `code`. */
export async function refusal(attempt: () => unknown, code: TaskvisorErrorCode): Promise<TaskvisorError> {
  let error: unknown;
  try {
    await attempt();
  } catch (caught) {
    error = caught;
  }
  expect(isTaskvisorError(error), `expected TaskvisorError ${code}, got ${String(error)}`).toBe(true);
  expect((error as TaskvisorError).code, (error as Error).message).toBe(code);
  return error as TaskvisorError;
}

export interface FakeContext extends ActionContext {
  readonly logs: Array<{ message: string; data?: Json }>;
  readonly artifacts: Array<{ kind: string; name: string; body: Json }>;
  readonly questions: Question[];
}

/**
 * An `ActionContext` for calling an action directly: `answers` replies to `ctx.ask` in order
 * (a question with no answer left rejects, so a test sees an unexpected question).
 */
export function fakeContext(
  options: {
    signal?: AbortSignal;
    tier?: Tier;
    answers?: Answer[];
    llm?: RunModel;
    stepId?: string;
  } = {},
): FakeContext {
  const logs: FakeContext['logs'] = [];
  const artifacts: FakeContext['artifacts'] = [];
  const questions: Question[] = [];
  const answers = [...(options.answers ?? [])];
  return {
    signal: options.signal ?? new AbortController().signal,
    runId: 'run-1',
    stepId: options.stepId ?? 'impl',
    attempt: 1,
    idempotencyKey: `run-1/${options.stepId ?? 'impl'}`,
    tier: options.tier ?? 'write',
    ...(options.llm ? { llm: options.llm } : {}),
    logs,
    artifacts,
    questions,
    ask: async (question) => {
      questions.push(question);
      const answer = answers.shift();
      if (!answer) throw new Error(`unexpected question: ${question.question}`);
      return answer;
    },
    log: (message, data) => {
      logs.push({ message, ...(data === undefined ? {} : { data }) });
    },
    artifact: (kind, name, body) => {
      artifacts.push({ kind, name, body });
    },
  };
}
