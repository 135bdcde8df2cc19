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
export { MACHINE_VERSION } from '../machines/version.js';
export type { StoreFault } from './runtime/store-faults.js';
export {
  createSupervisor,
  DEFAULT_LIST_LIMIT,
  type Health,
  type ListFilter,
  type Pending,
  type PendingApproval,
  type PendingConfirmation,
  type PendingRequest,
  type PruneOptions,
  type RunTrace,
  type StartOptions,
  type Supervisor,
  type SupervisorOptions,
} from './supervisor.js';
export type { DriveMode, RunHandle } from './runtime/runtime.js';
export { parseDuration } from './model/duration.js';
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
export { DEFAULT_DB_PATH, openSqliteStore, QUICK_CHECK_MAX_BYTES } from './store/sqlite-open.js';
export { SqliteStore, type SqliteStoreOptions } from './store/sqlite-store.js';
export { openStore, type OpenStoreOptions } from './store/open-store.js';
export { isPostgresUrl } from './store/pg-url.js';
export type { PgStore, PgStoreOptions } from './store/pg-store.js';
export type {
  ActorRow,
  ArtifactRow,
  AttemptRow,
  AttemptStatus,
  AuditAnchor,
  AuditEntry,
  AuditHead,
  AuditRow,
  ChainedAuditEntry,
  CommandRow,
  Episode,
  EpisodeEntry,
  EpisodeKind,
  Lease,
  LeaseClaim,
  OutputRow,
  RequestRow,
  RunRow,
} from './store/rows.js';
export type {
  AuditLog,
  Batch,
  BatchEvent,
  CommandInbox,
  CommitResult,
  EventLog,
  LeaseStore,
  LoadedRun,
  PruneQuery,
  RecordStore,
  RunFilter,
  RunStore,
  Store,
  StoreHealth,
  StoreSignal,
  StoreSignals,
  StoreState,
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
  type ApproveReplans,
  isIdempotentStep,
  type Plan,
  type PlanInput,
  PlanSchema,
  type Retry,
  replanNeedsApproval,
  RetrySchema,
  type Step,
  type StepInput,
  StepSchema,
} from './model/plan.js';
export { type SpliceOptions, type SpliceResult, spliceSteps } from './model/splice.js';
export {
  type ActionDescription,
  ActionDescriptionSchema,
  type ActionDetail,
  describeAction,
  resolveDescription,
} from './model/action-description.js';
export { type ReplanDiff, ReplanDiffSchema, replanDiff } from './model/replan-diff.js';
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
export {
  type AgentContext,
  type AgentFunction,
  type AgentOption,
  AgentOptionSchema,
  type AgentResult,
  type AgentUsage,
  type CliAgent,
  type CliAgentRun,
  type FunctionAgent,
  type LlmAgent,
} from './actions/agents.js';
export type {
  ChannelFunction,
  ChannelOption,
  ChannelsOption,
  DeliveryReceipt,
  NotifyMessage,
} from './actions/channels.js';
export {
  type EscalationOption,
  EscalationOptionSchema,
  type EscalationPolicy,
} from './actions/escalation.js';
export type { DelegationAttempt, ImplementOutput } from './actions/implement.js';
export type { NotifyOutput } from './actions/notify.js';
export type { ShellOutput } from './actions/shell.js';
export { AUDITED_EVENTS } from './audit/audit-entries.js';
export { auditHash, chainEntries, EMPTY_HEAD, GENESIS_HASH } from './audit/hash-chain.js';
export { type AuditVerification, verifyRunChain } from './audit/verify-audit.js';
export type { DelegationRecord } from './memory/episodes.js';
export {
  createEpisodicMemory,
  type EpisodicMemory,
  relevantEpisodes,
  type SearchOptions,
} from './memory/episodic-memory.js';
export { isShellCommandAllowed, resolveAllowedBinary } from './sandbox/binary.js';
export { childEnv } from './sandbox/child-env.js';
export { confineCwd } from './sandbox/confine-cwd.js';
export { ENV_GADGET_PREFIXES, ENV_GADGETS, type EnvRefusal, envRefusal } from './sandbox/env-gadgets.js';
export { type Isolation, ISOLATIONS } from './sandbox/isolation-options.js';
export { type JailFeature, type JailSupport, probeJail } from './sandbox/jail-probe.js';
export { shellEnvPlanCheck, shellPlanCheck } from './sandbox/plan-check.js';
export {
  DEFAULT_TIMEOUTS_MS,
  type ResolvedSandbox,
  resolveSandbox,
  type SandboxOptions,
  timeoutFor,
} from './sandbox/policy.js';
export { runShell, type ShellSpec } from './sandbox/run-shell.js';
export type { ShellOutcome, ShellResult } from './sandbox/shell-outcome.js';
export {
  type ChatMessage,
  type ChatRequest,
  type ChatResult,
  type ChatTool,
  type ResponseFormat,
  type TokenUsage,
  type ToolCall,
} from './llm/chat.js';
export { createLlmClient, type LlmClient, type LlmClientOptions, type UsageReport } from './llm/client.js';
export { extractJson, firstJsonMatching, type JsonMatch } from './llm/json-extract.js';
export { type Cost, costOf, type Prices } from './llm/prices.js';
export { type Budget, type BudgetLimit, BudgetSchema } from './model/budget.js';
export type { LlmOptions, ModelOptions } from './planning/options.js';
export { capText, type StructuredOutput } from './planning/planner.js';
export { summarizePlan } from './planning/summary.js';
export type { RunModel } from './runtime/executor.js';
export { RESEARCH_SYSTEM_PROMPT, REVIEW_SYSTEM_PROMPT } from './actions/research.js';
export { fanoutStateFromEvents, fanoutStatesOf } from './actions/fanout.js';
export {
  type AttemptRecord,
  type FanoutState,
  type FanoutTotals,
  type WorkerResult,
  workerResults,
} from './fanout/fanout-state.js';
export {
  type AgentTargetSpec,
  type ModelTargetSpec,
  type TargetInput,
  type TargetSpec,
  type WorkerSlot,
  workerSlots,
} from './fanout/labels.js';
export type { AgentAttempt, FanoutAgent, StopIntent } from './fanout/call-model.js';
export { type MonitorView, monitorView, type WorkerView, workerViews } from './fanout/monitor.js';
export { type Candidate, type Reduction, reduceCandidates, verdictSchema } from './fanout/reduce.js';
export type { BestOfNVerdict, CompareVerdict, SummarizeVerdict, Verdict } from './fanout/verdict.js';
export { renderReductionMarkdown } from './fanout/render.js';
export {
  type FanoutDeps,
  type FanoutHandle,
  type FanoutResult,
  type FanoutSpec,
  runFanout,
  startFanout,
  type WorkerTransition,
} from './fanout/run-fanout.js';
export { fanoutFailure, fanoutOutput } from './fanout/step-output.js';
export { type WorkerContext, workerMachine, type WorkerState } from '../machines/worker.machine.js';
export { type WorkerSummary, WorkerSummarySchema } from './model/views.js';
export type { FanoutOptions } from './supervisor.js';
