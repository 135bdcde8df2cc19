import type { AnyStateMachine } from 'xstate';
import { allStateIds, allTransitions, describeTransition } from './pure.js';
import type { Coverage } from './run-world.js';

export interface CoverageReport {
  readonly machine: string;
  readonly states: { readonly reached: number; readonly total: number };
  readonly transitions: { readonly taken: number; readonly total: number };
  readonly missingStates: string[];
  readonly missingTransitions: string[];
}

export function coverageOf(coverage: Coverage, machine: AnyStateMachine): CoverageReport {
  const stateIds = allStateIds(machine);
  const reached = coverage.states.get(machine) ?? new Set<string>();
  const transitions = allTransitions(machine);
  const taken = coverage.transitions.get(machine) ?? new Set();
  const missingStates = stateIds.filter((id) => !reached.has(id));
  const missingTransitions = transitions
    .filter((t) => !taken.has(t))
    .map((t) => describeTransition(machine, t));
  return {
    machine: machine.id,
    states: { reached: stateIds.length - missingStates.length, total: stateIds.length },
    transitions: { taken: transitions.length - missingTransitions.length, total: transitions.length },
    missingStates,
    missingTransitions,
  };
}

/** One line per machine, e.g. `coverage task: states 9/9 (100%), transitions 41/41 (100%)`. */
export function formatCoverage(report: CoverageReport): string {
  const pct = (a: number, b: number) => `${b === 0 ? 100 : Math.floor((a / b) * 1000) / 10}%`;
  return `coverage ${report.machine}: states ${report.states.reached}/${report.states.total} (${pct(report.states.reached, report.states.total)}), transitions ${report.transitions.taken}/${report.transitions.total} (${pct(report.transitions.taken, report.transitions.total)})`;
}
