import path from 'node:path';
import { z } from 'zod';
import { quote, TaskvisorError } from '../errors.js';
import { BUILTIN_ACTION_KINDS } from './action.js';
import { cycleSearch } from './graph.js';
import { checkJson } from './json-check.js';
import { DEFAULT_LIMITS, jsonProblemError, type Limits, limitExceeded } from './limits.js';
import { type Plan, PlanSchema, type Step, StepSchema } from './plan.js';
import { didYouMean } from './suggest.js';
import { templateReferences } from './templates.js';

/** What the plan may use, as configured on the supervisor. Omitted lists are not checked. */
export interface PlanContext {
  /** Every kind that can run: the built-ins plus registered custom kinds. */
  readonly kinds?: readonly string[];
  /** Binaries `shell` steps may run (names, or absolute paths). */
  readonly shellAllow?: readonly string[];
  /**
   * The sandbox's own judgement of a shell command (resolved on PATH, symlinks followed):
   * undefined when it may run, else why not (naming the binary and the allow list). When
   * set, it replaces the name-level `shellAllow` check.
   */
  readonly shellCheck?: (command: string, cwd?: string) => string | undefined;
  /**
   * The sandbox's judgement of a shell step's `env`: undefined when it may be used, else the
   * variable that may not be set (one that makes a program load code, or a PATH outside the
   * allowed binaries' directories) and why; the plan is refused with `SANDBOX_ESCAPE`.
   */
  readonly shellEnvCheck?: (
    env: Readonly<Record<string, string>>,
  ) => { readonly name: string; readonly message: string } | undefined;
  /** Agent names `implement` steps may delegate to. */
  readonly agents?: readonly string[];
  /** Channel names `notify` steps may use (`console` is the default channel). */
  readonly channels?: readonly string[];
  /** Steps per plan, bytes per step, JSON nesting (default `DEFAULT_LIMITS`'). */
  readonly limits?: Partial<Pick<Limits, 'planSteps' | 'stepBytes' | 'jsonDepth'>>;
}

/**
 * A check done in slices: it yields between pieces of work so that a driver may give the
 * event loop a turn (`runInSlices`), or runs to its end at once (`runToEnd`).
 */
export type Sliced<T> = Generator<void, T, void>;

/** Runs a sliced check to its end without yielding. */
export function runToEnd<T>(work: Sliced<T>): T {
  let next = work.next();
  while (!next.done) next = work.next();
  return next.value;
}

/**
 * Validates a plan and returns it normalised (`title`, `tier` and `dependsOn` filled in),
 * or throws a `TaskvisorError` whose code and message name the bad value and the fix:
 * `INVALID_PLAN` (with the zod path), `DUPLICATE_STEP_ID`, `SELF_DEPENDENCY`,
 * `UNKNOWN_DEPENDENCY`, `PLAN_CYCLE` (the cycle spelled out), `UNKNOWN_ACTION_KIND`,
 * `BAD_TEMPLATE_REFERENCE`, `SHELL_NOT_ALLOWED`, `SANDBOX_ESCAPE` (a step env gadget),
 * `UNKNOWN_AGENT`, `UNKNOWN_CHANNEL`, `BAD_REPLACEMENT`.
 *
 * @example
 * ```ts
 * const plan = parsePlan(JSON.parse(text), { kinds: [...BUILTIN_ACTION_KINDS, 'deploy'] });
 * ```
 */
export function parsePlan(input: unknown, context: PlanContext = {}): Plan {
  return runToEnd(planChecks(input, context));
}

/** The outer shape of a plan; each step is checked on its own (and JSON-checked first). */
const PlanHeaderSchema = PlanSchema.extend({
  steps: z.array(z.unknown()).min(1, 'a plan needs at least one step'),
});

/**
 * `parsePlan` as a sliced check (`Sliced`): it yields between steps, so a driver can keep a
 * 10,000-step plan from holding the event loop. Every step is checked as JSON first
 * (iteratively: no nesting can overflow the stack) against `context.limits`.
 */
