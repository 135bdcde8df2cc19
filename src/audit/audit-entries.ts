/**
 * What the audit trail records, derived from what a commit writes: its events, the attempts
 * it journals and the artifacts it stores. The runtime's persistence derives the entries of
 * each flush and commits them in the same transaction as what they record, so the trail can
 * never disagree with the log; the store only stores them.
 *
 * To audit another event type, add a row to `AUDITED_EVENTS` (or to `AUDITED_ARTIFACTS` for
 * an artifact kind); every event type whose name starts with `budget.` is audited even
 * without a row, so budget decisions added later are never missed.
 */
import type { UnsequencedEvent } from '../model/events.js';
import type { Json } from '../model/json.js';
import type { ArtifactRow, AttemptRow, AuditEntry } from '../store/rows.js';

/** What an audited event says: the entry without the fields every entry takes from the event. */
type Described = Omit<AuditEntry, 'at' | 'runId' | 'stepId'> & { readonly stepId?: string };

type EventAuditor = (event: Readonly<Record<string, unknown>>) => Described | undefined;

/** `details` without the undefined members (they cannot be hashed or stored). */
function compact(details: Record<string, unknown>): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(details)) if (value !== undefined) out[key] = value as Json;
  return out;
}

function by(event: Readonly<Record<string, unknown>>): { by?: string } {
  return typeof event.by === 'string' ? { by: event.by } : {};
}

const STEP_TRANSITIONS: Readonly<Record<string, string>> = {
  running: 'step.started',
  succeeded: 'step.succeeded',
  failed: 'step.failed',
  cancelled: 'step.cancelled',
  skipped: 'step.skipped',
  retrying: 'step.retrying',
  interrupted: 'step.interrupted',
};

const RUN_TRANSITIONS: Readonly<Record<string, string>> = {
  running: 'run.running',
  completed: 'run.completed',
  failed: 'run.failed',
  cancelled: 'run.cancelled',
  paused: 'run.paused',
};

/** What a plan, step or budget gate's opening is audited as. */
const APPROVAL_REQUESTED: Readonly<Record<string, string>> = {
  plan: 'plan.approvalRequested',
  step: 'step.confirmationRequested',
  budget: 'budget.approvalRequested',
};

/** What a gate's decision is audited as: [approved, not approved]. */
const APPROVAL_RESOLVED: Readonly<Record<string, readonly [string, string]>> = {
  plan: ['plan.approved', 'plan.rejected'],
  step: ['step.confirmed', 'step.denied'],
  budget: ['budget.extended', 'budget.declined'],
};

const WORKER_ENDS: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled', 'interrupted']);

const outlineIds = (steps: unknown): Json =>
  Array.isArray(steps) ? steps.map((step) => String((step as { id?: unknown }).id)) : [];

