/**
 * What waits for a human, as `pending()` returns it: plans and budget pauses to decide,
 * steps to confirm (with what they will run), questions to answer.
 */
import type { ActionDescription } from './action-description.js';
import type { StepOutline } from './events.js';
import type { ReplanDiff } from './replan-diff.js';
import type { Tier } from './tier.js';

export interface PendingApproval {
  readonly runId: string;
  /** `plan`: approvePlan / rejectPlan; `budget`: extendBudget / cancel. */
  readonly kind: 'plan' | 'budget';
  readonly goal: string;
  readonly reason?: string;
  readonly steps: readonly StepOutline[];
  /** A replan waiting for approval (`approveReplans`): the steps it would add. */
  readonly proposal?: readonly StepOutline[];
  /** With `proposal`: the replan as a diff against the plan (added, replaced, rewired). */
  readonly diff?: ReplanDiff;
  /** The plan as a human reads it: numbered steps, what each runs, dependencies, confirmation markers. */
  readonly summary: string;
}

export interface PendingConfirmation {
  readonly runId: string;
  readonly stepId: string;
  readonly title: string;
  readonly kind: string;
  readonly tier: Tier;
  readonly reason?: string;
  /** What the step will run, in full, with the outputs it reads filled in. */
  readonly action?: ActionDescription;
}

export interface PendingRequest {
  readonly requestId: string;
  readonly runId: string;
  readonly stepId: string;
  readonly question: string;
  readonly options?: ReadonlyArray<{ readonly id: string; readonly label: string }>;
  readonly openedAt: number;
}

export interface Pending {
  readonly approvals: PendingApproval[];
  readonly confirmations: PendingConfirmation[];
  readonly requests: PendingRequest[];
}