export function* planChecks(input: unknown, context: PlanContext = {}): Sliced<Plan> {
  const limits = { ...DEFAULT_LIMITS, ...context.limits };
  const header = PlanHeaderSchema.safeParse(input);
  if (!header.success) throw invalidPlan(header.error.issues, input);
  const raw = header.data.steps;
  if (raw.length > limits.planSteps) {
    throw limitExceeded(
      'planSteps',
      'The plan',
      `has ${raw.length.toLocaleString('en-US')} steps`,
      limits.planSteps,
    );
  }
  const steps: Step[] = [];
  const issues: z.core.$ZodIssue[] = [];
  for (const [index, step] of raw.entries()) {
    yield;
    const where = stepPath(index, step);
    const checked = checkJson(step, { maxDepth: limits.jsonDepth, maxBytes: limits.stepBytes }, where);
    if (!checked.ok) {
      throw jsonProblemError(checked.problem, {
        prefix: 'Invalid plan',
        root: where,
        code: 'INVALID_PLAN',
        limits: { ...DEFAULT_LIMITS, ...limits },
        sizeLimit: 'stepBytes',
      });
    }
    // A plain copy: what is checked is what is stored (toJSON applied, undefined fields gone).
    const parsed = StepSchema.safeParse(JSON.parse(JSON.stringify(step)));
    if (parsed.success) steps.push(parsed.data);
    else
      for (const issue of parsed.error.issues)
        issues.push({ ...issue, path: ['steps', index, ...issue.path] });
  }
  if (issues.length > 0) throw invalidPlan(issues, input);
  const { steps: _raw, ...rest } = header.data;
  const plan: Plan = { ...rest, steps };
  for (const step of plan.steps) {
    if (step.replaces !== undefined) {
      throw new TaskvisorError(
        'BAD_REPLACEMENT',
        `Step "${step.id}" says replaces "${step.replaces}", but only a replanned step can replace a failed one; remove "replaces" from a new plan.`,
        { stepId: step.id, replaces: step.replaces },
      );
    }
  }
  yield* stepChecks(plan.steps, context);
  return plan;
}

/**
 * The graph and context checks of `parsePlan`, for a step list that already passed the
 * schema (used again by `spliceSteps` on the spliced result).
 */
export function validateSteps(steps: readonly Step[], context: PlanContext = {}): void {
  runToEnd(stepChecks(steps, context));
}

/** `validateSteps` as a sliced check. */
function* stepChecks(steps: readonly Step[], context: PlanContext): Sliced<void> {
  const limits = { ...DEFAULT_LIMITS, ...context.limits };
  if (steps.length > limits.planSteps) {
    throw limitExceeded(
      'planSteps',
      'The plan',
      `has ${steps.length.toLocaleString('en-US')} steps`,
      limits.planSteps,
    );
  }
  const positions = new Map<string, number>();
  const byId = new Map<string, Step>();
  for (const [index, step] of steps.entries()) {
    byId.set(step.id, step);
    const first = positions.get(step.id);
    if (first !== undefined) {
      throw new TaskvisorError(
        'DUPLICATE_STEP_ID',
        `Step id "${step.id}" is used twice (steps[${first}] and steps[${index}]); give each step its own id.`,
        { stepId: step.id, indexes: [first, index] },
      );
    }
    positions.set(step.id, index);
  }
  yield;

  for (const step of steps) {
    if (step.dependsOn.includes(step.id)) {
      throw new TaskvisorError(
        'SELF_DEPENDENCY',
        `Step "${step.id}" depends on itself; remove "${step.id}" from its dependsOn.`,
        { stepId: step.id },
      );
    }
    for (const dependency of step.dependsOn) {
      if (!positions.has(dependency)) {
        throw new TaskvisorError(
          'UNKNOWN_DEPENDENCY',
          `Step "${step.id}" depends on "${dependency}", which is not a step of this plan${didYouMean(dependency, positions.keys())}; use one of: ${listOf(positions.keys())}.`,
          { stepId: step.id, dependency },
        );
      }
    }
  }

  const cycle = yield* cycleSearch(steps);
  if (cycle) {
    throw new TaskvisorError(
      'PLAN_CYCLE',
      `The plan has a dependency cycle: ${cycle.join(' -> ')}; remove one of these dependencies so the steps can run in order.`,
      { cycle },
    );
  }

  for (const step of steps) {
    checkStepAgainstContext(step, context);
    yield;
  }

  for (const step of steps) {
    yield;
    const references = templateReferences(step.action);
    for (const reference of references) {
      const where = `Step "${step.id}" (action.${reference.field})`;
      if (reference.problem !== undefined || reference.stepId === undefined) {
        throw new TaskvisorError('BAD_TEMPLATE_REFERENCE', `${where}: ${reference.problem}.`, {
          stepId: step.id,
          template: reference.raw,
          field: reference.field,
        });
      }
      if (!positions.has(reference.stepId)) {
        throw new TaskvisorError(
          'BAD_TEMPLATE_REFERENCE',
          `${where} uses ${reference.raw}, but there is no step "${reference.stepId}"${didYouMean(reference.stepId, positions.keys())}.`,
          { stepId: step.id, template: reference.raw, field: reference.field, reference: reference.stepId },
        );
      }
      if (!(yield* dependsOnTransitively(byId, step, reference.stepId))) {
        throw new TaskvisorError(
          'BAD_TEMPLATE_REFERENCE',
          `${where} uses ${reference.raw}, but "${reference.stepId}" is not one of its dependencies, so its output may not exist yet; add "${reference.stepId}" to the dependsOn of "${step.id}".`,
          { stepId: step.id, template: reference.raw, field: reference.field, reference: reference.stepId },
        );
      }
    }
  }
}

