/**
 * taskvisor: a durable, inspectable supervisor for AI-agent work.
 * Everything public is exported here, by name.
 */

export type * from '../machines/protocol.js';
export { type StepContext, stepMachine } from '../machines/step.machine.js';
export {
  type SupervisorContext,
  type SupervisorInput,
  supervisorMachine,
} from '../machines/supervisor.machine.js';
export { type StepCounts, type TaskContext, taskMachine } from '../machines/task.machine.js';
export {
  createSupervisor,
  type Pending,
  type PendingApproval,
  type PendingConfirmation,
  type PendingRequest,
  type RunTrace,
  type StartOptions,
  type Supervisor,
  type SupervisorOptions,
} from './supervisor.js';
export type { RunHandle } from './runtime/runtime.js';
export type { ActionContext, ActionFunction, Question } from './runtime/executor.js';
export { type Clock, ManualClock, sleep, systemClock } from './clock.js';
export { isTaskvisorError, TaskvisorError, type TaskvisorErrorCode } from './errors.js';
export {
  type Answer,
  AnswerSchema,
  type EventOf,
  type StepOutline,
  type TaskvisorEvent,
  TaskvisorEventSchema,
  type TaskvisorEventType,
} from './model/events.js';
export {
  resultOf,
  type RunResult,
  RunResultSchema,
  type RunView,
  RunViewSchema,
  type StepView,
  StepViewSchema,
  type Usage,
  UsageSchema,
} from './model/views.js';
export {
  DEFAULT_DB_PATH,
  openSqliteStore,
  SqliteStore,
  type SqliteStoreOptions,
} from './store/sqlite-store.js';
export type {
  ActorRow,
  ArtifactRow,
  AttemptRow,
  Batch,
  CommandRow,
  CommitResult,
  Lease,
  LeaseClaim,
  RequestRow,
  RunFilter,
  RunRow,
  Store,
} from './store/store.js';
export {
  type Action,
  ActionSchema,
  BUILTIN_ACTION_KINDS,
  type BuiltinAction,
  type BuiltinActionKind,
  type CustomAction,
  defaultTier,
  type FanoutAction,
  FanoutActionSchema,
  type FanoutTarget,
  type ImplementAction,
  ImplementActionSchema,
  type NoteAction,
  NoteActionSchema,
  type NotifyAction,
  NotifyActionSchema,
  type ReduceMode,
  ReduceModeSchema,
  type ResearchAction,
  ResearchActionSchema,
  type ReviewAction,
  ReviewActionSchema,
  type ShellAction,
  ShellActionSchema,
} from './model/action.js';
export {
  dependentsIndex,
  findCycle,
  type GraphNode,
  readySteps,
  topologicalOrder,
  transitiveDependencies,
  transitiveDependents,
} from './model/graph.js';
export { type Json, JsonSchema } from './model/json.js';
export { knownKinds, type PlanContext, parsePlan } from './model/parse-plan.js';
export {
  isIdempotentStep,
  type Plan,
  type PlanInput,
  PlanSchema,
  type Retry,
  RetrySchema,
  type Step,
  type StepInput,
  StepSchema,
} from './model/plan.js';
export { type SpliceOptions, type SpliceResult, spliceSteps } from './model/splice.js';
export {
  isSettledStepState,
  isTerminalPhase,
  type RunPhase,
  RunPhaseSchema,
  type StepState,
  StepStateSchema,
} from './model/states.js';
export { interpolate, type TemplateReference, templateReferences } from './model/templates.js';
export { DEFAULT_CONFIRM_TIERS, type Tier, TierSchema } from './model/tier.js';
export { toMermaid, toStudioConfig } from './viz/state-chart.js';
