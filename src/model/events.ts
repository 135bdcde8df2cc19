/**
 * `TaskvisorEvent`: what the bus carries and the event log stores. Every event has a
 * global, gapless `seq` (assigned when its transaction commits), the time it happened,
 * its run, and its step where it concerns one. A run's view is a fold of its events.
 */
import { z } from 'zod';
import { ActionDescriptionSchema } from './action-description.js';
import { BudgetSchema } from './budget.js';
import { JsonSchema } from './json.js';
import { RunPhaseSchema, StepStateSchema, WorkerStateSchema } from './states.js';
import { TierSchema } from './tier.js';

/** What the read model needs to know of a step's definition. */
export const StepOutlineSchema = z.object({
  id: z.string(),
  title: z.string(),
  kind: z.string(),
  tier: TierSchema,
  dependsOn: z.array(z.string()),
  /** A replanned step that takes the place of this failed one. */
  replaces: z.string().optional(),
  /** What the step's action does, in full (absent in events written before it was recorded). */
  action: ActionDescriptionSchema.optional(),
});
export type StepOutline = z.infer<typeof StepOutlineSchema>;

export const StepErrorViewSchema = z.object({
  message: z.string(),
  code: z.string().optional(),
});
export type StepErrorView = z.infer<typeof StepErrorViewSchema>;

const base = {
  seq: z.int().positive(),
  at: z.number(),
  runId: z.string(),
};
const stepBase = { ...base, stepId: z.string() };

export const RunCreatedEventSchema = z.object({
  ...base,
  type: z.literal('run.created'),
  goal: z.string(),
  steps: z.array(StepOutlineSchema),
  requireApproval: z.boolean(),
  metadata: z.record(z.string(), JsonSchema).optional(),
});

export const RunTransitionEventSchema = z.object({
  ...base,
  type: z.literal('run.transition'),
  from: RunPhaseSchema,
  to: RunPhaseSchema,
  reason: z.string().optional(),
});

export const StepTransitionEventSchema = z.object({
  ...stepBase,
  type: z.literal('step.transition'),
  from: StepStateSchema,
  to: StepStateSchema,
  attempt: z.int().min(0),
  reason: z.string().optional(),
  error: StepErrorViewSchema.optional(),
});

export const StepOutputEventSchema = z.object({
  ...stepBase,
  type: z.literal('step.output'),
  attempt: z.int().min(1),
  output: JsonSchema,
});

export const StepLogEventSchema = z.object({
  ...stepBase,
  type: z.literal('step.log'),
  attempt: z.int().min(0),
  message: z.string(),
  data: JsonSchema.optional(),
});

/** A plan waits for approval (`kind: 'plan'`), or a step for a human's confirmation. */
export const ApprovalRequestedEventSchema = z.object({
  ...base,
  type: z.literal('approval.requested'),
  /** `budget`: a paused run waits for `extendBudget` (or `cancel`). */
  kind: z.enum(['plan', 'step', 'budget']),
  stepId: z.string().optional(),
  reason: z.string(),
  /** A replan waiting for approval (`approveReplans`): the steps it would add. */
  proposal: z.array(StepOutlineSchema).optional(),
});

export const ApprovalResolvedEventSchema = z.object({
  ...base,
  type: z.literal('approval.resolved'),
  kind: z.enum(['plan', 'step', 'budget']),
  stepId: z.string().optional(),
  approved: z.boolean(),
  decision: z.enum(['approve', 'reject', 'rerun', 'skip', 'fail', 'deny', 'extend']),
  /** With `extend`: the new limits. */
  budget: BudgetSchema.optional(),
  by: z.string().optional(),
  reason: z.string().optional(),
});

export const RequestOpenedEventSchema = z.object({
  ...stepBase,
  type: z.literal('request.opened'),
  requestId: z.string(),
  key: z.string(),
  question: z.string(),
  options: z.array(z.object({ id: z.string(), label: z.string() })).optional(),
});

export const AnswerSchema = z.object({
  text: z.string().optional(),
  optionId: z.string().optional(),
  answers: z.record(z.string(), z.string()).optional(),
});
export type Answer = z.infer<typeof AnswerSchema>;

