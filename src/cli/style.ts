/**
 * Terminal styling for human output: colours and symbols on a TTY (unless `NO_COLOR`),
 * plain text otherwise, and the small formatters every command shares.
 */
import type { RunPhase, StepState } from '../model/states.js';
import type { Usage } from '../model/views.js';

const CODES = {
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  gray: [90, 39],
  bold: [1, 22],
  dim: [2, 22],
} as const;

export type Colour = keyof typeof CODES;

export interface Style {
  readonly colour: boolean;
  paint(colour: Colour, text: string): string;
}

export function styleFor(stream: { isTTY?: boolean }): Style {
  const colour = Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
  return {
    colour,
    paint: (name, text) => (colour ? `\u001b[${CODES[name][0]}m${text}\u001b[${CODES[name][1]}m` : text),
  };
}

export const STEP_SYMBOLS: Readonly<Record<StepState, string>> = {
  pending: '·',
  awaitingConfirmation: '?',
  running: '>',
  awaitingInput: '?',
  retrying: '↻',
  interrupted: '‖',
  succeeded: '✔',
  failed: '✖',
  skipped: '-',
  cancelled: '⊘',
};

export const STEP_COLOURS: Readonly<Record<StepState, Colour>> = {
  pending: 'gray',
  awaitingConfirmation: 'yellow',
  running: 'cyan',
  awaitingInput: 'yellow',
  retrying: 'magenta',
  interrupted: 'yellow',
  succeeded: 'green',
  failed: 'red',
  skipped: 'gray',
  cancelled: 'gray',
};

export const PHASE_COLOURS: Readonly<Record<RunPhase, Colour>> = {
  queued: 'gray',
  planning: 'cyan',
  awaitingApproval: 'yellow',
  running: 'cyan',
  replanning: 'magenta',
  paused: 'yellow',
  completed: 'green',
  failed: 'red',
  cancelled: 'gray',
};

/** `420ms`, `3.2s`, `4m05s`, `2h03m`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** What a step's output shows: a shell step's stdout rather than its whole record. */
export function shownOutput(output: unknown): unknown {
  if (typeof output === 'object' && output !== null && !Array.isArray(output)) {
    const record = output as Record<string, unknown>;
    if (typeof record.stdout === 'string' && typeof record.exitCode === 'number') return record.stdout.trim();
  }
  return output;
}

/** A value on one line, cut to `max` characters. */
export function oneLine(value: unknown, max = 100): string {
  const text = (typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))).replace(
    /\s*\n\s*/g,
    ' ⏎ ',
  );
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `2025-01-31 14:05:09` in local time. */
export function formatTime(at: number): string {
  const date = new Date(at);
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** Pads `text` to `width` visible characters. */
export function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/**
 * Tokens and dollars; a model with no price is an unknown cost, never `$0.0000`:
 * `120 in + 40 out tokens, cost unknown (no price for llama3.2; set "prices" in a --config file)`.
 */
export function formatUsage(usage: Usage): string {
  const tokens = `${usage.inputTokens} in + ${usage.outputTokens} out tokens`;
  const unpriced = usage.unpriced ?? [];
  if (unpriced.length === 0) return `${tokens}, $${usage.costUsd.toFixed(4)}`;
  const why = `no price for ${unpriced.join(', ')}; set "prices" in a --config file`;
  return usage.costUsd > 0
    ? `${tokens}, $${usage.costUsd.toFixed(4)} + an unknown cost (${why})`
    : `${tokens}, cost unknown (${why})`;
}
