/**
 * The console's calls to its server: JSON with the token in an Authorization header (the
 * event stream, which cannot send headers, carries it in its URL).
 */
import type { ActionDescription } from '../../model/action-description.js';
import type { TaskvisorEvent } from '../../model/events.js';
import type { PendingApproval, PendingConfirmation, PendingRequest } from '../../model/pending.js';
import type { HumanWait } from '../../model/waiting.js';
import type { RunView } from '../../model/views.js';

export type { ActionDescription, RunView, TaskvisorEvent };

export interface RunStatus {
  readonly driver: 'live' | 'orphaned' | 'ended';
  readonly pid?: number;
  readonly host?: string;
  readonly waitingFor: HumanWait[];
  readonly pendingCommands: string[];
}

export interface RunRow {
  readonly view: RunView;
  readonly status: RunStatus;
}

export interface RunDetail {
  readonly view: RunView;
  readonly status: RunStatus;
  readonly storedCommands: ReadonlyArray<{ kind: string; stepId?: string; by?: string; storedAt: number }>;
  readonly pending: {
    readonly approvals: PendingApproval[];
    readonly confirmations: PendingConfirmation[];
    readonly requests: PendingRequest[];
  };
}

export interface Attempt {
  readonly stepId: string;
  readonly attempt: number;
  readonly status: string;
  readonly startedAt: number;
  readonly endedAt?: number;
  readonly output?: unknown;
  readonly error?: { readonly message: string; readonly code?: string };
}

export interface Trace {
  readonly events: TaskvisorEvent[];
  readonly attempts: Attempt[];
  readonly artifacts: ReadonlyArray<{
    stepId?: string;
    kind: string;
    name: string;
    body: unknown;
    at: number;
  }>;
  readonly workers: ReadonlyArray<{
    stepId: string;
    label: string;
    model: string;
    state: string;
    text?: string;
    error?: { message: string };
    attempts: readonly unknown[];
  }>;
}

export interface CommandResult {
  readonly ok: boolean;
  readonly pending: boolean;
  readonly message: string;
}

export const token =
  document.querySelector<HTMLMetaElement>('meta[name="taskvisor-token"]')?.content ??
  new URLSearchParams(location.search).get('token') ??
  '';

async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(path, {
    ...init,
    headers: { ...(init.headers ?? {}), authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  const data: unknown = text === '' ? undefined : JSON.parse(text);
  if (!response.ok) {
    const message = (data as { error?: { message?: string } } | undefined)?.error?.message;
    throw new Error(message ?? `${response.status} ${response.statusText}`);
  }
  return data as T;
}

export function get<T>(path: string): Promise<T> {
  return call<T>(path);
}

export function post(path: string, body: Record<string, unknown> = {}): Promise<CommandResult> {
  return call<CommandResult>(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export function eventStream(): EventSource {
  return new EventSource(`/api/events?token=${encodeURIComponent(token)}`);
}

export const runPath = (runId: string) => `/api/runs/${encodeURIComponent(runId)}`;
