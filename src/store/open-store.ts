/**
 * The store a `db` value names: a postgres:// or postgresql:// URL opens the PostgreSQL
 * store (loaded only then), anything else is a SQLite file (or `:memory:`).
 */
import { openSqliteStore } from './sqlite-open.js';
import { isPostgresUrl } from './pg-url.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** SQLite only: `normal` (default) or `full` (an fsync per commit). */
  readonly durability?: 'normal' | 'full';
}

/**
 * Opens the store `db` names.
 *
 * @example
 * ```ts
 * const store = await openStore(process.env.TASKVISOR_DB ?? '.taskvisor/taskvisor.db');
 * ```
 */
export async function openStore(db: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (isPostgresUrl(db)) {
    const { openPgStore } = await import('./pg-open.js');
    return openPgStore(db);
  }
  return openSqliteStore(db, { durability: options.durability ?? 'normal' });
}
