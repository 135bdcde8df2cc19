/** The lines printed when a run ends: its phase, how long it took, and what each step gave. */
import type { RunView } from '../model/views.js';
import { fanoutOutputLines } from './fanout-lines.js';
import { formatDuration, formatUsage, oneLine, shownOutput } from './style.js';

export function summaryLines(view: RunView): string[] {
  const lines = [`run ${view.id} ${view.phase} in ${formatDuration(view.updatedAt - view.createdAt)}`];
  if (view.result?.error) lines.push(`  error: ${oneLine(view.result.error, 300)}`);
  for (const step of view.steps) {
    const fanout = step.kind === 'fanout' ? fanoutOutputLines(step.output) : undefined;
    if (step.state === 'succeeded' && fanout) {
      lines.push(`  ${step.id}:`, ...fanout.map((line) => `    ${line}`));
    } else if (step.state === 'succeeded' && step.output !== undefined) {
      lines.push(`  ${step.id}: ${oneLine(shownOutput(step.output))}`);
    } else if (step.state !== 'succeeded') {
      lines.push(`  ${step.id}: ${step.state}${step.reason ? ` (${step.reason})` : ''}`);
    }
  }
  const { inputTokens, outputTokens } = view.usage;
  if (inputTokens + outputTokens > 0) lines.push(`  usage: ${formatUsage(view.usage)}`);
  return lines;
}
