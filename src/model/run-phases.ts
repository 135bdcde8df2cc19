/**
 * The phases of a run, in API.md's order, as plain data (the console's page lists them
 * without loading zod); `RunPhaseSchema` is built from it.
 */
export const RUN_PHASES = [
  'queued',
  'planning',
  'awaitingApproval',
  'running',
  'replanning',
  'paused',
  'completed',
  'failed',
  'cancelled',
] as const;
