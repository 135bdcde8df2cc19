/**
 * The arguments of the Supervisor's methods, as zod schemas (API.md's table): each method
 * checks what it is given against these before it touches any state. Messages are phrases
 * that `argumentError` puts after the argument's path: `options.by must be a string`.
 */
import { z } from 'zod';
import { TaskvisorError } from '../errors.js';
import { describeValue } from './argument-check.js';
import { checkJson } from './json-check.js';
import { jsonProblemError, type Limits, limitExceeded } from './limits.js';
import { RUN_PHASES } from './run-phases.js';

const nonEmpty = (what: string) =>
  z.string({ error: `must be ${what}` }).min(1, { error: `must be ${what}` });
const optionalText = (what = 'a string') => z.string({ error: `must be ${what}` }).optional();
const whole = (what: string, min: number, max?: number) => {
  const base = z.int({ error: `must be ${what}` }).min(min, { error: `must be ${what}` });
  return max === undefined ? base : base.max(max, { error: `must be ${what}` });
};
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be one of ${values.join(', ')}` });

export const RunIdArgumentSchema = nonEmpty('a run id (a non-empty string)');
export const StepIdArgumentSchema = nonEmpty('a step id (a non-empty string)');
export const RequestIdArgumentSchema = nonEmpty('a request id (a non-empty string)');
/** `resume(runId?)`. */
export const OptionalRunIdSchema = RunIdArgumentSchema.optional();

const by = optionalText('a string naming who acts');

/** A budget as an argument: the same limits as `BudgetSchema`, with messages for callers. */
export const BudgetArgumentSchema = z.strictObject(
  {
    maxCostUsd: z
      .number({ error: 'must be a positive number of US dollars' })
      .positive({ error: 'must be a positive number of US dollars' })
      .optional(),
    maxTokens: whole('a positive whole number of tokens', 1).optional(),
    maxSteps: whole('a positive whole number of steps', 1).optional(),
  },
  { error: 'must be an object { maxCostUsd?, maxTokens?, maxSteps? }' },
);
export const BUDGET_SHAPE = '{ maxCostUsd?, maxTokens?, maxSteps? }';

export const START_SHAPE = '{ goal, plan?, requireApproval?, budget?, metadata? }';
/** `start(options)`: the plan, the metadata and the goal's length are checked after this. */
export const StartOptionsSchema = z.strictObject(
  {
    goal: z.string({ error: 'must be a string' }).optional(),
    plan: z.unknown().optional(),
    requireApproval: z.boolean({ error: 'must be true or false' }).optional(),
    budget: BudgetArgumentSchema.optional(),
    metadata: z.unknown().optional(),
  },
  { error: `must be an object ${START_SHAPE}` },
);

export const FANOUT_SHAPE = '{ prompt, targets, repeat?, reduce?, budget?, metadata? }';
/** `fanout(options)`: each target and `reduce` are checked in full by the fan-out action's schema. */
export const FanoutOptionsSchema = z.strictObject(
  {
    prompt: nonEmpty('a non-empty string'),
    targets: z
      .array(
        z.union([nonEmpty('a model name'), z.looseObject({})], {
          error: 'must be a model name (a string) or a target object such as { model, label? }',
        }),
        { error: 'must be an array of targets' },
      )
      .min(1, { error: 'must be an array of at least one target' }),
    repeat: whole('a whole number of times each target is asked, from 1 to 20', 1, 20).optional(),
    reduce: z.unknown().optional(),
    budget: BudgetArgumentSchema.optional(),
    metadata: z.unknown().optional(),
  },
  { error: `must be an object ${FANOUT_SHAPE}` },
);

export const APPROVE_SHAPE = '{ by?, note? }';
export const ApproveOptionsSchema = z
  .strictObject({ by, note: optionalText() }, { error: `must be an object ${APPROVE_SHAPE}` })
  .optional();

export const REJECT_SHAPE = '{ by?, reason }';
export const RejectOptionsSchema = z.strictObject(
  { by, reason: nonEmpty('a non-empty string saying why') },
  { error: `must be an object ${REJECT_SHAPE}` },
);

export const CONFIRM_SHAPE = '{ approved, decision?, by?, reason? }';
export const ConfirmOptionsSchema = z.strictObject(
  {
    approved: z.boolean({
      error: 'must be true (run the step) or false (stop it; decision "skip" or "fail")',
    }),
    decision: oneOf(['skip', 'fail']).optional(),
    by,
    reason: optionalText(),
  },
  { error: `must be an object ${CONFIRM_SHAPE}` },
);

export const ANSWER_SHAPE = '{ text?, optionId?, answers?, by? }';
/** `answer(requestId, answer)`: which of the fields are needed is checked against the request. */
export const AnswerArgumentSchema = z.strictObject(
  {
    text: optionalText(),
    optionId: optionalText(),
    answers: z
      .record(z.string(), z.string({ error: 'must be a string' }), {
        error: 'must be an object of strings, by question key',
      })
      .optional(),
    by,
  },
  { error: `must be an object ${ANSWER_SHAPE}` },
);

export const CONTROL_ACTIONS = ['cancel', 'interrupt', 'retry', 'resume'] as const;
export const ControlActionArgumentSchema = oneOf(CONTROL_ACTIONS);

export const BY_SHAPE = '{ by? }';
export const ByOptionsSchema = z.strictObject({ by }, { error: `must be an object ${BY_SHAPE}` }).optional();

export const CANCEL_SHAPE = '{ by?, reason? }';
export const CancelOptionsSchema = z
  .strictObject({ by, reason: optionalText() }, { error: `must be an object ${CANCEL_SHAPE}` })
  .optional();

export const LIST_SHAPE = '{ phase?, limit?, before? }';
const phase = oneOf(RUN_PHASES);
export const ListFilterSchema = z
  .strictObject(
    {
      phase: z.union([phase, z.array(phase)], { error: `must be a phase or an array of phases` }).optional(),
      limit: whole('a whole number from 1 to 1000 (page with { before: <last run id> })', 1, 1000).optional(),
      before: nonEmpty('a run id (the last run of the previous page)').optional(),
    },
    { error: `must be an object ${LIST_SHAPE}` },
  )
  .optional();

export const MONITOR_SHAPE = '{ events? }';
export const MonitorOptionsSchema = z
  .strictObject(
    { events: whole('a whole number of recent events to include, from 0 to 10000', 0, 10_000).optional() },
    { error: `must be an object ${MONITOR_SHAPE}` },
  )
  .optional();

export const EVENTS_SHAPE = '{ runId?, after? }';
export const EventsOptionsSchema = z
  .strictObject(
    {
      runId: nonEmpty('a run id (a non-empty string)').optional(),
      after: whole('an event seq (a whole number, 0 or more)', 0).optional(),
    },
    { error: `must be an object ${EVENTS_SHAPE}` },
  )
  .optional();

export const SearchTextSchema = z.string({ error: 'must be a string of words to search for' });
export const SEARCH_SHAPE = '{ limit? }';
export const SearchOptionsSchema = z
  .strictObject(
    { limit: whole('a whole number of episodes from 1 to 100', 1, 100).optional() },
    { error: `must be an object ${SEARCH_SHAPE}` },
  )
  .optional();

/**
 * A run's goal: a string with something in it, at most `limits.goalChars` characters.
 *
 * @example
 * ```ts
 * checkGoal('Write the release notes', limits, 'start');
 * ```
 */
export function checkGoal(goal: string, limits: Limits, method: string): void {
  if (goal.length > limits.goalChars) {
    throw limitExceeded(
      'goalChars',
      `${method}: goal`,
      `is ${goal.length.toLocaleString('en-US')} characters`,
      limits.goalChars,
    );
  }
}

/**
 * A run's metadata: a plain object of JSON values (checked iteratively: no nesting can
 * overflow the stack), at most `limits.metadataBytes` as JSON and `limits.jsonDepth` deep.
 */
export function checkMetadata(metadata: unknown, limits: Limits, method: string): void {
  const plain =
    typeof metadata === 'object' &&
    metadata !== null &&
    !Array.isArray(metadata) &&
    [Object.prototype, null].includes(Object.getPrototypeOf(metadata) as object | null);
  if (!plain) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `${method}: options.metadata must be an object of JSON values (e.g. { ticket: "OPS-12" }), got ${describeValue(metadata)}.`,
      { method, argument: 'options', path: 'options.metadata' },
    );
  }
  const root = 'options.metadata';
  const checked = checkJson(metadata, { maxDepth: limits.jsonDepth, maxBytes: limits.metadataBytes }, root);
  if (!checked.ok) {
    throw jsonProblemError(checked.problem, {
      prefix: method,
      root,
      code: 'INVALID_OPTION',
      limits,
      sizeLimit: 'metadataBytes',
    });
  }
}

export const PRUNE_SHAPE = '{ olderThan, phases? }';
/**
 * `prune(options)`: `olderThan` in ms, or a duration string that `parseDuration` reads;
 * `prune` itself says which of `phases` is not a finished one.
 */
export const PruneOptionsSchema = z.strictObject(
  {
    olderThan: z.union(
      [
        z
          .number({ error: 'must be milliseconds (0 or more) or a duration like "30d"' })
          .nonnegative({ error: 'must be milliseconds (0 or more) or a duration like "30d"' })
          .finite({ error: 'must be milliseconds (0 or more) or a duration like "30d"' }),
        z.string(),
      ],
      { error: 'must be milliseconds (0 or more) or a duration like "30d", "12h", "90m"' },
    ),
    phases: z
      .array(z.string({ error: 'must be a phase name' }), { error: 'must be an array of finished phases' })
      .min(1, { error: 'must name at least one finished phase' })
      .optional(),
  },
  { error: `must be an object ${PRUNE_SHAPE}` },
);

export const CLOSE_SHAPE = '{ graceMs? }';
/** `close(options?)`. */
export const CloseOptionsSchema = z
  .strictObject(
    {
      graceMs: z
        .number({ error: 'must be a number of milliseconds (0 or more)' })
        .nonnegative({ error: 'must be a number of milliseconds (0 or more)' })
        .finite({ error: 'must be a number of milliseconds (0 or more)' })
        .optional(),
    },
    { error: `must be an object ${CLOSE_SHAPE}` },
  )
  .optional();
