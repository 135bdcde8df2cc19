/**
 * Episodic memory: past delegation outcomes and run summaries, searched by full text
 * (SQLite FTS5 behind the `Store` port). `relevantEpisodes` renders the best matches for a
 * prompt or a delegation spec under a size budget.
 */
import { TaskvisorError } from '../errors.js';
import type { RecordStore } from '../store/store.js';
import type { Episode } from '../store/rows.js';
import { clip } from './episodes.js';

/** Default number of episodes a search returns. */
export const DEFAULT_SEARCH_LIMIT = 10;
/** Most episodes a search returns. */
export const MAX_SEARCH_LIMIT = 100;

export interface SearchOptions {
  /** At most this many episodes, best first (default 10, at most 100). */
  readonly limit?: number;
}

/** `supervisor.memory`. */
export interface EpisodicMemory {
  /**
   * Episodes whose title or text matches words of `text`, most relevant first. Any text is
   * safe: quotes and FTS operators in it are searched as words, never parsed.
   */
  search(text: string, options?: SearchOptions): Promise<Episode[]>;
  /**
   * The most relevant episodes rendered as text of at most `budgetChars` characters
   * (empty when nothing matches), for a prompt or a delegation spec.
   */
  relevantEpisodes(text: string, budgetChars: number): Promise<string>;
}

/**
 * Episodic memory over a store.
 *
 * @example
 * ```ts
 * const memory = createEpisodicMemory(openSqliteStore('runs.db'));
 * const episodes = await memory.search('deploy "staging" failed', { limit: 5 });
 * const context = await memory.relevantEpisodes('Add OAuth login', 2000);
 * ```
 */
export function createEpisodicMemory(store: Pick<RecordStore, 'searchEpisodes'>): EpisodicMemory {
  return {
    search: (text, options = {}) => store.searchEpisodes(text, { limit: searchLimit(options.limit) }),
    relevantEpisodes: (text, budgetChars) => relevantEpisodes(store, text, budgetChars),
  };
}

/**
 * The most relevant past episodes for `text`, rendered under `budgetChars` characters: a
 * heading, then one block per episode (title, then its text), best first; an episode that
 * does not fit whole is cut (at least 200 characters of it), the rest left out. Empty when
 * nothing matches or the budget is under 200 characters.
 *
 * @example
 * ```ts
 * const recalled = await relevantEpisodes(store, goal, 1500);
 * const prompt = recalled ? `${goal}\n\n${recalled}` : goal;
 * ```
 */
export async function relevantEpisodes(
  store: Pick<RecordStore, 'searchEpisodes'>,
  text: string,
  budgetChars: number,
): Promise<string> {
  if (!Number.isFinite(budgetChars) || budgetChars < MIN_BLOCK_CHARS + HEADING.length) return '';
  const episodes = await store.searchEpisodes(text, { limit: DEFAULT_SEARCH_LIMIT });
  return renderEpisodes(episodes, budgetChars);
}

const HEADING = 'Relevant past episodes (from episodic memory):';
const MIN_BLOCK_CHARS = 200;

/** Renders episodes under a budget (see `relevantEpisodes`). */
export function renderEpisodes(episodes: readonly Episode[], budgetChars: number): string {
  if (episodes.length === 0) return '';
  let out = HEADING;
  for (const episode of episodes) {
    const block = `\n\n## ${episode.title}\n${episode.text}`;
    const room = budgetChars - out.length;
    if (block.length <= room) {
      out += block;
      continue;
    }
    if (room >= MIN_BLOCK_CHARS) out += clip(block, room);
    break;
  }
  return out === HEADING ? '' : out;
}

function searchLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_SEARCH_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `memory.search: limit must be an integer from 1 to ${MAX_SEARCH_LIMIT}, got ${JSON.stringify(limit)}.`,
      { field: 'limit', value: limit },
    );
  }
  return limit;
}
