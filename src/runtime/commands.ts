/**
 * What a human asks of a run: approve, reject, confirm, answer, control, cancel. A
 * command is plain data, so a process that does not drive the run (the CLI) can store it
 * for the one that does. Checking it against the run's view and turning it into machine
 * events are pure functions.
 */
import type { RunCommand, StepControlAction } from '../../machines/protocol.js';
import { workerStatesAllowing } from '../../machines/worker.machine.js';
import { TaskvisorError } from '../errors.js';
import type { Budget } from '../model/budget.js';
import type { Answer, UnsequencedEvent } from '../model/events.js';
import { isTerminalPhase, OPEN_STEP_STATES, type StepState } from '../model/states.js';
import { didYouMean } from '../model/suggest.js';
import type { RunView, StepView, WorkerSummary } from '../model/views.js';
import type { RequestRow } from '../store/rows.js';

export type Command =
  | {
      readonly kind: 'approvePlan';
      readonly runId: string;
      readonly by?: string;
      readonly note?: string;
      readonly at: number;
    }
  | {
      readonly kind: 'rejectPlan';
      readonly runId: string;
      readonly by?: string;
      readonly reason: string;
      readonly at: number;
    }
  | {
      readonly kind: 'confirmStep';
      readonly runId: string;
      readonly stepId: string;
      readonly approved: boolean;
      readonly decision?: 'skip' | 'fail';
      readonly by?: string;
      readonly reason?: string;
      readonly at: number;
    }
  | {
      readonly kind: 'answer';
      readonly runId: string;
      readonly stepId: string;
      readonly requestId: string;
      readonly answer: Answer;
      readonly by?: string;
      readonly at: number;
    }
  | {
      readonly kind: 'control';
      readonly runId: string;
      readonly stepId: string;
      readonly action: StepControlAction;
      readonly by?: string;
      readonly at: number;
    }
  | {
      readonly kind: 'cancel';
      readonly runId: string;
      readonly by?: string;
      readonly reason?: string;
      readonly at: number;
    }
  | {
      readonly kind: 'extendBudget';
      readonly runId: string;
      /** New limits, merged over the run's current ones. */
      readonly budget: Budget;
      readonly by?: string;
      readonly at: number;
    };

const WORKING: ReadonlySet<StepState> = new Set(['running', 'awaitingInput']);

/** Which step states each control applies to. */
export const CONTROL_STATES: Readonly<Record<StepControlAction, ReadonlySet<StepState>>> = {
  cancel: OPEN_STEP_STATES,
  interrupt: WORKING,
  resume: new Set(['interrupted']),
  retry: new Set(['failed', 'cancelled', 'retrying']),
};

function stepOf(view: RunView, stepId: string): StepView | TaskvisorError {
  const step = view.steps.find((candidate) => candidate.id === stepId);
  if (step) return step;
  const ids = view.steps.map((candidate) => candidate.id);
  return new TaskvisorError(
    'UNKNOWN_STEP',
    `Run ${view.id} has no step "${stepId}"${didYouMean(stepId, ids)}; its steps are: ${ids.map((id) => `"${id}"`).join(', ') || 'none yet'}.`,
    { runId: view.id, stepId, steps: ids },
  );
}

/** The fan-out worker a control names by label, when no step has that id. */
export function workerOf(view: RunView, id: string): WorkerSummary | undefined {
  if (view.steps.some((step) => step.id === id)) return undefined;
  return view.workers?.find((worker) => worker.label === id);
}

function checkWorkerControl(
  view: RunView,
  worker: WorkerSummary,
  action: StepControlAction,
): TaskvisorError | undefined {
  // The worker machine decides which states a control fits.
  const allowed = workerStatesAllowing(action);
  if (!allowed.includes(worker.state)) {
    return new TaskvisorError(
      'INVALID_STATE',
      `Fan-out worker "${worker.label}" of step ${worker.stepId} in run ${view.id} is ${worker.state}; "${action}" applies to a worker that is ${list(allowed)}.`,
      { runId: view.id, stepId: worker.stepId, label: worker.label, state: worker.state, action },
    );
  }
  const step = view.steps.find((candidate) => candidate.id === worker.stepId);
  if (step && step.state !== 'running') {
    return new TaskvisorError(
      'INVALID_STATE',
      `Fan-out step ${step.id} of run ${view.id} is ${step.state}, so its worker "${worker.label}" cannot be controlled; control the step instead (e.g. retry it).`,
      { runId: view.id, stepId: step.id, label: worker.label, state: step.state, action },
    );
  }
  return undefined;
}

