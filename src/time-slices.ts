/**
 * Long synchronous work in slices: a `Sliced` check yields between pieces, and
 * `runInSlices` gives the event loop a turn (`setImmediate`) whenever a slice has run for
 * `sliceMs`, so validating a 10,000-step plan never holds the loop for long.
 */
import { type PlanContext, planChecks, runToEnd, type Sliced } from './model/parse-plan.js';
import type { Plan } from './model/plan.js';

/** How long a slice may run before the event loop gets a turn, in ms. */
export const SLICE_MS = 8;

/**
 * Runs `work` to its end, yielding to the event loop every `sliceMs` of work.
 *
 * @example
 * ```ts
 * const plan = await runInSlices(planChecks(input, context));
 * ```
 */
export async function runInSlices<T>(work: Sliced<T>, sliceMs = SLICE_MS): Promise<T> {
  let sliceStart = performance.now();
  let next = work.next();
  while (!next.done) {
    if (performance.now() - sliceStart >= sliceMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
    next = work.next();
  }
  return next.value;
}

/**
 * `items.map(map)`, giving the event loop a turn whenever a slice has run for `sliceMs`.
 *
 * @example
 * ```ts
 * const outlines = await mapInSlices(plan.steps, stepOutline);
 * ```
 */
export async function mapInSlices<T, R>(
  items: readonly T[],
  map: (item: T) => R,
  sliceMs = SLICE_MS,
): Promise<R[]> {
  const out: R[] = [];
  let sliceStart = performance.now();
  for (const item of items) {
    out.push(map(item));
    if (performance.now() - sliceStart >= sliceMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
  return out;
}

/**
 * Plans of at most this many steps are checked in one go: their check is short, and
 * plans started together in one turn of the event loop are then committed together.
 */
export const SLICED_PLAN_STEPS = 256;

/**
 * `planChecks(input, context)` run to its end: at once for a plan of up to
 * `SLICED_PLAN_STEPS` steps, in slices (a promise) for a bigger one.
 *
 * @example
 * ```ts
 * const plan = await checkPlanInSlices(input, context);
 * ```
 */
export function checkPlanInSlices(input: unknown, context: PlanContext): Plan | Promise<Plan> {
  const steps = (input as { steps?: unknown } | null | undefined)?.steps;
  const big = Array.isArray(steps) && steps.length > SLICED_PLAN_STEPS;
  return big ? runInSlices(planChecks(input, context)) : runToEnd(planChecks(input, context));
}
