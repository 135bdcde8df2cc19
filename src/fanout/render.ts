/**
 * A reduction verdict as Markdown. Pure.
 */
import type { Verdict } from './verdict.js';

const code = (label: string) => `\`${label.replaceAll('`', "'")}\``;

/**
 * Renders a verdict as a Markdown section: a heading per mode, the summary, then the
 * mode's own parts (ranking, synthesis and highlights, or winner and next step). A part
 * the verdict leaves out is left out (a compare without a recommendation recommends the
 * first ranked answer).
 *
 * @example
 * ```ts
 * renderReductionMarkdown({ mode: 'best_of_n', summary: 'Both fine.', winner_label: 'a',
 *   rationale: 'Shorter.', recommended_next_step: 'Ship it.' });
 * // '## Best of N\n\n**Winner:** `a`\n\nBoth fine.\n\n### Rationale\n\nShorter.\n\n...'
 * renderReductionMarkdown({ mode: 'best_of_n', winner_label: 'a' }); // '## Best of N\n\n**Winner:** `a`\n'
 * ```
 */
export function renderReductionMarkdown(verdict: Verdict): string {
  const parts: string[] = [];
  const section = (heading: string, text: string | undefined) => {
    if (text !== undefined && text.trim() !== '') parts.push(heading, text);
  };
  const paragraph = (text: string | undefined) => {
    if (text !== undefined && text.trim() !== '') parts.push(text);
  };
  switch (verdict.mode) {
    case 'compare': {
      parts.push('## Comparison');
      paragraph(verdict.summary);
      paragraph(verdict.comparison);
      parts.push(
        '### Ranking',
        verdict.ranked_labels.map((label, index) => `${index + 1}. ${code(label)}`).join('\n'),
      );
      const first = verdict.ranked_labels[0];
      section(
        '### Recommendation',
        verdict.recommendation ?? (first === undefined ? undefined : `Use ${code(first)} (ranked first).`),
      );
      break;
    }
    case 'summarize':
      parts.push('## Summary');
      paragraph(verdict.summary);
      section('### Synthesis', verdict.synthesis);
      if (verdict.highlights && verdict.highlights.length > 0) {
        parts.push('### Highlights', verdict.highlights.map((point) => `- ${point}`).join('\n'));
      }
      break;
    case 'best_of_n':
      parts.push('## Best of N', `**Winner:** ${code(verdict.winner_label)}`);
      paragraph(verdict.summary);
      section('### Rationale', verdict.rationale);
      section('### Recommended next step', verdict.recommended_next_step);
      break;
  }
  return `${parts.map((part) => part.trim()).join('\n\n')}\n`;
}