/** Event type → what the audit trail records for it (undefined: nothing). */
export const AUDITED_EVENTS: Readonly<Record<string, EventAuditor>> = {
  'run.created': (event) => ({
    action: 'run.created',
    details: compact({
      goal: event.goal,
      steps: outlineIds(event.steps),
      requireApproval: event.requireApproval,
    }),
  }),
  'plan.created': (event) => ({ action: 'plan.created', details: { steps: outlineIds(event.steps) } }),
  'approval.requested': (event) => ({
    action: APPROVAL_REQUESTED[String(event.kind)] ?? `${String(event.kind)}.approvalRequested`,
    details: compact({ reason: event.reason }),
  }),
  'approval.resolved': (event) => {
    const [approved, rejected] = APPROVAL_RESOLVED[String(event.kind)] ?? [
      'approval.granted',
      'approval.refused',
    ];
    return {
      action: event.approved ? approved : rejected,
      ...by(event),
      details: compact({ decision: event.decision, reason: event.reason, budget: event.budget }),
    };
  },
  'step.transition': (event) => {
    const action = STEP_TRANSITIONS[String(event.to)];
    // Back from awaitingInput is the same attempt going on, not a start.
    if (!action || (event.to === 'running' && event.from === 'awaitingInput')) return undefined;
    return {
      action,
      details: compact({
        from: event.from,
        attempt: event.attempt,
        reason: event.reason,
        error: event.error,
      }),
    };
  },
  'run.transition': (event) => {
    const action = RUN_TRANSITIONS[String(event.to)];
    if (!action) return undefined;
    return { action, details: compact({ from: event.from, reason: event.reason }) };
  },
  'request.opened': (event) => ({
    action: 'question.asked',
    details: compact({
      requestId: event.requestId,
      key: event.key,
      question: event.question,
      options: event.options,
    }),
  }),
  'request.answered': (event) => ({
    action: 'question.answered',
    ...by(event),
    details: compact({ requestId: event.requestId, answer: event.answer }),
  }),
  'control.applied': (event) => ({
    action: `control.${String(event.action)}`,
    ...by(event),
    details: compact({ action: event.action }),
  }),
  'replan.applied': (event) => ({
    action: 'replan.applied',
    details: compact({ attempt: event.attempt, added: event.added, replaced: event.replaced }),
  }),
  // A fan-out worker's end (its snapshot is left out: the event log has it).
  'worker.transition': (event) =>
    WORKER_ENDS.has(String(event.to))
      ? {
          action: `worker.${String(event.to)}`,
          details: compact({
            label: event.label,
            model: event.model,
            attempt: event.attempt,
            error: event.error,
          }),
        }
      : undefined,
  'fanout.reduced': (event) => ({
    action: 'fanout.reduced',
    details: compact({ mode: event.mode, model: event.model }),
  }),
  'budget.exceeded': (event) => ({
    action: 'budget.exceeded',
    details: compact({ limit: event.limit, detail: event.detail }),
  }),
};

/** Any `budget.*` event without a row of its own: its fields, as they are. */
const auditBudgetEvent: EventAuditor = (event) => {
  const { type, at: _at, runId: _runId, stepId: _stepId, seq: _seq, by: _by, ...rest } = event;
  return { action: String(type), ...by(event), details: compact(rest) };
};

type ArtifactAuditor = (
  artifact: Omit<ArtifactRow, 'id'>,
  body: Readonly<Record<string, unknown>>,
) => Described;

/** Artifact kind → what the audit trail records for it; other kinds get `artifact.recorded`. */
export const AUDITED_ARTIFACTS: Readonly<Record<string, ArtifactAuditor>> = {
  // Written by the shell action for every run of a command: the facts, not the output.
  shell: (_artifact, body) => ({
    action: 'shell.exited',
    details: compact({
      command: body.command,
      binary: body.binary,
      args: body.args,
      cwd: body.cwd,
      exitCode: body.exitCode,
      signal: body.signal,
      outcome: body.outcome,
      durationMs: body.durationMs,
      isolation: body.isolation,
    }),
  }),
  // Written when a command ran without the jail because it could not be had (isolation 'auto').
  sandbox: (_artifact, body) => ({
    action: 'sandbox.unjailed',
    details: compact({ command: body.command, isolation: body.isolation, reason: body.reason }),
  }),
  notification: (artifact, body) => ({
    action: body.delivered === false ? 'notify.failed' : 'notify.delivered',
    details: compact({
      channel: body.channel ?? artifact.name,
      attempts: body.attempts,
      status: body.status,
      error: body.error,
    }),
  }),
  delegation: (artifact, body) => ({
    action: body.outcome === 'succeeded' ? 'agent.succeeded' : 'agent.failed',
    details: compact({
      agent: body.agent ?? artifact.name,
      agentKind: body.agentKind,
      round: body.round,
      durationMs: body.durationMs,
      error: body.error,
    }),
  }),
};

/** Attempt status → audited action (a `started` row is the intent, audited as `step.started`). */
const ATTEMPT_ACTIONS: Readonly<Partial<Record<AttemptRow['status'], string>>> = {
  succeeded: 'attempt.succeeded',
  failed: 'attempt.failed',
  aborted: 'attempt.aborted',
};

