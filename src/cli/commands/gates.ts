/**
 * `approve`, `reject`, `answer`, `cancel` and `control`: a human's commands. Each is
 * stored in the database; the process that drives the run applies it within its poll
 * interval (100 ms), or the next `taskvisor resume` does.
 */
import os from 'node:os';
import { isTaskvisorError } from '../../errors.js';
import type { StepControlAction } from '../../../machines/protocol.js';
import type { Supervisor } from '../../supervisor.js';
import { type Io, printJson, printLine } from '../io.js';
import { CliError } from '../exit-codes.js';
import { driverOf } from '../driver.js';
import { thisInvocation } from '../invocation.js';
import { type CommandHint, commandHint } from '../hints.js';
import { type CommonFlags, closeQuietly, openSupervisor, requireDatabase } from '../open-supervisor.js';
import { requireRun } from './read.js';
import { redactUrl } from '../../store/pg-errors.js';

export interface GateFlags extends CommonFlags {
  readonly by?: string;
}

function defaultBy(): string {
  try {
    return os.userInfo().username || 'cli';
  } catch {
    return 'cli';
  }
}

interface Sent {
  readonly command: string;
  readonly runId: string;
  readonly stepId?: string;
  readonly requestId?: string;
  /** What was asked, for the human line: `cancel of run x`, `approval of the plan of run x`. */
  readonly text: string;
}

async function send(
  flags: GateFlags,
  io: Io,
  runIdOf: (sv: Supervisor, db: string, hint: CommandHint) => Promise<string>,
  act: (sv: Supervisor, by: string, runId: string) => Promise<Omit<Sent, 'runId'>>,
): Promise<number> {
  const db = requireDatabase(flags);
  const hint = commandHint(flags.db);
  const sv = await openSupervisor(flags);
  try {
    const runId = await runIdOf(sv, db, hint);
    const sent = { ...(await act(sv, flags.by ?? defaultBy(), runId)), runId };
    const driver = await driverOf(db, runId);
    const driven = driver.state === 'live';
    if (flags.json) {
      // A command for a run nobody drives is stored, not done: it stays pending until a resume.
      printJson(io, { ok: true, ...sent, driven, pending: !driven });
      return 0;
    }
    if (driver.state === 'live') {
      printLine(io, `sent: ${sent.text}`);
      printLine(io, `  the process driving run ${runId} (pid ${driver.pid}) applies it within 100 ms`);
    } else {
      printLine(io, `stored, pending: ${sent.text}`);
      printLine(
        io,
        `  no process drives run ${runId}, so nothing happened yet: it applies when the run resumes (${hint(`resume ${runId}`)})`,
      );
    }
    return 0;
  } finally {
    await closeQuietly(sv);
  }
}

function byRun(runId: string) {
  return async (sv: Supervisor, db: string, hint: CommandHint) => (await requireRun(sv, runId, db, hint)).id;
}

/** An INVALID_STATE plan approval on a run whose step waits: say which command fits. */
async function explainGate(
  sv: Supervisor,
  runId: string,
  error: unknown,
  verb: 'approve' | 'reject',
): Promise<never> {
  if (isTaskvisorError(error, 'INVALID_STATE')) {
    const view = await sv.get(runId);
    if (view?.phase === 'paused') {
      throw new CliError(
        `${error.message} It is paused on its budget (${view.reason ?? 'limit reached'}): raise it with ${thisInvocation()} extend ${runId} --max-cost <usd> | --max-tokens <n> | --max-steps <n>, or cancel it.`,
      );
    }
    const waiting =
      (await sv.get(runId))?.steps.filter((step) => step.state === 'awaitingConfirmation') ?? [];
    if (waiting.length > 0) {
      throw new CliError(
        `${error.message} It has ${waiting.length === 1 ? 'a step' : 'steps'} waiting for confirmation: ${waiting.map((step) => `${thisInvocation()} ${verb} ${runId} ${step.id}`).join(', ')}.`,
      );
    }
  }
  throw error;
}

export interface ApproveFlags extends GateFlags {
  readonly note?: string;
}

export function approveCommand(
  runId: string,
  stepId: string | undefined,
  flags: ApproveFlags,
  io: Io,
): Promise<number> {
  return send(flags, io, byRun(runId), async (sv, by) => {
    if (stepId === undefined) {
      await sv
        .approvePlan(runId, { by, ...(flags.note ? { note: flags.note } : {}) })
        .catch((error: unknown) => explainGate(sv, runId, error, 'approve'));
      return { command: 'approvePlan', text: `approval of the plan of run ${runId}` };
    }
    await sv.confirmStep(runId, stepId, {
      approved: true,
      by,
      ...(flags.note ? { reason: flags.note } : {}),
    });
    return { command: 'confirmStep', stepId, text: `confirmation of step ${stepId} of run ${runId}` };
  });
}

export interface RejectFlags extends GateFlags {
  readonly reason?: string;
  readonly decision?: string;
}

