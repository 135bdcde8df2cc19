import { z } from 'zod';
import { JsonSchema } from './json.js';
import type { Tier } from './tier.js';

const text = z.string().min(1);

/** `shell`: argv, never a shell string. The binary must be allowed by `sandbox.allow`. */
export const ShellActionSchema = z.strictObject({
  kind: z.literal('shell'),
  command: text,
  args: z.array(z.string()).optional(),
  cwd: z.string().optional(),
  env: z.record(z.string(), z.string()).optional(),
  timeoutMs: z.int().positive().optional(),
});

/** `research`: a question for the model; the answer is the step output. */
export const ResearchActionSchema = z.strictObject({
  kind: z.literal('research'),
  query: text,
  model: text.optional(),
});

/** `review`: the model judges an artifact (often `{{steps.x.output}}`) against criteria. */
export const ReviewActionSchema = z.strictObject({
  kind: z.literal('review'),
  artifact: text,
  criteria: z.union([text, z.array(text).min(1)]).optional(),
  model: text.optional(),
});

/** `implement`: delegate a spec to a registered agent (with the escalation chain). */
export const ImplementActionSchema = z.strictObject({
  kind: z.literal('implement'),
  agent: text,
  spec: text,
});

/** `notify`: send a message on a channel (`console` when omitted). */
export const NotifyActionSchema = z.strictObject({
  kind: z.literal('notify'),
  channel: text.optional(),
  message: text,
});

/** `note`: a static output, useful for seeds, summaries and tests. */
export const NoteActionSchema = z.strictObject({
  kind: z.literal('note'),
  output: JsonSchema,
});

/** One model target of a fan-out; a plain string is shorthand for `{ model }`. */
export const FanoutModelTargetSchema = z.union([
  text.transform((model) => ({ model })),
  z.strictObject({
    model: text,
    baseURL: z.url().optional(),
    apiKey: z.string().optional(),
    label: text.optional(),
    options: z.record(z.string(), z.unknown()).optional(),
  }),
]);

/** An agent target of a fan-out: an agent of `createSupervisor({ agents })` gets the prompt as its spec. */
export const FanoutAgentTargetSchema = z.strictObject({ agent: text, label: text.optional() });

/** One target of a fan-out: a model (a name, or `{ model, ... }`) or `{ agent, label? }`. */
export const FanoutTargetSchema = z.union([FanoutModelTargetSchema, FanoutAgentTargetSchema]);

export const ReduceModeSchema = z.enum(['compare', 'summarize', 'best_of_n']);

/** `fanout`: one prompt to several targets, `repeat` times each, optionally reduced. */
export const FanoutActionSchema = z.strictObject({
  kind: z.literal('fanout'),
  prompt: text,
  targets: z.array(FanoutTargetSchema).min(1),
  repeat: z.int().min(1).max(20).optional(),
  reduce: z
    .strictObject({
      mode: ReduceModeSchema,
      // The reducer is a model.
      target: FanoutModelTargetSchema.optional(),
    })
    .optional(),
});

const builtinActionSchemas = {
  shell: ShellActionSchema,
  research: ResearchActionSchema,
  review: ReviewActionSchema,
  implement: ImplementActionSchema,
  notify: NotifyActionSchema,
  note: NoteActionSchema,
  fanout: FanoutActionSchema,
} as const;

export type BuiltinActionKind = keyof typeof builtinActionSchemas;
export const BUILTIN_ACTION_KINDS = Object.keys(builtinActionSchemas) as readonly BuiltinActionKind[];

export function isBuiltinActionKind(kind: string): kind is BuiltinActionKind {
  return Object.hasOwn(builtinActionSchemas, kind);
}

export type ShellAction = z.output<typeof ShellActionSchema>;
export type ResearchAction = z.output<typeof ResearchActionSchema>;
export type ReviewAction = z.output<typeof ReviewActionSchema>;
export type ImplementAction = z.output<typeof ImplementActionSchema>;
export type NotifyAction = z.output<typeof NotifyActionSchema>;
export type NoteAction = z.output<typeof NoteActionSchema>;
export type FanoutAction = z.output<typeof FanoutActionSchema>;
export type FanoutTarget = z.output<typeof FanoutTargetSchema>;
export type ReduceMode = z.output<typeof ReduceModeSchema>;

/**
 * A custom kind registered with `createSupervisor({ actions })`. Every field but `kind`
 * is handed to the action function as its `input`.
 */
export const CustomActionSchema = z.looseObject({
  kind: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_.:-]*$/, 'an action kind is a name such as "myKind" or "acme.deploy"'),
});
export type CustomAction = z.output<typeof CustomActionSchema>;

export type BuiltinAction =
  ShellAction | ResearchAction | ReviewAction | ImplementAction | NotifyAction | NoteAction | FanoutAction;
export type Action = BuiltinAction | CustomAction;

/**
 * Any action: a built-in kind is checked against its own schema (unknown fields are
 * errors, so typos surface); any other kind is a custom action, checked against the
 * registry by `parsePlan`.
 */
export const ActionSchema = CustomActionSchema.transform((value, ctx): Action => {
  if (!isBuiltinActionKind(value.kind)) return value;
  const result = builtinActionSchemas[value.kind].safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  }
  return z.NEVER;
});

/** The tier a step gets when it does not say: reads for model and static steps. */
export function defaultTier(action: Action): Tier {
  switch (action.kind) {
    case 'research':
    case 'review':
    case 'note':
    case 'fanout':
      return 'read';
    case 'implement':
    case 'notify':
      return 'write';
    default:
      return 'execute';
  }
}

/** Model-only kinds: re-running them after a crash repeats no side effect. */
export function isReadOnlyKind(kind: string): boolean {
  return kind === 'research' || kind === 'review' || kind === 'note' || kind === 'fanout';
}
