/**
 * A run's plan as a Mermaid flowchart: one node per step (its title, kind and state), an
 * edge per dependency, each node coloured by its step's state.
 */
import type { StepState } from '../model/states.js';
import type { RunView } from '../model/views.js';

const STATE_CLASSES: Readonly<Record<StepState, string>> = {
  pending: 'fill:#f4f4f5,stroke:#a1a1aa,color:#3f3f46',
  awaitingConfirmation: 'fill:#fef3c7,stroke:#d97706,color:#78350f',
  running: 'fill:#dbeafe,stroke:#2563eb,color:#1e3a8a',
  awaitingInput: 'fill:#fef3c7,stroke:#d97706,color:#78350f',
  retrying: 'fill:#ede9fe,stroke:#7c3aed,color:#4c1d95',
  interrupted: 'fill:#ffedd5,stroke:#ea580c,color:#7c2d12',
  succeeded: 'fill:#dcfce7,stroke:#16a34a,color:#14532d',
  failed: 'fill:#fee2e2,stroke:#dc2626,color:#7f1d1d',
  skipped: 'fill:#f4f4f5,stroke:#d4d4d8,color:#71717a,stroke-dasharray:4 3',
  cancelled: 'fill:#f4f4f5,stroke:#52525b,color:#52525b,stroke-dasharray:4 3',
};

/** Text inside a quoted Mermaid label: quotes and angle brackets as entities. */
function label(text: string): string {
  return text.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}

/**
 * @example
 * ```ts
 * console.log(runToMermaid(await sv.get(runId)));
 * ```
 */
export function runToMermaid(view: RunView): string {
  const nodeIds = new Map(view.steps.map((step, index) => [step.id, `s${index}`]));
  const lines = ['flowchart TD'];
  for (const step of view.steps) {
    const title = step.title !== step.id ? `${step.id}: ${step.title}` : step.id;
    const attempt = step.attempt > 1 ? ` #${step.attempt}` : '';
    lines.push(
      `  ${nodeIds.get(step.id)}["${label(title)}<br/><small>${label(step.kind)} · ${step.state}${attempt}</small>"]`,
    );
  }
  for (const step of view.steps) {
    for (const dependency of step.dependsOn) {
      const from = nodeIds.get(dependency);
      if (from) lines.push(`  ${from} --> ${nodeIds.get(step.id)}`);
    }
  }
  const used = new Set(view.steps.map((step) => step.state));
  for (const state of used) lines.push(`  classDef ${state} ${STATE_CLASSES[state]}`);
  for (const state of used) {
    const members = view.steps.filter((step) => step.state === state).map((step) => nodeIds.get(step.id));
    lines.push(`  class ${members.join(',')} ${state}`);
  }
  return `${lines.join('\n')}\n`;
}
