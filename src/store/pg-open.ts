/**
 * Opening a PostgreSQL store for taskvisor: connect, refuse a schema that is not ours or
 * that a newer taskvisor wrote (untouched), migrate, and name the NOTIFY channels after
 * the schema the tables live in.
 */
import pg from 'pg';
import { pgStoreError } from './pg-errors.js';
import { migratePg, type PgMigration } from './pg-migrations.js';
import { signalChannels } from './pg-signals.js';
import { pgClientConfig, PgStore, type PgStoreOptions } from './pg-store.js';
import { pgTarget } from './pg-url.js';

export interface OpenPgStoreOptions extends PgStoreOptions {
  /** For tests of the migration runner. */
  readonly migrations?: readonly PgMigration[];
}

/**
 * Opens (creating its tables if needed) a taskvisor store in a PostgreSQL database. A
 * `?schema=name` parameter puts the tables in that schema (created when missing).
 *
 * @example
 * ```ts
 * const store = await openPgStore('postgres://app:secret@127.0.0.1:5432/agents');
 * const sv = await createSupervisor({ db: store });
 * ```
 */
export async function openPgStore(url: string, options: OpenPgStoreOptions = {}): Promise<PgStore> {
  const target = pgTarget(url);
  const config = pgClientConfig(target.connectionString, target.schema, options.connectTimeoutMs ?? 5000);
  const pool = new pg.Pool({ ...config, max: options.poolSize ?? 5, idleTimeoutMillis: 30_000 });
  pool.on('error', () => undefined);
  let schema: string;
  try {
    const client = await pool.connect();
    try {
      if (target.schema !== undefined) {
        await client
          .query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(target.schema)}`)
          .catch((error: unknown) => {
            // Another process created it at the same moment.
            const code = (error as { code?: string }).code;
            if (code !== '23505' && code !== '42P06') throw error;
          });
      }
      const current = await client.query<{ schema: string | null }>('SELECT current_schema() AS schema');
      schema = current.rows[0]?.schema ?? 'public';
      await migratePg(client, target.shown, options.migrations);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw pgStoreError(error, target.shown, 'open');
  }
  return new PgStore(pool, target.shown, signalChannels(schema), config, options);
}
