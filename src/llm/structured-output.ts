/**
 * The structured-output ladder: how a model is asked for JSON. `json_schema` (structured
 * outputs), then `json_object` (JSON mode), then `text` (JSON found in the answer). A server
 * that refuses a mode with HTTP 400 is asked again one rung down, and the ladder remembers
 * where it stands for the next call. The planner and the fan-out reducer both climb it.
 */
import { isTaskvisorError } from '../errors.js';
import type { ResponseFormat } from './chat.js';

/**
 * How the model is asked for JSON: `json_schema` (structured outputs), `json_object`
 * (JSON mode) or `text` (JSON found in the answer).
 */
export type StructuredOutput = 'json_schema' | 'json_object' | 'text';

export const STRUCTURED_OUTPUT_MODES: readonly StructuredOutput[] = ['json_schema', 'json_object', 'text'];

/** The `responseFormat` of a request in `mode` (none for `text`). */
export function responseFormatFor(
  mode: StructuredOutput,
  name: string,
  schema: Record<string, unknown>,
): { responseFormat?: ResponseFormat } {
  if (mode === 'json_schema') return { responseFormat: { type: 'json_schema', name, schema, strict: false } };
  if (mode === 'json_object') return { responseFormat: { type: 'json_object' } };
  return {};
}

/** A 400 from the server: it does not take this response format. */
export function refusedFormat(error: unknown): boolean {
  return isTaskvisorError(error) && error.code === 'LLM_ERROR' && error.details.status === 400;
}

/** Where a caller stands on the ladder; `call` climbs down on a refused format. */
export class StructuredOutputLadder {
  private current: StructuredOutput;

  constructor(start: StructuredOutput = 'json_schema') {
    this.current = start;
  }

  get mode(): StructuredOutput {
    return this.current;
  }

  /**
   * Sends with the current mode's response format; on a refused format, again one rung
   * down (remembered), until `text`, whose refusal is thrown.
   *
   * @example
   * ```ts
   * const ladder = new StructuredOutputLadder();
   * const text = await ladder.call('verdict', schema, (format) => client.chat({ messages, ...format }));
   * ```
   */
  async call<T>(
    name: string,
    schema: Record<string, unknown>,
    send: (format: { responseFormat?: ResponseFormat }) => Promise<T>,
  ): Promise<T> {
    for (;;) {
      try {
        return await send(responseFormatFor(this.current, name, schema));
      } catch (error) {
        const next = STRUCTURED_OUTPUT_MODES[STRUCTURED_OUTPUT_MODES.indexOf(this.current) + 1];
        if (next && refusedFormat(error)) {
          this.current = next;
          continue;
        }
        throw error;
      }
    }
  }
}
