/**
 * The PostgreSQL server the tests use: `TASKVISOR_TEST_PG_URL`, which `.ci/run` (and
 * `npm run test:pg`) set for a throwaway cluster they start. In CI the tests always run
 * (and fail when the server is missing); elsewhere they are skipped, with the reason
 * printed, when no server is reachable.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_URL = process.env.TASKVISOR_TEST_PG_URL;

async function reachable(url: string | undefined): Promise<string | undefined> {
  if (!url) return 'TASKVISOR_TEST_PG_URL is not set (run `npm run test:pg` to start a throwaway server)';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return `the server at TASKVISOR_TEST_PG_URL cannot be reached (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const unreachable = await reachable(PG_URL);

/** Whether the PostgreSQL tests run: always in CI, elsewhere when a server is reachable. */
export const withPostgres = process.env.CI === 'true' || unreachable === undefined;

/** Prints why the PostgreSQL tests of `file` are skipped (call once per file). */
export function explainSkip(what: string): void {
  if (!withPostgres) console.log(`skipping ${what}: ${unreachable}`);
}

/** The test server's URL with a new, empty schema of its own (each test gets a fresh store). */
export function freshSchemaUrl(prefix = 't'): string {
  const url = new URL(PG_URL ?? 'postgres://127.0.0.1/none');
  url.searchParams.set('schema', `${prefix}_${randomBytes(6).toString('hex')}`);
  return url.toString();
}

/** Runs `sql` on the test server (an admin connection of the test's own). */
export async function pgQuery<R extends pg.QueryResultRow = Record<string, unknown>>(
  url: string,
  sql: string,
  values: unknown[] = [],
): Promise<R[]> {
  const target = new URL(url);
  const schema = target.searchParams.get('schema');
  target.searchParams.delete('schema');
  const client = new pg.Client({
    connectionString: target.toString(),
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  await client.connect();
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end();
  }
}