function list(states: Iterable<string>): string {
  return [...states].join(', ');
}

/**
 * Why `command` does not fit the run as it is now, or undefined when it does. `request`
 * is the open request an `answer` replies to.
 */
export function checkCommand(
  view: RunView,
  command: Command,
  request?: RequestRow,
): TaskvisorError | undefined {
  const run = `Run ${view.id}`;
  if (isTerminalPhase(view.phase)) {
    return new TaskvisorError(
      'INVALID_STATE',
      `${run} is ${view.phase}; ${command.kind} applies only to a run that has not ended (start a new run instead).`,
      { runId: view.id, phase: view.phase, command: command.kind },
    );
  }
  switch (command.kind) {
    case 'approvePlan':
    case 'rejectPlan':
      if (view.phase !== 'awaitingApproval') {
        return new TaskvisorError(
          'INVALID_STATE',
          `${run} is ${view.phase}, not awaitingApproval; ${command.kind} applies to a plan waiting for approval.`,
          { runId: view.id, phase: view.phase, command: command.kind },
        );
      }
      return undefined;
    case 'cancel':
    case 'extendBudget':
      // New limits apply to any unfinished run; a paused one continues under them.
      return undefined;
    default:
      break;
  }
  // Step commands need the steps: they exist from the first approval (or start) on.
  if (
    view.phase === 'queued' ||
    view.phase === 'planning' ||
    (view.phase === 'awaitingApproval' && view.replans === 0)
  ) {
    return new TaskvisorError(
      'INVALID_STATE',
      `${run} is ${view.phase}: its steps have not started${view.phase === 'awaitingApproval' ? ' (approve the plan first)' : ''}, so ${command.kind} cannot apply to step ${command.stepId} yet.`,
      { runId: view.id, phase: view.phase, stepId: command.stepId, command: command.kind },
    );
  }
  switch (command.kind) {
    case 'confirmStep': {
      const step = stepOf(view, command.stepId);
      if (step instanceof TaskvisorError) return step;
      if (step.state !== 'awaitingConfirmation') {
        return new TaskvisorError(
          'INVALID_STATE',
          `Step ${step.id} of run ${view.id} is ${step.state}, not awaitingConfirmation; confirmStep applies to a step waiting for a human.`,
          { runId: view.id, stepId: step.id, state: step.state, command: command.kind },
        );
      }
      if (command.approved && command.decision !== undefined) {
        return new TaskvisorError(
          'INVALID_OPTION',
          `confirmStep: decision "${command.decision}" goes with approved: false (approved: true runs the step).`,
          { decision: command.decision },
        );
      }
      return undefined;
    }
    case 'control': {
      const worker = workerOf(view, command.stepId);
      if (worker) return checkWorkerControl(view, worker, command.action);
      const step = stepOf(view, command.stepId);
      if (step instanceof TaskvisorError) return step;
      const allowed = CONTROL_STATES[command.action];
      if (!allowed.has(step.state)) {
        return new TaskvisorError(
          'INVALID_STATE',
          `Step ${step.id} of run ${view.id} is ${step.state}; "${command.action}" applies to a step that is ${list(allowed)}.`,
          { runId: view.id, stepId: step.id, state: step.state, action: command.action },
        );
      }
      if (command.action === 'retry' && step.replacedBy !== undefined) {
        return new TaskvisorError(
          'INVALID_STATE',
          `Step ${step.id} of run ${view.id} was ${step.reason}; retry the replacement instead.`,
          { runId: view.id, stepId: step.id, reason: step.reason },
        );
      }
      if (command.action === 'retry' && view.phase === 'replanning' && step.state === 'failed') {
        return new TaskvisorError(
          'INVALID_STATE',
          `Run ${view.id} is replanning after step ${step.id} failed; retry it after the replan is applied.`,
          { runId: view.id, stepId: step.id, phase: view.phase },
        );
      }
      return undefined;
    }
    case 'answer': {
      const step = stepOf(view, command.stepId);
      if (step instanceof TaskvisorError) return step;
      if (request?.answeredAt !== undefined) {
        return new TaskvisorError(
          'INVALID_STATE',
          `Request ${command.requestId} was already answered; each question takes one answer.`,
          { requestId: command.requestId },
        );
      }
      if (request?.closedAt !== undefined) {
        return new TaskvisorError(
          'INVALID_STATE',
          `Request ${command.requestId} is closed: step ${step.id} is ${step.state} and no longer waits for an answer.`,
          { requestId: command.requestId, stepId: step.id, state: step.state },
        );
      }
      const options = request?.options ?? [];
      if (
        command.answer.optionId !== undefined &&
        !options.some((option) => option.id === command.answer.optionId)
      ) {
        const ids = options.map((option) => option.id);
        return new TaskvisorError(
          'INVALID_OPTION',
          `Request ${command.requestId} has no option "${command.answer.optionId}"${didYouMean(command.answer.optionId, ids)}; its options are: ${ids.map((id) => `"${id}"`).join(', ') || 'none (answer with text)'}.`,
          { requestId: command.requestId, optionId: command.answer.optionId, options: ids },
        );
      }
      if (
        command.answer.text === undefined &&
        command.answer.optionId === undefined &&
        command.answer.answers === undefined
      ) {
        return new TaskvisorError(
          'INVALID_OPTION',
          `answer(${command.requestId}): give text, optionId or answers.`,
          { requestId: command.requestId },
        );
      }
      return undefined;
    }
  }
}

