/**
 * `RunView` and `StepView`: what `get()`, `list()`, the CLI and UIs show. A view is a fold
 * of the run's events, so the same code builds it live (from the bus) and from the
 * database (from the event log), and the two always agree.
 */
import { z } from 'zod';
import { ActionDescriptionSchema } from './action-description.js';
import { type StepOutline, StepOutlineSchema, type TaskvisorEvent } from './events.js';
import { type Json, JsonSchema } from './json.js';
import {
  isTerminalPhase,
  type RunPhase,
  RunPhaseSchema,
  type StepState,
  StepStateSchema,
  WorkerStateSchema,
} from './states.js';
import { TierSchema } from './tier.js';

export const StepViewSchema = z.object({
  id: z.string(),
  title: z.string(),
  kind: z.string(),
  tier: TierSchema,
  state: StepStateSchema,
  attempt: z.int().min(0),
  dependsOn: z.array(z.string()),
  output: JsonSchema.optional(),
  error: z.string().optional(),
  reason: z.string().optional(),
  startedAt: z.number().optional(),
  endedAt: z.number().optional(),
  /** What the step's action does, in full (see `describeAction`). */
  action: ActionDescriptionSchema.optional(),
  /** A replaced failed step: the step that took its place. */
  replacedBy: z.string().optional(),
});
export type StepView = z.infer<typeof StepViewSchema>;

/** A fan-out worker as the run's view shows it (the full record is in `monitor()` and `trace()`). */
export const WorkerSummarySchema = z.object({
  stepId: z.string(),
  label: z.string(),
  model: z.string(),
  state: WorkerStateSchema,
  attempt: z.int().min(0),
  reason: z.string().optional(),
  error: z.string().optional(),
});
export type WorkerSummary = z.infer<typeof WorkerSummarySchema>;

export const UsageSchema = z.object({
  inputTokens: z.int().min(0),
  outputTokens: z.int().min(0),
  /** Dollars for the priced calls; see `unpriced`. */
  costUsd: z.number().min(0),
  /** Models called with no price in `prices`: their cost is unknown, not zero. */
  unpriced: z.array(z.string()).optional(),
});
export type Usage = z.infer<typeof UsageSchema>;

export const RunResultSchema = z.object({
  phase: RunPhaseSchema,
  outputs: z.record(z.string(), JsonSchema),
  usage: UsageSchema,
  error: z.string().optional(),
});
export type RunResult = z.infer<typeof RunResultSchema>;

export const RunViewSchema = z.object({
  id: z.string(),
  goal: z.string(),
  phase: RunPhaseSchema,
  steps: z.array(StepViewSchema),
  usage: UsageSchema,
  replans: z.int().min(0),
  createdAt: z.number(),
  updatedAt: z.number(),
  /** Why the run waits, is paused, or ended the way it did. */
  reason: z.string().optional(),
  metadata: z.record(z.string(), JsonSchema).optional(),
  /** A replan waiting for approval: the steps it would add. */
  proposal: z.array(StepOutlineSchema).optional(),
  /** Fan-out workers, in the order they were first seen (absent when the run has none). */
  workers: z.array(WorkerSummarySchema).optional(),
  /** Present once the run is completed, failed or cancelled. */
  result: RunResultSchema.optional(),
  /** The last event folded in. */
  seq: z.int().min(0),
});
export type RunView = z.infer<typeof RunViewSchema>;

const NO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };

function stepFromOutline(outline: StepOutline): StepView {
  return {
    id: outline.id,
    title: outline.title,
    kind: outline.kind,
    tier: outline.tier,
    state: 'pending',
    attempt: 0,
    dependsOn: [...outline.dependsOn],
    ...(outline.action ? { action: outline.action } : {}),
  };
}

/**
 * Folds one run's events into its view. Each event costs O(1): steps are kept in a map
 * and the view is materialised on demand.
 *
 * @example
 * ```ts
 * const projection = new RunProjection();
 * for (const event of events) projection.apply(event);
 * projection.view(); // RunView
 * ```
 */
export class RunProjection {
  private header?: Omit<RunView, 'steps' | 'result'>;
  private readonly steps = new Map<string, StepView>();
  private readonly workers = new Map<string, WorkerSummary>();
  private cached?: RunView;

  get runId(): string | undefined {
    return this.header?.id;
  }

  get phase(): RunPhase | undefined {
    return this.header?.phase;
  }

  get seq(): number {
    return this.header?.seq ?? 0;
  }

  step(stepId: string): StepView | undefined {
    return this.steps.get(stepId);
  }

  outputOf(stepId: string): Json | undefined {
    return this.steps.get(stepId)?.output;
  }

