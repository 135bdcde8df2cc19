/**
 * What a fan-out's reducer decides, by mode. Only the deciding field of each mode is
 * required (`ranked_labels`, `synthesis`, `winner_label`); the prose around it is optional,
 * and absent (never an empty string) when the model did not give it.
 */
export interface CompareVerdict {
  readonly ranked_labels: string[];
  readonly summary?: string;
  readonly comparison?: string;
  readonly recommendation?: string;
}

export interface SummarizeVerdict {
  readonly synthesis: string;
  readonly summary?: string;
  readonly highlights?: string[];
}

export interface BestOfNVerdict {
  readonly winner_label: string;
  readonly summary?: string;
  readonly rationale?: string;
  readonly recommended_next_step?: string;
}

export type Verdict =
  | ({ readonly mode: 'compare' } & CompareVerdict)
  | ({ readonly mode: 'summarize' } & SummarizeVerdict)
  | ({ readonly mode: 'best_of_n' } & BestOfNVerdict);
