/**
 * The messages the three machines exchange with each other and with the runtime, and the
 * inputs/outputs of the side effects they invoke by string key. Time enters the machines
 * only through `at` fields (epoch ms stamped by the runtime's clock), so a machine can be
 * stepped with XState's pure `transition()` and replays the same way.
 */
import type { Budget, BudgetLimit } from '../src/model/budget.js';
import type { Json } from '../src/model/json.js';
import type { ApproveReplans, Plan, Step } from '../src/model/plan.js';
import type { RunPhase, StepState } from '../src/model/states.js';
import type { Tier } from '../src/model/tier.js';

// ---------------------------------------------------------------------------------------
// Step actor

export interface StepInput {
  readonly runId: string;
  readonly step: Step;
  /** Dependencies that have not succeeded yet. */
  readonly waitingOn: readonly string[];
  /** The step's tier is one of the supervisor's `confirmTiers`. */
  readonly needsConfirmation: boolean;
}

/** An attempt's failure, as the runtime reports it (always JSON). */
export interface StepError {
  readonly message: string;
  readonly code?: string;
  /** Whether another attempt may succeed (the step's `retry` policy decides if one runs). */
  readonly retryable: boolean;
  readonly at: number;
}

/** What `executeAction` is invoked with. */
export interface ExecuteActionInput {
  readonly runId: string;
  readonly stepId: string;
  readonly step: Step;
  readonly attempt: number;
  /** Stable per step: the same on every attempt and after a crash. */
  readonly idempotencyKey: string;
  /** Epoch ms after which the attempt is aborted with `STEP_TIMEOUT`. */
  readonly deadline?: number;
}

export interface ExecuteActionOutput {
  readonly output: Json;
  readonly at: number;
}

/** What `waitUntil` is invoked with: resolves at (or after) `until`, re-armed on restore. */
export interface WaitUntilInput {
  readonly until: number;
}

export interface WaitUntilOutput {
  readonly at: number;
}

/** The runtime rejects an attempt that was in flight when the process died with this code. */
export const ATTEMPT_INTERRUPTED = 'ATTEMPT_INTERRUPTED';

export type StepControlAction = 'cancel' | 'interrupt' | 'retry' | 'resume';

/** A human's answer to a step waiting in `awaitingConfirmation`. */
export interface StepConfirmEvent {
  readonly type: 'step.confirm';
  readonly approved: boolean;
  /** When not approved: `skip` or `fail` the step; the default cancels it. */
  readonly decision?: 'skip' | 'fail';
  readonly by?: string;
  readonly reason?: string;
  readonly at: number;
}

export interface StepControlEvent {
  readonly type: 'step.control';
  readonly action: StepControlAction;
  readonly by?: string;
  readonly at: number;
}

/** Commands a human (through the runtime) addresses to one step. */
export type StepCommand =
  | StepConfirmEvent
  | StepControlEvent
  | { readonly type: 'input.requested'; readonly requestId: string; readonly at: number }
  | { readonly type: 'input.answered'; readonly requestId: string; readonly at: number };

/** What the task tells its steps. */
export type StepEvent =
  | StepCommand
  | { readonly type: 'step.start'; readonly at: number }
  | { readonly type: 'step.cancel'; readonly reason: string; readonly at: number }
  /**
   * With `grant`, the task reserved a run slot for this step (its only dependency just
   * succeeded): the step starts at once, or declines the slot if it can no longer start.
   */
  | {
      readonly type: 'dependency.succeeded';
      readonly id: string;
      readonly at: number;
      readonly grant?: boolean;
    }
  | { readonly type: 'dependency.failed'; readonly root: string; readonly at: number }
  | { readonly type: 'dependency.replaced'; readonly from: string; readonly to: string }
  | { readonly type: 'dependency.revived'; readonly root: string; readonly at: number }
  | { readonly type: 'step.superseded'; readonly by: string }
  | { readonly type: 'step.query'; readonly to: string; readonly at: number };

export type SettledStepState = Extract<StepState, 'succeeded' | 'failed' | 'skipped' | 'cancelled'>;

