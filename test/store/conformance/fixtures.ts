/**
 * What the store conformance specs share: a backend initializer, claims, plans, and
 * builders for batches. Everything speaks the store ports only.
 */
import { afterEach, beforeEach } from 'vitest';
import { chainEntries, EMPTY_HEAD, sha256 } from '../../../src/audit/hash-chain.js';
import type { UnsequencedEvent } from '../../../src/model/events.js';
import type { Json } from '../../../src/model/json.js';
import { parsePlan } from '../../../src/model/parse-plan.js';
import type { Plan } from '../../../src/model/plan.js';
import type { RunPhase } from '../../../src/model/states.js';
import type {
  AuditEntry,
  AuditHead,
  ChainedAuditEntry,
  Lease,
  LeaseClaim,
  RunRow,
} from '../../../src/store/rows.js';
import type { Batch, Store } from '../../../src/store/store.js';

/**
 * How a spec gets a backend: `open` makes a fresh, empty store; `connect`, when the
 * backend has one, opens a second connection (another writer) to the store `open` made
 * last.
 */
export interface StoreInit {
  readonly name: string;
  readonly open: () => Promise<Store>;
  readonly connect?: () => Promise<Store>;
}

export const ALICE: LeaseClaim = { owner: 'host-a:100:alice', host: 'host-a', pid: 100 };
export const BOB: LeaseClaim = { owner: 'host-a:200:bob', host: 'host-a', pid: 200 };
export const TTL = 30_000;

export const PLAN_V1: Plan = parsePlan({
  goal: 'first',
  steps: [
    { id: 'a', action: { kind: 'note', output: 1 } },
    { id: 'b', dependsOn: ['a'], action: { kind: 'note', output: 2 } },
  ],
});
export const PLAN_V2: Plan = parsePlan({
  goal: 'second',
  steps: [...PLAN_V1.steps, { id: 'c', dependsOn: ['b'], action: { kind: 'note', output: 3 } }],
});

type Parts = Partial<Omit<Batch, 'fences' | 'events'>> & {
  fences?: Record<string, number>;
  events?: readonly UnsequencedEvent[];
};

/** A batch with nothing in it but what `parts` says (events without outputs by reference). */
export function batch(parts: Parts = {}): Batch {
  const { fences, events, ...rest } = parts;
  return {
    runs: [],
    plans: [],
    actors: [],
    outputs: [],
    attempts: [],
    requests: [],
    artifacts: [],
    commandsApplied: [],
    audit: [],
    episodes: [],
    ...rest,
    events: (events ?? []).map((event) => ({ event })),
    fences: new Map(Object.entries(fences ?? {})),
  };
}

export function runRow(id: string, createdAt: number, phase: RunPhase = 'queued'): Omit<RunRow, 'lease'> {
  return { id, goal: `goal of ${id}`, phase, createdAt, updatedAt: createdAt, planVersion: 1 };
}

export function lease(claim: LeaseClaim, expiresAt: number, fence = 1): Lease {
  return { ...claim, expiresAt, fence };
}

export function logEvent(runId: string, message: string, at = 1): UnsequencedEvent {
  return { type: 'step.log', at, runId, stepId: 'a', attempt: 1, message };
}

export function createdEvent(runId: string, at = 1): UnsequencedEvent {
  return { type: 'run.created', at, runId, goal: `goal of ${runId}`, steps: [], requireApproval: false };
}

/** The batch that creates a run held by `claim` (fence 1) with its first plan and event. */
export function createRun(
  id: string,
  options: { createdAt?: number; claim?: LeaseClaim; phase?: RunPhase } = {},
): Batch {
  const createdAt = options.createdAt ?? 1000;
  return batch({
    runs: [
      {
        type: 'insert',
        row: runRow(id, createdAt, options.phase),
        lease: lease(options.claim ?? ALICE, createdAt + TTL),
      },
    ],
    plans: [{ runId: id, version: 1, plan: PLAN_V1 }],
    events: [createdEvent(id, createdAt)],
    fences: { [id]: 1 },
  });
}

/** An output as a batch stores it, and its reference. */
export function output(runId: string, value: Json): { ref: string; row: Batch['outputs'][number] } {
  const json = JSON.stringify(value);
  const ref = sha256(json);
  return { ref, row: { runId, ref, json } };
}

/** Audit entries of one run chained after `head` (as the runtime does before a commit). */
export function chained(
  head: AuditHead,
  runId: string,
  actions: readonly string[],
  key?: string,
): { rows: ChainedAuditEntry[]; head: AuditHead } {
  const entries: AuditEntry[] = actions.map((action, index) => ({
    at: 10 + index,
    runId,
    action,
    details: { index },
  }));
  return chainEntries(head, entries, key);
}

export { EMPTY_HEAD };

/** A fresh store before each test of the block, closed (with any second connection) after it. */
export function useStore(init: StoreInit): {
  readonly store: Store;
  /** A second connection to the same store (when the backend has one). */
  connect(): Promise<Store>;
} {
  let store: Store | undefined;
  const others: Store[] = [];
  beforeEach(async () => {
    store = await init.open();
  });
  afterEach(async () => {
    for (const other of others.splice(0)) await other.close();
    await store?.close();
  });
  return {
    get store() {
      return store!;
    },
    async connect() {
      if (!init.connect) throw new Error(`${init.name} has no second connection`);
      const other = await init.connect();
      others.push(other);
      return other;
    },
  };
}