export const RequestAnsweredEventSchema = z.object({
  ...stepBase,
  type: z.literal('request.answered'),
  requestId: z.string(),
  answer: AnswerSchema,
  by: z.string().optional(),
});

export const ControlActionSchema = z.enum(['cancel', 'interrupt', 'retry', 'resume']);

export const ControlAppliedEventSchema = z.object({
  ...stepBase,
  type: z.literal('control.applied'),
  action: ControlActionSchema,
  /** A fan-out worker's label, when the control was for a worker of the step. */
  label: z.string().optional(),
  by: z.string().optional(),
});

/** A fan-out worker (an actor spawned by a `fanout` step) changed state. */
export const WorkerTransitionEventSchema = z.object({
  ...stepBase,
  type: z.literal('worker.transition'),
  label: z.string(),
  model: z.string(),
  /** `null` for a worker's first snapshot. */
  from: WorkerStateSchema.nullable(),
  to: WorkerStateSchema,
  attempt: z.int().min(0),
  reason: z.string().optional(),
  error: z.string().optional(),
  /** The worker actor's persisted snapshot: a resumed fan-out starts from the latest. */
  snapshot: JsonSchema,
});

/** A fan-out's reducer gave its verdict. */
export const FanoutReducedEventSchema = z.object({
  ...stepBase,
  type: z.literal('fanout.reduced'),
  mode: z.enum(['compare', 'summarize', 'best_of_n']),
  model: z.string(),
  /** The whole reduction (verdict, Markdown, calls, usage). */
  reduction: JsonSchema,
});

/** A run planned by the model has its steps (before approval, when approval is asked). */
export const PlanCreatedEventSchema = z.object({
  ...base,
  type: z.literal('plan.created'),
  steps: z.array(StepOutlineSchema),
});

export const ReplanAppliedEventSchema = z.object({
  ...base,
  type: z.literal('replan.applied'),
  attempt: z.int().min(1),
  added: z.array(z.string()),
  steps: z.array(StepOutlineSchema),
  replaced: z.array(z.object({ failed: z.string(), by: z.string() })),
  rewired: z.array(z.object({ stepId: z.string(), from: z.string(), to: z.string() })),
});

export const UsageRecordedEventSchema = z.object({
  ...base,
  type: z.literal('usage.recorded'),
  stepId: z.string().optional(),
  model: z.string(),
  inputTokens: z.int().min(0),
  outputTokens: z.int().min(0),
  costUsd: z.number().min(0),
  /** False when `prices` has no price for the model: its cost is unknown (counted as 0). */
  priced: z.boolean().optional(),
});

export const BudgetExceededEventSchema = z.object({
  ...base,
  type: z.literal('budget.exceeded'),
  limit: z.enum(['maxCostUsd', 'maxTokens', 'maxSteps']),
  detail: z.string(),
});

export const TaskvisorEventSchema = z.discriminatedUnion('type', [
  RunCreatedEventSchema,
  RunTransitionEventSchema,
  StepTransitionEventSchema,
  StepOutputEventSchema,
  StepLogEventSchema,
  ApprovalRequestedEventSchema,
  ApprovalResolvedEventSchema,
  RequestOpenedEventSchema,
  RequestAnsweredEventSchema,
  ControlAppliedEventSchema,
  PlanCreatedEventSchema,
  ReplanAppliedEventSchema,
  UsageRecordedEventSchema,
  BudgetExceededEventSchema,
  WorkerTransitionEventSchema,
  FanoutReducedEventSchema,
]);
export type TaskvisorEvent = z.infer<typeof TaskvisorEventSchema>;
export type TaskvisorEventType = TaskvisorEvent['type'];
export type EventOf<T extends TaskvisorEventType> = Extract<TaskvisorEvent, { type: T }>;

/** An event before the store gives it its `seq`. */
export type UnsequencedEvent = TaskvisorEvent extends infer E
  ? E extends TaskvisorEvent
    ? Omit<E, 'seq'>
    : never
  : never;