/** What a step tells its task. */
export type StepNotice =
  | { readonly type: 'step.ready'; readonly stepId: string; readonly at: number }
  | {
      readonly type: 'step.settled';
      readonly stepId: string;
      readonly state: SettledStepState;
      /** The step whose failure, cancellation or skip this one is a consequence of (itself if none). */
      readonly root: string;
      readonly at: number;
    }
  /** A granted slot the step could not use (it is no longer pending). */
  | { readonly type: 'step.declined'; readonly stepId: string; readonly at: number }
  | {
      readonly type: 'step.revived';
      readonly stepId: string;
      readonly from: Exclude<SettledStepState, 'succeeded'>;
      readonly at: number;
    }
  | {
      readonly type: 'step.status';
      readonly stepId: string;
      readonly state: SettledStepState;
      readonly to: string;
      readonly at: number;
    };

// ---------------------------------------------------------------------------------------
// Task actor

export interface TaskInput {
  readonly runId: string;
  readonly goal: string;
  /** Without a plan the task starts in `planning` and invokes `planRun`. */
  readonly plan?: Plan;
  readonly requireApproval: boolean;
  /** `true`: every replan waits for approval; `'auto'`: one that adds a step above `read`; `false`: none. */
  readonly approveReplans: ApproveReplans;
  readonly maxReplans: number;
  readonly stepsPerRun: number;
  readonly confirmTiers: readonly Tier[];
  /** The run's limits (`maxSteps` is enforced by the task; dollars and tokens by the runtime). */
  readonly budget?: Budget;
}

export interface PlanRunInput {
  readonly runId: string;
  readonly goal: string;
}

export interface PlanRunOutput {
  readonly plan: Plan;
  readonly at: number;
}

export interface ReplanRunInput {
  readonly runId: string;
  readonly goal: string;
  readonly planVersion: number;
  /** The failed steps the new steps should repair. */
  readonly failed: readonly string[];
  /** 1 for the first corrective replan. */
  readonly attempt: number;
}

export interface ReplanRunOutput {
  /** Validated steps to add; one may `replaces` each failed step. */
  readonly steps: readonly Step[];
  readonly at: number;
}

/** Commands a human (through the runtime) addresses to one run. */
export type TaskCommand =
  | { readonly type: 'plan.approved'; readonly by?: string; readonly note?: string; readonly at: number }
  | { readonly type: 'plan.rejected'; readonly by?: string; readonly reason: string; readonly at: number }
  | { readonly type: 'run.cancel'; readonly by?: string; readonly reason?: string; readonly at: number }
  | {
      readonly type: 'budget.exhausted';
      readonly limit?: BudgetLimit;
      readonly detail: string;
      readonly at: number;
    }
  /** New limits (merged over the old ones); a paused run continues under them. */
  | { readonly type: 'budget.extended'; readonly budget?: Budget; readonly by?: string; readonly at: number }
  | { readonly type: 'step.command'; readonly stepId: string; readonly command: StepCommand };

/** What the runtime sends a task through the supervisor: a human's command, or the restore nudge. */
export type RunCommand =
  | TaskCommand
  /** Sent after a restore: a running task starts the steps its rebuilt ready queue holds. */
  | { readonly type: 'run.resumed'; readonly at: number };

export type TaskEvent = RunCommand | StepNotice | { readonly type: 'run.admitted'; readonly at: number };

// ---------------------------------------------------------------------------------------
// Supervisor actor

export type SupervisorEvent =
  | { readonly type: 'run.create'; readonly runId: string; readonly input: TaskInput; readonly at: number }
  | {
      readonly type: 'run.adopt';
      readonly runId: string;
      /** A persisted task snapshot (XState's format, children included). */
      readonly snapshot: unknown;
      readonly phase: RunPhase;
      readonly at: number;
    }
  | { readonly type: 'run.command'; readonly runId: string; readonly command: RunCommand }
  /** Another process took the run's lease over: stop driving it (its state stays stored). */
  | { readonly type: 'run.release'; readonly runId: string };
