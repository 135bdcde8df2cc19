import { z } from 'zod';
import { RUN_PHASES } from './run-phases.js';

/** Phases of a run (the task actor), exactly as API.md lists them. */
export const RunPhaseSchema = z.enum(RUN_PHASES);
export type RunPhase = z.infer<typeof RunPhaseSchema>;

/** States of a step (the step actor), exactly as API.md lists them. */
export const StepStateSchema = z.enum([
  'pending',
  'awaitingConfirmation',
  'running',
  'awaitingInput',
  'retrying',
  'interrupted',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
]);
export type StepState = z.infer<typeof StepStateSchema>;

/** States of a fan-out worker (the worker actor), in lifecycle order. */
export const WorkerStateSchema = z.enum([
  'queued',
  'running',
  'interrupted',
  'completed',
  'failed',
  'cancelled',
]);
export type WorkerState = z.infer<typeof WorkerStateSchema>;

export const TERMINAL_PHASES: ReadonlySet<RunPhase> = new Set(['completed', 'failed', 'cancelled']);

/** A settled step no longer holds a run slot; only a human `retry` (failed, cancelled) revives it. */
export const SETTLED_STEP_STATES: ReadonlySet<StepState> = new Set([
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
]);

export function isTerminalPhase(phase: RunPhase): boolean {
  return TERMINAL_PHASES.has(phase);
}

export function isSettledStepState(state: StepState): boolean {
  return SETTLED_STEP_STATES.has(state);
}

/** The step states that are not settled: pending, waiting or working. */
export const OPEN_STEP_STATES: ReadonlySet<StepState> = new Set(
  StepStateSchema.options.filter((state) => !SETTLED_STEP_STATES.has(state)),
);