  /** Applies an event; returns false when it was already folded in (same or older seq). */
  apply(event: TaskvisorEvent): boolean {
    if (this.header && event.seq <= this.header.seq) return false;
    this.cached = undefined;
    if (event.type === 'run.created') {
      this.header = {
        id: event.runId,
        goal: event.goal,
        phase: 'queued',
        usage: NO_USAGE,
        replans: 0,
        createdAt: event.at,
        updatedAt: event.at,
        seq: event.seq,
        ...(event.metadata ? { metadata: event.metadata } : {}),
      };
      for (const outline of event.steps) this.steps.set(outline.id, stepFromOutline(outline));
      return true;
    }
    const header = this.header;
    if (!header) return false; // a run's first event is run.created
    header.seq = event.seq;
    header.updatedAt = event.at;
    switch (event.type) {
      case 'approval.requested':
        if (event.proposal)
          header.proposal = event.proposal.map((step) => ({ ...step, dependsOn: [...step.dependsOn] }));
        break;
      case 'run.transition':
        if (event.from === 'awaitingApproval') delete header.proposal;
        header.phase = event.to;
        if (event.reason === undefined) delete header.reason;
        else header.reason = event.reason;
        break;
      case 'plan.created':
        for (const outline of event.steps) this.steps.set(outline.id, stepFromOutline(outline));
        break;
      case 'replan.applied':
        header.replans = event.attempt;
        for (const outline of event.steps) this.steps.set(outline.id, stepFromOutline(outline));
        for (const { failed, by } of event.replaced) {
          const step = this.steps.get(failed);
          if (step) step.replacedBy = by;
        }
        for (const { stepId, from, to } of event.rewired) {
          const step = this.steps.get(stepId);
          if (step) step.dependsOn = step.dependsOn.map((id) => (id === from ? to : id));
        }
        break;
      case 'step.transition': {
        const step = this.steps.get(event.stepId);
        if (!step) break;
        step.state = event.to;
        step.attempt = event.attempt;
        if (event.to === 'running' && step.startedAt === undefined) step.startedAt = event.at;
        if (isSettled(event.to)) step.endedAt = event.at;
        else delete step.endedAt;
        if (event.reason === undefined) delete step.reason;
        else step.reason = event.reason;
        if (event.error === undefined) {
          if (event.to !== 'retrying') delete step.error;
        } else {
          step.error = event.error.message;
        }
        if (event.to !== 'succeeded' && event.from === 'succeeded') delete step.output;
        break;
      }
      case 'step.output': {
        const step = this.steps.get(event.stepId);
        if (step) step.output = event.output;
        break;
      }
      case 'worker.transition': {
        const worker: WorkerSummary = {
          stepId: event.stepId,
          label: event.label,
          model: event.model,
          state: event.to,
          attempt: event.attempt,
          ...(event.reason === undefined ? {} : { reason: event.reason }),
          ...(event.error === undefined ? {} : { error: event.error }),
        };
        this.workers.set(`${event.stepId}\u0000${event.label}`, worker);
        break;
      }
      case 'usage.recorded': {
        const unpriced = header.usage.unpriced ?? [];
        const more = event.priced === false && !unpriced.includes(event.model) ? [event.model] : [];
        header.usage = {
          inputTokens: header.usage.inputTokens + event.inputTokens,
          outputTokens: header.usage.outputTokens + event.outputTokens,
          costUsd: roundUsd(header.usage.costUsd + event.costUsd),
          ...(unpriced.length + more.length > 0 ? { unpriced: [...unpriced, ...more] } : {}),
        };
        break;
      }
      default:
        break;
    }
    return true;
  }

  /** The current view (a fresh object; the projection keeps folding). */
  view(): RunView {
    if (this.cached) return this.cached;
    const header = this.header;
    if (!header) throw new Error('RunProjection.view(): no run.created event was applied');
    const steps = [...this.steps.values()].map((step) => ({ ...step, dependsOn: [...step.dependsOn] }));
    const usage = {
      ...header.usage,
      ...(header.usage.unpriced ? { unpriced: [...header.usage.unpriced] } : {}),
    };
    const view: RunView = { ...header, usage, steps };
    if (this.workers.size > 0) view.workers = [...this.workers.values()].map((worker) => ({ ...worker }));
    if (isTerminalPhase(header.phase)) view.result = resultOf(view);
    this.cached = view;
    return view;
  }
}

function isSettled(state: StepState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'skipped' || state === 'cancelled';
}

function roundUsd(value: number): number {
  return Math.round(value * 1e9) / 1e9;
}

/** What `RunHandle.done` resolves with. */
export function resultOf(view: RunView): RunResult {
  const outputs: Record<string, Json> = {};
  for (const step of view.steps) {
    if (step.state === 'succeeded' && step.output !== undefined) outputs[step.id] = step.output;
  }
  const result: RunResult = { phase: view.phase, outputs, usage: { ...view.usage } };
  if (view.phase === 'failed' || view.phase === 'cancelled') {
    const failed = view.steps.filter((step) => step.state === 'failed' && step.replacedBy === undefined);
    const parts = failed.map((step) => `step ${step.id} failed${step.error ? `: ${step.error}` : ''}`);
    result.error = parts.length > 0 ? parts.join('; ') : (view.reason ?? view.phase);
  }
  return result;
}