/** The parts of a batch that are audited (only the runs whose writes landed). */
export interface AuditedWrites {
  readonly events: readonly UnsequencedEvent[];
  /** Attempt outcomes; a succeeded one names its output by `outputRef` (its SHA-256). */
  readonly attempts: ReadonlyArray<Omit<AttemptRow, 'output'>>;
  readonly artifacts: ReadonlyArray<Omit<ArtifactRow, 'id'>>;
}

/**
 * The audit entries one commit produces, in causal order: the events in their order, with
 * the artifacts and attempt outcomes of a step placed just before the transition that ends
 * its attempt (the rest, whose transition commits later, at the end).
 *
 * @example
 * ```ts
 * auditEntriesOf({ events: [{ type: 'approval.resolved', kind: 'plan', approved: true, decision: 'approve', by: 'ann', runId: 'r', at: 1 }], attempts: [], artifacts: [] });
 * // [{ at: 1, runId: 'r', action: 'plan.approved', by: 'ann', details: { decision: 'approve' } }]
 * ```
 */
export function auditEntriesOf(writes: AuditedWrites): AuditEntry[] {
  // What an attempt produced, by step, until the transition that ends the attempt.
  const produced = new Map<string, AuditEntry[]>();
  const hold = (entry: AuditEntry) => {
    const key = `${entry.runId}\u0000${entry.stepId ?? ''}`;
    const list = produced.get(key) ?? [];
    list.push(entry);
    produced.set(key, list);
  };
  for (const artifact of writes.artifacts) {
    const body =
      artifact.body !== null && typeof artifact.body === 'object' && !Array.isArray(artifact.body)
        ? (artifact.body as Record<string, unknown>)
        : {};
    const auditor = AUDITED_ARTIFACTS[artifact.kind];
    const described: Described = auditor
      ? auditor(artifact, body)
      : { action: 'artifact.recorded', details: { kind: artifact.kind, name: artifact.name } };
    hold(entry(artifact.at, artifact.runId, artifact.stepId, described));
  }
  for (const attempt of writes.attempts) {
    const action = ATTEMPT_ACTIONS[attempt.status];
    if (!action) continue;
    hold(
      entry(attempt.endedAt ?? attempt.startedAt, attempt.runId, attempt.stepId, {
        action,
        details: compact({
          attempt: attempt.attempt,
          idempotencyKey: attempt.idempotencyKey,
          durationMs: attempt.endedAt === undefined ? undefined : attempt.endedAt - attempt.startedAt,
          output: attempt.outputRef,
          error: attempt.error
            ? compact({ code: attempt.error.code, message: attempt.error.message })
            : undefined,
        }),
      }),
    );
  }

  const entries: AuditEntry[] = [];
  for (const event of writes.events) {
    const fields = event as unknown as Readonly<Record<string, unknown>>;
    const stepId = typeof fields.stepId === 'string' ? fields.stepId : undefined;
    if (event.type === 'step.transition' && (event.from === 'running' || event.from === 'awaitingInput')) {
      const key = `${event.runId}\u0000${stepId ?? ''}`;
      entries.push(...(produced.get(key) ?? []));
      produced.delete(key);
    }
    const auditor =
      AUDITED_EVENTS[event.type] ?? (event.type.startsWith('budget.') ? auditBudgetEvent : undefined);
    const described = auditor?.(fields);
    if (described) entries.push(entry(event.at, event.runId, stepId, described));
  }
  for (const rest of produced.values()) entries.push(...rest);
  return entries;
}

function entry(at: number, runId: string, stepId: string | undefined, described: Described): AuditEntry {
  const step = described.stepId ?? stepId;
  return {
    at,
    runId,
    ...(step === undefined ? {} : { stepId: step }),
    action: described.action,
    ...(described.by === undefined ? {} : { by: described.by }),
    details: described.details,
  };
}
