/**
 * What a step's action does, in full, as a human reads it before approving or confirming
 * it: the shell command line with its arguments, cwd and the names of the variables it
 * sets; the research query; the review criteria; the implement agent and spec; the notify
 * channel and message; the fan-out targets and prompt; a custom kind and its input. One
 * pure renderer, used by the views, `pending()`, the plan summaries, the CLI and the
 * console, so what a human approves is the same everywhere.
 *
 * Secrets stay out: a shell step's `env` shows names only, a fan-out target's `apiKey` is
 * never shown.
 */
import { z } from 'zod';
import type { Json } from './json.js';
import { interpolate } from './templates.js';

export const ActionDetailSchema = z.object({
  /** What the value is: `command`, `cwd`, `env`, `query`, `criteria`, `agent`, `spec`, ... */
  label: z.string(),
  /** The value in full (never cut; a display may wrap or fold it). */
  value: z.string(),
});
export type ActionDetail = z.infer<typeof ActionDetailSchema>;

export const ActionDescriptionSchema = z.object({
  kind: z.string(),
  /** One line saying what runs, e.g. `$ git log --oneline -20` or `notify console: Done`. */
  summary: z.string(),
  /** Every part of the action, labelled, in full. */
  details: z.array(ActionDetailSchema),
});
export type ActionDescription = z.infer<typeof ActionDescriptionSchema>;

/** An argument as a POSIX shell would need it quoted, so a pasted line means what it shows. */
export function shellWord(value: string): string {
  if (value === '') return "''";
  return /^[\w./:@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? String(value);
}

function field(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** A fan-out target as shown: its model (or agent), label and endpoint; never its key. */
function targetText(target: unknown): string {
  if (typeof target === 'string') return target;
  if (typeof target !== 'object' || target === null) return asText(target);
  const record = target as Record<string, unknown>;
  const name =
    typeof record.agent === 'string' ? `agent ${record.agent}` : asText(field(record, 'model') ?? '?');
  const label = typeof record.label === 'string' && record.label !== name ? ` as ${record.label}` : '';
  const at = typeof record.baseURL === 'string' ? ` at ${record.baseURL}` : '';
  return `${name}${label}${at}`;
}

/** `$ command arg 'an arg'` with the step's cwd and env names when it sets them. */
function describeShell(action: Record<string, unknown>): ActionDescription {
  const args = Array.isArray(action.args) ? action.args.map(asText) : [];
  const line = [asText(action.command), ...args].map(shellWord).join(' ');
  const details: ActionDetail[] = [{ label: 'command', value: line }];
  const extras: string[] = [];
  if (typeof action.cwd === 'string') {
    details.push({ label: 'cwd', value: action.cwd });
    extras.push(`in ${action.cwd}`);
  }
  const env = action.env && typeof action.env === 'object' ? Object.keys(action.env) : [];
  if (env.length > 0) {
    details.push({ label: 'env', value: env.join(', ') });
    extras.push(`env ${env.join(', ')}`);
  }
  if (typeof action.timeoutMs === 'number')
    details.push({ label: 'timeout', value: `${action.timeoutMs} ms` });
  return {
    kind: 'shell',
    summary: `$ ${line}${extras.length > 0 ? `  (${extras.join('; ')})` : ''}`,
    details,
  };
}

/**
 * @example
 * ```ts
 * describeAction({ kind: 'shell', command: 'git', args: ['log', '--oneline', '-20'] }).summary;
 * // '$ git log --oneline -20'
 * describeAction({ kind: 'notify', channel: 'ops', message: 'Deployed' }).summary;
 * // 'notify ops: Deployed'
 * ```
 */
export function describeAction(
  action: { readonly kind: string } & Record<string, unknown>,
): ActionDescription {
  const description = describeByKind(action);
  return { ...description, summary: oneLine(description.summary) };
}

/** Newlines inside the summary shown as ⏎ (the details keep them). */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ⏎ ');
}

function describeByKind(action: { readonly kind: string } & Record<string, unknown>): ActionDescription {
  const kind = action.kind;
  const detail = (label: string, value: unknown): ActionDetail[] =>
    value === undefined ? [] : [{ label, value: asText(value) }];
  switch (kind) {
    case 'shell':
      return describeShell(action);
    case 'research':
      return {
        kind,
        summary: `research: ${asText(action.query)}`,
        details: [...detail('query', action.query), ...detail('model', action.model)],
      };
    case 'review': {
      const criteria = Array.isArray(action.criteria)
        ? action.criteria.map(asText).join('; ')
        : action.criteria === undefined
          ? undefined
          : asText(action.criteria);
      return {
        kind,
        summary: `review ${asText(action.artifact)}${criteria === undefined ? '' : ` against: ${criteria}`}`,
        details: [
          ...detail('artifact', action.artifact),
          ...detail('criteria', criteria),
          ...detail('model', action.model),
        ],
      };
    }
    case 'implement':
      return {
        kind,
        summary: `agent ${asText(action.agent)} implements: ${asText(action.spec)}`,
        details: [...detail('agent', action.agent), ...detail('spec', action.spec)],
      };
    case 'notify': {
      const channel = typeof action.channel === 'string' ? action.channel : 'console';
      return {
        kind,
        summary: `notify ${channel}: ${asText(action.message)}`,
        details: [{ label: 'channel', value: channel }, ...detail('message', action.message)],
      };
    }
    case 'note':
      return { kind, summary: `note: ${asText(action.output)}`, details: detail('output', action.output) };
    case 'fanout': {
      const targets = Array.isArray(action.targets) ? action.targets.map(targetText) : [];
      const repeat = typeof action.repeat === 'number' && action.repeat > 1 ? action.repeat : undefined;
      const reduce =
        action.reduce && typeof action.reduce === 'object'
          ? (action.reduce as Record<string, unknown>)
          : undefined;
      const reduceText =
        reduce === undefined
          ? undefined
          : `${asText(reduce.mode)}${reduce.target === undefined ? '' : ` by ${targetText(reduce.target)}`}`;
      const to = `${targets.join(', ')}${repeat ? `, ${repeat} times each` : ''}`;
      return {
        kind,
        summary: `fan-out to ${to}${reduceText ? ` (reduce: ${reduceText})` : ''}: ${asText(action.prompt)}`,
        details: [
          { label: 'targets', value: targets.join(', ') },
          ...detail('repeat', repeat),
          ...detail('reduce', reduceText),
          ...detail('prompt', action.prompt),
        ],
      };
    }
    default: {
      const { kind: _kind, ...input } = action;
      const text = JSON.stringify(input);
      const summary = Object.keys(input).length === 0 ? `${kind} (no input)` : `${kind} ${text}`;
      return { kind, summary, details: [{ label: 'input', value: text }] };
    }
  }
}

/**
 * The description with `{{steps.<id>.output}}` templates filled in from the outputs known
 * now: what a step about to run (waiting for its confirmation) will really do.
 */
export function resolveDescription(
  description: ActionDescription,
  outputOf: (stepId: string) => Json | undefined,
): ActionDescription {
  const fill = (text: string) =>
    text.includes('{{') ? interpolate(text, (stepId) => outputOf(stepId) ?? undefined) : text;
  return {
    kind: description.kind,
    summary: fill(description.summary),
    details: description.details.map((item) => ({ label: item.label, value: fill(item.value) })),
  };
}
