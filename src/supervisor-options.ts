/**
 * `createSupervisor`'s options: their types, their schema, and the check that names an
 * unknown or invalid option and the fix.
 */
import { z } from 'zod';
import { type BuiltinOptions, BuiltinOptionSchemas } from './actions/builtin-options.js';
import type { Clock } from './clock.js';
import { TaskvisorError } from './errors.js';
import { type LimitOptions, LimitsSchema } from './model/limits.js';
import { didYouMean } from './model/suggest.js';
import { type Tier, TierSchema } from './model/tier.js';
import { type ModelOptions, ModelOptionSchemas } from './planning/options.js';
import type { ActionFunction } from './runtime/executor.js';
import type { InspectObserver } from './runtime/runtime.js';
import type { Store } from './store/store.js';

export interface SupervisorOptions extends BuiltinOptions, ModelOptions {
  /**
   * SQLite file (created with its directory) or `':memory:'`, or a `Store` instance;
   * default `.taskvisor/taskvisor.db`.
   */
  readonly db?: string | Store;
  /** Another storage backend instead of `db`. */
  readonly store?: Store;
  /**
   * Keyed audit chains: each row is an HMAC-SHA-256 under `key` (default
   * `TASKVISOR_AUDIT_KEY`), a secret kept outside the database, so a row forged without it
   * fails `verifyAudit()`. A database keyed once must always be opened with its key.
   */
  readonly audit?: { readonly key?: string };
  /** `normal` (default): WAL + synchronous=NORMAL; `full`: an fsync per commit. */
  readonly durability?: 'normal' | 'full';
  /** Custom step kinds: `{ myKind: async (input, ctx) => ({ output }) }`. */
  readonly actions?: Readonly<Record<string, ActionFunction>>;
  /** Tiers whose steps wait for a human before they run (default destructive, external). */
  readonly confirmTiers?: readonly Tier[];
  readonly concurrency?: { readonly runs?: number; readonly stepsPerRun?: number };
  /** Restore unfinished runs on open (default true; `drive: 'own'` only). */
  readonly resume?: boolean;
  /**
   * Which runs this process drives. `own` (default): the runs it starts, plus unfinished
   * runs nobody drives when it opens (and as their drivers go away). `all`: a worker — it
   * also claims every run that no live process drives, as they appear, up to
   * `concurrency.runs` at a time. `none`: a client — it starts runs and sends commands,
   * drives nothing, and its `RunHandle` follows a run while workers drive it.
   */
  readonly drive?: 'own' | 'all' | 'none';
  /** An XState inspection observer (e.g. `@statelyai/inspect`'s `inspector.inspect`). */
  readonly inspect?: InspectObserver;
  /** Time for deadlines, backoffs and leases (tests pass a `ManualClock`). */
  readonly clock?: Clock;
  /** Id factories (tests pass deterministic ones). */
  readonly ids?: { readonly run?: () => string; readonly request?: () => string };
  /** How long a run's lease lasts without renewal, ms (default 30 000). */
  readonly leaseMs?: number;
  /** How often commands from other processes are picked up, ms (default 100). */
  readonly pollMs?: number;
  /**
   * How long a call (start, a command) waits for a store that is busy, full or unavailable
   * before it rejects with STORE_BUSY / STORE_FULL / STORE_UNAVAILABLE, in ms (default
   * 30 000). Writing goes on being retried after that, and the supervisor goes on once the
   * store recovers.
   */
  readonly storeRetryMs?: number;
  /**
   * Input limits, each a `LIMIT_EXCEEDED` error naming it when passed: `goalChars` (10,000),
   * `metadataBytes` (64 KiB), `planSteps` (10,000), `stepBytes` (1 MiB), `outputBytes` of a
   * custom action (4 MiB; over it the step fails), `jsonDepth` (100, at most 500).
   */
  readonly limits?: LimitOptions;
}

const OptionsSchema = z.strictObject({
  db: z.union([z.string().min(1), z.custom<Store>(isStore, 'must be a path, a URL or a Store')]).optional(),
  store: z.custom<Store>(isStore, 'must be a Store').optional(),
  audit: z
    .strictObject({
      key: z.string().min(16, 'the audit key must be a secret of at least 16 characters').optional(),
    })
    .optional(),
  durability: z.enum(['normal', 'full']).optional(),
  actions: z
    .record(
      z.string(),
      z.custom<ActionFunction>((value) => typeof value === 'function', 'must be a function'),
    )
    .optional(),
  confirmTiers: z.array(TierSchema).optional(),
  concurrency: z
    .strictObject({
      runs: z.int().min(1).max(10_000).optional(),
      stepsPerRun: z.int().min(1).max(10_000).optional(),
    })
    .optional(),
  resume: z.boolean().optional(),
  drive: z.enum(['own', 'all', 'none']).optional(),
  inspect: z
    .custom<InspectObserver>(
      (value) => typeof value === 'function' || (typeof value === 'object' && value !== null),
    )
    .optional(),
  clock: z.custom<Clock>((value) => typeof value === 'object' && value !== null && 'now' in value).optional(),
  ids: z
    .strictObject({
      run: z.custom<() => string>((value) => typeof value === 'function').optional(),
      request: z.custom<() => string>((value) => typeof value === 'function').optional(),
    })
    .optional(),
  leaseMs: z.int().min(10).optional(),
  pollMs: z.int().min(1).optional(),
  storeRetryMs: z.int().min(0).optional(),
  limits: LimitsSchema.optional(),
  ...BuiltinOptionSchemas,
  ...ModelOptionSchemas,
});

function isStore(value: unknown): value is Store {
  return typeof value === 'object' && value !== null && 'commit' in value && 'runs' in value;
}

const KNOWN_OPTIONS = Object.keys(OptionsSchema.shape);

export function invalidOptions(options: unknown): TaskvisorError | undefined {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    return new TaskvisorError(
      'INVALID_OPTION',
      `createSupervisor() takes an options object, got ${JSON.stringify(options)}.`,
    );
  }
  for (const key of Object.keys((options ?? {}) as object)) {
    if (!KNOWN_OPTIONS.includes(key)) {
      return new TaskvisorError(
        'INVALID_OPTION',
        `Unknown option "${key}"${didYouMean(key, KNOWN_OPTIONS)}; createSupervisor() takes: ${KNOWN_OPTIONS.join(', ')}.`,
        { option: key },
      );
    }
  }
  const result = OptionsSchema.safeParse(options ?? {});
  if (result.success) {
    if (result.data.drive === 'none' && result.data.resume === true) {
      return new TaskvisorError(
        'INVALID_OPTION',
        "Options resume: true and drive: 'none' contradict each other: a client (drive: 'none') drives no runs; drop resume, or use drive: 'own' / 'all'.",
        { option: 'resume' },
      );
    }
    return undefined;
  }
  const issue = result.error.issues[0]!;
  const where = issue.path.map(String).join('.');
  return new TaskvisorError('INVALID_OPTION', `Option ${where}: ${issue.message}.`, { option: where });
}
