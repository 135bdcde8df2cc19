/**
 * Worker labels of a fan-out. Pure.
 *
 * The rule: workers are listed target by target, in the order the targets are given, and
 * within a target repeat by repeat (`1..repeat`). A worker's base name is its target's
 * `label`, or else its `model` (or `agent`). A base name that only one worker has is the label as is; a
 * base name that several workers share (the same model given twice, one target repeated,
 * or both) gets `#1`, `#2`, ... in that worker order. Labels are unique: a given label that
 * collides with a numbered one (a target labelled `gpt-4o#2` next to two `gpt-4o`) is an
 * error, as is an empty one.
 */
import { quote, TaskvisorError } from '../errors.js';

/** One worker of a fan-out: which target it calls and which repeat of it it is. */
export interface WorkerSlot {
  readonly label: string;
  readonly target: TargetSpec;
  /** Index into the fan-out's `targets`. */
  readonly targetIndex: number;
  /** 1-based: the n-th time this target is asked. */
  readonly repeatIndex: number;
}

/** One model target of a fan-out (the `fanout` action's target, parsed). */
export interface ModelTargetSpec {
  readonly model: string;
  readonly baseURL?: string;
  readonly apiKey?: string;
  readonly label?: string;
  /** `system` (a system message), `temperature`, `maxTokens`. */
  readonly options?: Readonly<Record<string, unknown>>;
}

/** An agent target: an agent of `createSupervisor({ agents })`, given the prompt as its spec. */
export interface AgentTargetSpec {
  readonly agent: string;
  readonly label?: string;
}

/** One target of a fan-out: a model or an agent. */
export type TargetSpec = ModelTargetSpec | AgentTargetSpec;

/** A target as the action schema's input allows it: a model name or an object. */
export type TargetInput = string | TargetSpec;

/** A target as an object (a bare string is shorthand for `{ model }`). */
export function normalizeTarget(target: TargetInput): TargetSpec {
  return typeof target === 'string' ? { model: target } : target;
}

export function isAgentTarget(target: TargetSpec): target is AgentTargetSpec {
  return 'agent' in target && typeof target.agent === 'string';
}

/**
 * What a worker of `target` records as its `model`: the model name, or `agent:<name>` for an
 * agent target (an LLM persona's calls are recorded under their own model as usage).
 */
export function targetModel(target: TargetSpec): string {
  return isAgentTarget(target) ? `agent:${target.agent}` : target.model;
}

/**
 * The workers of a fan-out, in target order, with their labels.
 *
 * @example
 * ```ts
 * workerSlots(['gpt-4o', { model: 'claude', label: 'c' }, 'gpt-4o'], 2).map((w) => w.label);
 * // ['gpt-4o#1', 'gpt-4o#2', 'c#1', 'c#2', 'gpt-4o#3', 'gpt-4o#4']
 * workerSlots(['gpt-4o', 'o3'], 1).map((w) => w.label); // ['gpt-4o', 'o3']
 * ```
 */
export function workerSlots(targets: readonly TargetInput[], repeat = 1): WorkerSlot[] {
  if (!Number.isInteger(repeat) || repeat < 1) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `Expected \`repeat\` to be a positive integer, got ${quote(repeat)}`,
      { option: 'repeat', value: repeat },
    );
  }
  if (targets.length === 0) {
    throw new TaskvisorError('INVALID_OPTION', 'A fan-out needs at least one target, got none', {
      option: 'targets',
    });
  }
  const normalized = targets.map(normalizeTarget);
  const baseOf = (target: TargetSpec, index: number): string => {
    const base = target.label ?? (isAgentTarget(target) ? target.agent : target.model);
    if (base.trim() === '') {
      const field = target.label !== undefined ? 'label' : isAgentTarget(target) ? 'agent' : 'model';
      throw new TaskvisorError(
        'INVALID_OPTION',
        `Target ${index + 1} has an empty ${field}; give it a model name, an agent or a label`,
        { option: 'targets', index },
      );
    }
    return base;
  };
  const bases = normalized.map(baseOf);
  const workersPerBase = new Map<string, number>();
  for (const base of bases) workersPerBase.set(base, (workersPerBase.get(base) ?? 0) + repeat);

  const numbered = new Map<string, number>();
  const slots: WorkerSlot[] = [];
  normalized.forEach((target, targetIndex) => {
    const base = bases[targetIndex]!;
    for (let repeatIndex = 1; repeatIndex <= repeat; repeatIndex++) {
      let label = base;
      if ((workersPerBase.get(base) ?? 0) > 1) {
        const n = (numbered.get(base) ?? 0) + 1;
        numbered.set(base, n);
        label = `${base}#${n}`;
      }
      slots.push({ label, target, targetIndex, repeatIndex });
    }
  });

  const seen = new Set<string>();
  for (const slot of slots) {
    if (seen.has(slot.label)) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `Two fan-out workers would both be labelled ${quote(slot.label)}: a given label collides with ` +
          `one numbered for duplicates; choose another label for target ${slot.targetIndex + 1}`,
        { option: 'targets', label: slot.label },
      );
    }
    seen.add(slot.label);
  }
  return slots;
}