export function rejectCommand(
  runId: string,
  stepId: string | undefined,
  flags: RejectFlags,
  io: Io,
): Promise<number> {
  if (stepId === undefined && !flags.reason) {
    throw new CliError(`reject ${runId} needs a reason for rejecting the plan: add --reason "why".`);
  }
  if (flags.decision !== undefined && flags.decision !== 'skip' && flags.decision !== 'fail') {
    throw new CliError(`--decision must be "skip" or "fail", got ${JSON.stringify(flags.decision)}.`);
  }
  if (flags.decision !== undefined && stepId === undefined) {
    throw new CliError('--decision applies to a step: reject <run> <step> --decision skip|fail.');
  }
  return send(flags, io, byRun(runId), async (sv, by) => {
    if (stepId === undefined) {
      await sv
        .rejectPlan(runId, { by, reason: flags.reason! })
        .catch((error: unknown) => explainGate(sv, runId, error, 'reject'));
      return { command: 'rejectPlan', text: `rejection of the plan of run ${runId}` };
    }
    const decision = flags.decision as 'skip' | 'fail' | undefined;
    await sv.confirmStep(runId, stepId, {
      approved: false,
      by,
      ...(decision ? { decision } : {}),
      ...(flags.reason ? { reason: flags.reason } : {}),
    });
    return {
      command: 'confirmStep',
      stepId,
      text: `rejection of step ${stepId} of run ${runId}${decision ? ` (${decision})` : ''}`,
    };
  });
}

export interface AnswerFlags extends GateFlags {
  readonly text?: string;
  readonly option?: string;
}

export function answerCommand(requestId: string, flags: AnswerFlags, io: Io): Promise<number> {
  if ((flags.text === undefined) === (flags.option === undefined)) {
    throw new CliError(`answer ${requestId} needs exactly one of --text "…" or --option <id>.`);
  }
  let runOfRequest = '';
  return send(
    flags,
    io,
    async (sv, db, hint) => {
      const pending = (await sv.pending()).requests.find((request) => request.requestId === requestId);
      if (!pending) {
        throw new CliError(
          `no open request ${JSON.stringify(requestId)} in ${redactUrl(db)} (answered already, or never asked); ${hint('show <run>')} lists what a run waits for.`,
        );
      }
      if (
        flags.option !== undefined &&
        pending.options &&
        !pending.options.some((option) => option.id === flags.option)
      ) {
        throw new CliError(
          `--option ${JSON.stringify(flags.option)} is not an option of request ${requestId}; its options are ${pending.options.map((option) => `${option.id} (${option.label})`).join(', ')}.`,
        );
      }
      runOfRequest = pending.runId;
      return pending.runId;
    },
    async (sv, by) => {
      await sv.answer(requestId, {
        by,
        ...(flags.text !== undefined ? { text: flags.text } : { optionId: flags.option! }),
      });
      return { command: 'answer', requestId, text: `answer to request ${requestId} of run ${runOfRequest}` };
    },
  );
}

export interface CancelFlags extends GateFlags {
  readonly reason?: string;
}

export function cancelCommand(runId: string, flags: CancelFlags, io: Io): Promise<number> {
  return send(flags, io, byRun(runId), async (sv, by) => {
    await sv.cancel(runId, { by, ...(flags.reason ? { reason: flags.reason } : {}) });
    return { command: 'cancel', text: `cancel of run ${runId}` };
  });
}

export interface ExtendFlags extends GateFlags {
  readonly maxCost?: string;
  readonly maxTokens?: string;
  readonly maxSteps?: string;
}

/** A positive number from a flag, or exit 2 naming the flag. */
function positive(flag: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0 || (integer && !Number.isInteger(number))) {
    throw new CliError(
      `${flag} must be a positive ${integer ? 'whole number' : 'number'}, got ${JSON.stringify(value)}.`,
    );
  }
  return number;
}

/** `extend <run>`: new budget limits; a run paused on its budget continues under them. */
export function extendCommand(runId: string, flags: ExtendFlags, io: Io): Promise<number> {
  const maxCostUsd = positive('--max-cost', flags.maxCost, false);
  const maxTokens = positive('--max-tokens', flags.maxTokens, true);
  const maxSteps = positive('--max-steps', flags.maxSteps, true);
  const budget = {
    ...(maxCostUsd === undefined ? {} : { maxCostUsd }),
    ...(maxTokens === undefined ? {} : { maxTokens }),
    ...(maxSteps === undefined ? {} : { maxSteps }),
  };
  if (Object.keys(budget).length === 0) {
    throw new CliError(
      `extend ${runId} needs at least one new limit: --max-cost <usd>, --max-tokens <n> or --max-steps <n>.`,
    );
  }
  return send(flags, io, byRun(runId), async (sv, by) => {
    await sv.extendBudget(runId, budget, { by });
    const limits = Object.entries(budget)
      .map(([name, value]) => `${name} ${value}`)
      .join(', ');
    return { command: 'extendBudget', text: `new budget for run ${runId}: ${limits}` };
  });
}

const CONTROL_ACTIONS: readonly StepControlAction[] = ['cancel', 'interrupt', 'retry', 'resume'];

export function controlCommand(
  runId: string,
  stepId: string,
  action: string,
  flags: GateFlags,
  io: Io,
): Promise<number> {
  if (!CONTROL_ACTIONS.includes(action as StepControlAction)) {
    throw new CliError(
      `control: action must be one of ${CONTROL_ACTIONS.join(', ')}, got ${JSON.stringify(action)}.`,
    );
  }
  return send(flags, io, byRun(runId), async (sv, by) => {
    await sv.control(runId, stepId, action as StepControlAction, { by });
    return { command: 'control', stepId, text: `${action} of step ${stepId} of run ${runId}` };
  });
}