/** Whether `step` depends on `ancestor`, directly or through other steps (a walk that yields). */
function* dependsOnTransitively(
  byId: ReadonlyMap<string, Step>,
  step: Step,
  ancestor: string,
): Sliced<boolean> {
  if (step.dependsOn.includes(ancestor)) return true;
  const seen = new Set<string>();
  const stack = [...step.dependsOn];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (next === ancestor) return true;
    if (seen.has(next)) continue;
    seen.add(next);
    if (seen.size % 1024 === 0) yield;
    for (const dependency of byId.get(next)?.dependsOn ?? []) stack.push(dependency);
  }
  return false;
}

/** `steps[3] ("build")`: where a step is, with its id when it has one. */
function stepPath(index: number, step: unknown): string {
  const id = step !== null && typeof step === 'object' ? (step as { id?: unknown }).id : undefined;
  return typeof id === 'string' ? `steps[${index}] (${JSON.stringify(id.slice(0, 64))})` : `steps[${index}]`;
}

function checkStepAgainstContext(step: Step, context: PlanContext): void {
  const action = step.action;
  if (context.kinds && !context.kinds.includes(action.kind)) {
    throw new TaskvisorError(
      'UNKNOWN_ACTION_KIND',
      `Step "${step.id}" uses action kind "${action.kind}", which is not registered${didYouMean(action.kind, context.kinds)}; known kinds: ${listOf(context.kinds)}. Register it with createSupervisor({ actions: { ${quote(action.kind)}: async (input, ctx) => ({ output }) } }) or fix the kind.`,
      { stepId: step.id, kind: action.kind, known: [...context.kinds] },
    );
  }
  if (action.kind === 'shell' && context.shellCheck) {
    const command = action.command as string;
    const refusal = context.shellCheck(command, action.cwd as string | undefined);
    if (refusal !== undefined) {
      throw new TaskvisorError('SHELL_NOT_ALLOWED', `Step "${step.id}": ${refusal}`, {
        stepId: step.id,
        command,
        ...(context.shellAllow ? { allow: [...context.shellAllow] } : {}),
      });
    }
  }
  if (action.kind === 'shell' && context.shellEnvCheck && action.env !== undefined) {
    const refusal = context.shellEnvCheck(action.env as Record<string, string>);
    if (refusal !== undefined) {
      throw new TaskvisorError('SANDBOX_ESCAPE', `Step "${step.id}": ${refusal.message}`, {
        stepId: step.id,
        name: refusal.name,
      });
    }
  }
  if (action.kind === 'shell' && !context.shellCheck && context.shellAllow) {
    const command = action.command as string;
    if (!isShellCommandListed(command, context.shellAllow)) {
      throw new TaskvisorError(
        'SHELL_NOT_ALLOWED',
        context.shellAllow.length > 0
          ? `Step "${step.id}" runs "${command}", which is not in sandbox.allow (${listOf(context.shellAllow)}); add "${path.basename(command)}" to sandbox.allow or use an allowed binary.`
          : `Step "${step.id}" runs "${command}", but sandbox.allow is empty, so no shell step may run; configure createSupervisor({ sandbox: { allow: ["${path.basename(command)}"], cwd } }).`,
        { stepId: step.id, command, allow: [...context.shellAllow] },
      );
    }
  }
  if (action.kind === 'implement' && context.agents) {
    const agent = action.agent as string;
    if (!context.agents.includes(agent)) {
      throw new TaskvisorError(
        'UNKNOWN_AGENT',
        `Step "${step.id}" delegates to agent "${agent}", which is not registered${didYouMean(agent, context.agents)}; registered agents: ${context.agents.length > 0 ? listOf(context.agents) : 'none'}. Add it to createSupervisor({ agents }).`,
        { stepId: step.id, agent, known: [...context.agents] },
      );
    }
  }
  if (action.kind === 'fanout' && context.agents) {
    for (const target of action.targets as ReadonlyArray<{ agent?: unknown }>) {
      const agent = typeof target === 'object' && target !== null ? target.agent : undefined;
      if (typeof agent === 'string' && !context.agents.includes(agent)) {
        throw new TaskvisorError(
          'UNKNOWN_AGENT',
          `Step "${step.id}" fans out to agent "${agent}", which is not registered${didYouMean(agent, context.agents)}; registered agents: ${context.agents.length > 0 ? listOf(context.agents) : 'none'}. Add it to createSupervisor({ agents }).`,
          { stepId: step.id, agent, known: [...context.agents] },
        );
      }
    }
  }
  if (action.kind === 'notify' && context.channels) {
    const channel = (action.channel as string | undefined) ?? 'console';
    if (!context.channels.includes(channel)) {
      throw new TaskvisorError(
        'UNKNOWN_CHANNEL',
        `Step "${step.id}" notifies channel "${channel}", which is not configured${didYouMean(channel, context.channels)}; channels: ${listOf(context.channels)}. Add it to createSupervisor({ channels }).`,
        { stepId: step.id, channel, known: [...context.channels] },
      );
    }
  }
}