/** The machine event a command becomes (sent through the supervisor). */
export function toMachineCommand(command: Command): RunCommand {
  const who = command.by === undefined ? {} : { by: command.by };
  switch (command.kind) {
    case 'approvePlan':
      return {
        type: 'plan.approved',
        ...who,
        ...(command.note ? { note: command.note } : {}),
        at: command.at,
      };
    case 'rejectPlan':
      return { type: 'plan.rejected', ...who, reason: command.reason, at: command.at };
    case 'cancel':
      return {
        type: 'run.cancel',
        ...who,
        ...(command.reason ? { reason: command.reason } : {}),
        at: command.at,
      };
    case 'confirmStep':
      return {
        type: 'step.command',
        stepId: command.stepId,
        command: {
          type: 'step.confirm',
          approved: command.approved,
          ...(command.decision ? { decision: command.decision } : {}),
          ...who,
          ...(command.reason ? { reason: command.reason } : {}),
          at: command.at,
        },
      };
    case 'control':
      return {
        type: 'step.command',
        stepId: command.stepId,
        command: { type: 'step.control', action: command.action, ...who, at: command.at },
      };
    case 'answer':
      return {
        type: 'step.command',
        stepId: command.stepId,
        command: { type: 'input.answered', requestId: command.requestId, at: command.at },
      };
    case 'extendBudget':
      return { type: 'budget.extended', budget: command.budget, ...who, at: command.at };
  }
}

/** The events that record a command being applied (next to the transitions it causes). */
export function commandEvents(command: Command, view: RunView): UnsequencedEvent[] {
  const base = { at: command.at, runId: command.runId };
  const who = command.by === undefined ? {} : { by: command.by };
  switch (command.kind) {
    case 'approvePlan':
      return [
        {
          ...base,
          type: 'approval.resolved',
          kind: 'plan',
          approved: true,
          decision: 'approve',
          ...who,
          ...(command.note ? { reason: command.note } : {}),
        },
      ];
    case 'rejectPlan':
      return [
        {
          ...base,
          type: 'approval.resolved',
          kind: 'plan',
          approved: false,
          decision: 'reject',
          ...who,
          reason: command.reason,
        },
      ];
    case 'confirmStep': {
      const step = view.steps.find((candidate) => candidate.id === command.stepId);
      // A step waiting after a crash is re-run; `reason` is read only for the events of
      // versions that did not record `crashes`.
      const interrupted = (step?.crashes ?? 0) > 0 || step?.reason === 'interrupted';
      const decision = command.approved ? (interrupted ? 'rerun' : 'approve') : (command.decision ?? 'deny');
      return [
        {
          ...base,
          type: 'approval.resolved',
          kind: 'step',
          stepId: command.stepId,
          approved: command.approved,
          decision,
          ...who,
          ...(command.reason ? { reason: command.reason } : {}),
        },
      ];
    }
    case 'control':
      return [{ ...base, type: 'control.applied', stepId: command.stepId, action: command.action, ...who }];
    case 'answer':
      return [
        {
          ...base,
          type: 'request.answered',
          stepId: command.stepId,
          requestId: command.requestId,
          answer: command.answer,
          ...who,
        },
      ];
    case 'cancel':
      return [];
    case 'extendBudget':
      return [
        {
          ...base,
          type: 'approval.resolved',
          kind: 'budget',
          approved: true,
          decision: 'extend',
          budget: command.budget,
          ...who,
        },
      ];
  }
}
