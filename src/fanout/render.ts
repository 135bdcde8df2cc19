/**
 * A reduction verdict as Markdown. Pure.
 */
import type { Verdict } from './verdict.js';

const code = (label: string) => `\`${label.replaceAll('`', "'")}\``;

/**
 * Renders a verdict as a Markdown section: a heading per mode, the summary, then the
 * mode's own parts (ranking, synthesis and highlights, or winner and next step).
 *
 * @example
 * ```ts
 * renderReductionMarkdown({ mode: 'best_of_n', summary: 'Both fine.', winner_label: 'a',
 *   rationale: 'Shorter.', recommended_next_step: 'Ship it.' });
 * // '## Best of N\n\n**Winner:** `a`\n\nBoth fine.\n\n### Rationale\n\nShorter.\n\n...'
 * ```
 */
export function renderReductionMarkdown(verdict: Verdict): string {
  const parts: string[] = [];
  switch (verdict.mode) {
    case 'compare':
      parts.push(
        '## Comparison',
        verdict.summary,
        verdict.comparison,
        '### Ranking',
        verdict.ranked_labels.map((label, index) => `${index + 1}. ${code(label)}`).join('\n'),
        '### Recommendation',
        verdict.recommendation,
      );
      break;
    case 'summarize':
      parts.push('## Summary', verdict.summary, '### Synthesis', verdict.synthesis);
      if (verdict.highlights.length > 0) {
        parts.push('### Highlights', verdict.highlights.map((point) => `- ${point}`).join('\n'));
      }
      break;
    case 'best_of_n':
      parts.push(
        '## Best of N',
        `**Winner:** ${code(verdict.winner_label)}`,
        verdict.summary,
        '### Rationale',
        verdict.rationale,
        '### Recommended next step',
        verdict.recommended_next_step,
      );
      break;
  }
  return `${parts.map((part) => part.trim()).join('\n\n')}\n`;
}
