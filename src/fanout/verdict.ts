/** What a fan-out's reducer decides, by mode. */
export interface CompareVerdict {
  readonly summary: string;
  readonly comparison: string;
  readonly recommendation: string;
  readonly ranked_labels: string[];
}

export interface SummarizeVerdict {
  readonly summary: string;
  readonly synthesis: string;
  readonly highlights: string[];
}

export interface BestOfNVerdict {
  readonly summary: string;
  readonly winner_label: string;
  readonly rationale: string;
  readonly recommended_next_step: string;
}

export type Verdict =
  | ({ readonly mode: 'compare' } & CompareVerdict)
  | ({ readonly mode: 'summarize' } & SummarizeVerdict)
  | ({ readonly mode: 'best_of_n' } & BestOfNVerdict);
