/** PostgreSQL's records as the store ports' rows (JSON columns are text: kept byte for byte). */
import type { Json } from '../model/json.js';
import type { RunPhase } from '../model/states.js';
import type { ArtifactRow, AttemptRow, AuditRow, CommandRow, Episode, RequestRow, RunRow } from './rows.js';

export interface RunRecord {
  id: string;
  goal: string;
  phase: RunPhase;
  created_at: number;
  updated_at: number;
  plan_version: number;
  metadata: string | null;
  owner: string | null;
  owner_host: string | null;
  owner_pid: number | null;
  lease_expires_at: number | null;
  fence: number;
  audit_position: number;
  audit_hash: string;
}

type Record_ = Record<string, unknown>;

const parsed = <T>(text: unknown): T => JSON.parse(text as string) as T;
const present = (value: unknown): boolean => value !== null && value !== undefined;

export function toRunRow(record: RunRecord): RunRow {
  return {
    id: record.id,
    goal: record.goal,
    phase: record.phase,
    createdAt: record.created_at,
    updatedAt: record.updated_at,
    planVersion: record.plan_version,
    ...(record.metadata ? { metadata: parsed<Record<string, Json>>(record.metadata) } : {}),
    ...(record.owner
      ? {
          lease: {
            owner: record.owner,
            host: record.owner_host ?? '',
            pid: record.owner_pid ?? 0,
            expiresAt: record.lease_expires_at ?? 0,
            fence: record.fence,
          },
        }
      : {}),
  };
}

export function toAttemptRow(row: Record_): AttemptRow {
  return {
    runId: row.run_id as string,
    stepId: row.step_id as string,
    attempt: row.attempt as number,
    idempotencyKey: row.idempotency_key as string,
    status: row.status as AttemptRow['status'],
    startedAt: row.started_at as number,
    ...(present(row.ended_at) ? { endedAt: row.ended_at as number } : {}),
    ...(present(row.stored_output) ? { output: parsed<Json>(row.stored_output) } : {}),
    ...(present(row.output_ref) ? { outputRef: row.output_ref as string } : {}),
    ...(present(row.error) ? { error: parsed<NonNullable<AttemptRow['error']>>(row.error) } : {}),
  };
}

export function toRequestRow(row: Record_): RequestRow {
  return {
    id: row.id as string,
    runId: row.run_id as string,
    stepId: row.step_id as string,
    key: row.key as string,
    question: row.question as string,
    ...(present(row.options) ? { options: parsed<NonNullable<RequestRow['options']>>(row.options) } : {}),
    openedAt: row.opened_at as number,
    ...(present(row.closed_at) ? { closedAt: row.closed_at as number } : {}),
    ...(present(row.answered_at)
      ? {
          answer: parsed<Json>(row.answer),
          answeredAt: row.answered_at as number,
          ...(present(row.answered_by) ? { answeredBy: row.answered_by as string } : {}),
        }
      : {}),
  };
}

export function toCommandRow(row: Record_): CommandRow {
  return {
    id: row.id as number,
    runId: row.run_id as string,
    command: parsed<Json>(row.command),
    createdAt: row.created_at as number,
  };
}

export function toArtifactRow(row: Record_): ArtifactRow {
  return {
    id: row.id as number,
    runId: row.run_id as string,
    ...(present(row.step_id) ? { stepId: row.step_id as string } : {}),
    kind: row.kind as string,
    name: row.name as string,
    body: parsed<Json>(row.body),
    at: row.at as number,
  };
}

export function toAuditRow(row: Record_): AuditRow {
  let details: AuditRow['details'];
  try {
    const value = parsed<unknown>(row.details);
    details =
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? (value as AuditRow['details'])
        : { value: value as Json };
  } catch {
    // A row edited into invalid JSON still verifies (as changed) instead of throwing.
    details = { unparsable: row.details as string };
  }
  return {
    id: row.id as number,
    runId: row.run_id as string,
    position: row.position as number,
    at: row.at as number,
    ...(present(row.step_id) ? { stepId: row.step_id as string } : {}),
    action: row.action as string,
    ...(present(row.by) ? { by: row.by as string } : {}),
    details,
    prevHash: row.prev_hash as string,
    hash: row.hash as string,
    keyed: row.keyed === true,
  };
}

export function toEpisode(row: Record_): Episode {
  return {
    id: row.id as number,
    runId: row.run_id as string,
    ...(present(row.step_id) ? { stepId: row.step_id as string } : {}),
    kind: row.kind as Episode['kind'],
    title: row.title as string,
    text: row.body as string,
    at: row.at as number,
    ...(present(row.data) ? { data: parsed<Json>(row.data) } : {}),
    score: row.rank as number,
  };
}
