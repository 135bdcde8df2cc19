/**
 * What a plan may use, told to the model: the step kinds with their fields, the shell
 * binaries, agents and channels this supervisor allows. The same facts validate the plan
 * the model returns (`PlanContext`), so the prompt and the check cannot disagree.
 */
import { z } from 'zod';
import {
  FanoutActionSchema,
  ImplementActionSchema,
  NoteActionSchema,
  NotifyActionSchema,
  ResearchActionSchema,
  ReviewActionSchema,
  ShellActionSchema,
} from '../model/action.js';
import type { PlanContext } from '../model/parse-plan.js';
import { RetrySchema, StepIdSchema } from '../model/plan.js';
import { TierSchema } from '../model/tier.js';

const BUILTIN: Record<string, { readonly schema: z.ZodType; readonly use: string }> = {
  research: {
    schema: ResearchActionSchema,
    use: 'ask the model a question; it sees only the query text (interpolate earlier outputs into it), not files, the web or tools',
  },
  review: {
    schema: ReviewActionSchema,
    use: 'the model judges an artifact text against criteria and answers with its findings',
  },
  shell: {
    schema: ShellActionSchema,
    use: 'run one allowed binary with argv (no shell: no pipes, globs or redirections); its stdout is the output',
  },
  implement: { schema: ImplementActionSchema, use: 'delegate a written spec to a registered agent' },
  notify: { schema: NotifyActionSchema, use: 'send a message on a channel' },
  note: { schema: NoteActionSchema, use: 'a fixed output (a seed value or a summary you already know)' },
  fanout: {
    schema: FanoutActionSchema,
    use: 'send one prompt to several models and optionally reduce the answers',
  },
};

export interface Catalog {
  readonly context: PlanContext;
  /** Kinds the model may use, in prompt order. */
  readonly kinds: readonly string[];
}

/**
 * The kinds worth offering: built-ins whose prerequisites are configured (shell needs an
 * allow list, implement needs agents) and every custom kind.
 */
export function catalogOf(context: PlanContext): Catalog {
  const kinds = (context.kinds ?? []).filter((kind) => {
    if (kind === 'shell') return (context.shellAllow?.length ?? 0) > 0;
    if (kind === 'implement') return (context.agents?.length ?? 0) > 0;
    return true;
  });
  return { context, kinds };
}

/** One line per kind, with its fields, for the system prompt. */
export function describeKinds(catalog: Catalog): string {
  const lines: string[] = [];
  for (const kind of catalog.kinds) {
    const builtin = BUILTIN[kind];
    if (!builtin) {
      lines.push(`- ${kind}: a custom action of this application; put its inputs as fields next to "kind"`);
      continue;
    }
    const shape = (builtin.schema as z.ZodObject).shape as Record<string, z.ZodType>;
    const fields = Object.entries(shape)
      .filter(([name]) => name !== 'kind')
      .map(([name, schema]) => (schema.safeParse(undefined).success ? `${name}?` : name));
    lines.push(`- ${kind} { ${fields.join(', ')} }: ${builtin.use}`);
  }
  const { shellAllow, agents, channels } = catalog.context;
  if (catalog.kinds.includes('shell'))
    lines.push(`Allowed shell binaries: ${(shellAllow ?? []).join(', ')}.`);
  if (catalog.kinds.includes('implement')) lines.push(`Agents for implement: ${(agents ?? []).join(', ')}.`);
  if (catalog.kinds.includes('notify')) {
    lines.push(
      `Channels for notify: ${['console', ...(channels ?? []).filter((c) => c !== 'console')].join(', ')}.`,
    );
  }
  return lines.join('\n');
}

function actionSchemaOf(catalog: Catalog): Record<string, unknown> {
  const variants = catalog.kinds.map((kind) => {
    const builtin = BUILTIN[kind];
    if (builtin) return z.toJSONSchema(builtin.schema, { io: 'input', unrepresentable: 'any' });
    return {
      type: 'object',
      properties: { kind: { type: 'string', const: kind } },
      required: ['kind'],
      additionalProperties: true,
    };
  });
  for (const variant of variants) delete (variant as { $schema?: unknown }).$schema;
  return variants.length === 1 ? variants[0]! : { anyOf: variants };
}

/** The JSON Schema of a step the model writes (`replaces` only when replanning). */
function stepSchemaOf(catalog: Catalog, replan: boolean): Record<string, unknown> {
  const StepDraft = z.strictObject({
    id: StepIdSchema,
    title: z.string().min(1),
    dependsOn: z.array(StepIdSchema).optional(),
    tier: TierSchema.optional(),
    retry: RetrySchema.optional(),
    timeoutMs: z.int().positive().optional(),
    ...(replan ? { replaces: StepIdSchema.optional() } : {}),
  });
  const schema = z.toJSONSchema(StepDraft, { io: 'input' }) as {
    properties: Record<string, unknown>;
    required: string[];
  };
  delete (schema as { $schema?: unknown }).$schema;
  schema.properties['action'] = actionSchemaOf(catalog);
  schema.required = [...schema.required, 'action'];
  return schema;
}

/** The response format of a first plan: `{ steps: [...] }`. */
export function planJsonSchema(catalog: Catalog): Record<string, unknown> {
  return {
    type: 'object',
    properties: { steps: { type: 'array', minItems: 1, items: stepSchemaOf(catalog, false) } },
    required: ['steps'],
    additionalProperties: false,
  };
}

/** The response format of a replan: `{ steps: [...] }` with 1 to 6 steps. */
export function replanJsonSchema(catalog: Catalog): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      steps: { type: 'array', minItems: 1, maxItems: MAX_REPLAN_STEPS, items: stepSchemaOf(catalog, true) },
    },
    required: ['steps'],
    additionalProperties: false,
  };
}

export const MAX_REPLAN_STEPS = 6;