/** Name-level check; the sandbox resolves binaries on PATH before running them. */
function isShellCommandListed(command: string, allow: readonly string[]): boolean {
  if (allow.includes(command)) return true;
  if (command.includes('/')) return false;
  return allow.some((entry) => path.basename(entry) === command);
}

/** Every kind a supervisor knows: built-ins plus the registered custom kinds. */
export function knownKinds(custom: Iterable<string> = []): string[] {
  return [...new Set([...BUILTIN_ACTION_KINDS, ...custom])];
}

function listOf(values: Iterable<string>): string {
  return [...values].map((value) => `"${value}"`).join(', ');
}

function invalidPlan(issues: readonly z.core.$ZodIssue[], input: unknown): TaskvisorError {
  const problems = issues.map((issue) => {
    const where = formatPath(issue.path, input);
    return `${where || 'plan'}: ${issue.message}`;
  });
  const shown = problems.slice(0, 5).join('; ');
  const more = problems.length > 5 ? `; and ${problems.length - 5} more` : '';
  const first = issues[0];
  return new TaskvisorError('INVALID_PLAN', `Invalid plan: ${shown}${more}.`, {
    path: first ? formatPath(first.path, undefined) : '',
    issues: issues.map((issue) => ({
      path: formatPath(issue.path, undefined),
      message: issue.message,
    })),
  });
}

/** `steps[1].action.command`, with the step's id when the input has one: `steps[1] ("b").action.command`. */
function formatPath(issuePath: readonly PropertyKey[], input: unknown): string {
  let out = '';
  let node: unknown = input;
  for (const key of issuePath) {
    if (typeof key === 'number') {
      out += `[${key}]`;
    } else {
      out += out ? `.${String(key)}` : String(key);
    }
    node = node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[key] : undefined;
    if (typeof key === 'number' && out.startsWith('steps[') && out.indexOf(']') === out.length - 1) {
      const id = node && typeof node === 'object' ? (node as { id?: unknown }).id : undefined;
      if (typeof id === 'string') out += ` ("${id}")`;
    }
  }
  return out;
}
