/** The lines printed when a run ends: its phase, how long it took, and what each step gave. */
import type { RunView } from '../model/views.js';
import { formatDuration, oneLine, shownOutput } from './style.js';

export function summaryLines(view: RunView): string[] {
  const lines = [`run ${view.id} ${view.phase} in ${formatDuration(view.updatedAt - view.createdAt)}`];
  if (view.result?.error) lines.push(`  error: ${oneLine(view.result.error, 300)}`);
  for (const step of view.steps) {
    if (step.state === 'succeeded' && step.output !== undefined) {
      lines.push(`  ${step.id}: ${oneLine(shownOutput(step.output))}`);
    } else if (step.state !== 'succeeded') {
      lines.push(`  ${step.id}: ${step.state}${step.reason ? ` (${step.reason})` : ''}`);
    }
  }
  const { inputTokens, outputTokens, costUsd } = view.usage;
  if (inputTokens + outputTokens > 0) {
    lines.push(`  usage: ${inputTokens} in + ${outputTokens} out tokens, $${costUsd.toFixed(4)}`);
  }
  return lines;
}
