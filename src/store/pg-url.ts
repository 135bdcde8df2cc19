/**
 * `db` values that select the PostgreSQL store: `postgres://` and `postgresql://` URLs,
 * with taskvisor's own query parameter `schema` (the schema its tables live in, created
 * when missing; default: the server's search_path, usually `public`).
 */
import { TaskvisorError } from '../errors.js';
import { redactUrl } from './pg-errors.js';

/** Whether `db` is a PostgreSQL URL (and so selects the PostgreSQL store). */
export function isPostgresUrl(db: unknown): db is string {
  return typeof db === 'string' && /^postgres(ql)?:\/\//i.test(db);
}

export interface PgTarget {
  /** The URL node-postgres connects with (taskvisor's own parameters removed). */
  readonly connectionString: string;
  /** The schema from `?schema=`, when given. */
  readonly schema?: string;
  /** The URL for messages: the password replaced by `***`. */
  readonly shown: string;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;

/**
 * Splits a PostgreSQL URL into what node-postgres takes and taskvisor's own `schema`.
 *
 * @example
 * ```ts
 * pgTarget('postgres://app:secret@db:5432/agents?schema=taskvisor');
 * // { connectionString: 'postgres://app:secret@db:5432/agents', schema: 'taskvisor', shown: 'postgres://app:***@db:5432/agents?schema=taskvisor' }
 * ```
 */
export function pgTarget(url: string): PgTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `db: ${JSON.stringify(redactUrl(url))} is not a valid URL; write it as postgres://user:password@host:5432/database (percent-encode special characters in the password).`,
      { db: redactUrl(url) },
    );
  }
  const shown = redactUrl(url);
  const schema = parsed.searchParams.get('schema') ?? undefined;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `db: schema ${JSON.stringify(schema)} in ${shown} is not a plain schema name; use letters, digits and _ (at most 48, not starting with a digit).`,
      { schema },
    );
  }
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), ...(schema === undefined ? {} : { schema }), shown };
}
