/**
 * The step kinds every supervisor has. `note` returns its `output` as given (seeds,
 * summaries, tests); the other built-in kinds arrive with their adapters.
 */
import type { Json } from '../model/json.js';
import type { ActionFunction } from '../runtime/executor.js';

const note: ActionFunction = (input) => ({ output: (input.output ?? null) as Json });

export const BUILTIN_ACTIONS: ReadonlyMap<string, ActionFunction> = new Map([['note', note]]);
