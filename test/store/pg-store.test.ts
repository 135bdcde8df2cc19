/**
 * `PgStore`: the store conformance suite on a real PostgreSQL server (a fresh schema per
 * test), and what only the PostgreSQL backend does: refusing a schema that is not its own
 * or that a newer taskvisor wrote without touching it, migrating once under concurrent
 * opens, being chosen by a postgres:// URL, and mapping a lost server to STORE_UNAVAILABLE.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { isTaskvisorError } from '../../src/errors.js';
import { PG_MIGRATIONS, PG_SCHEMA_VERSION } from '../../src/store/pg-migrations.js';
import { openPgStore } from '../../src/store/pg-open.js';
import type { PgStore } from '../../src/store/pg-store.js';
import { createSupervisor } from '../../src/supervisor.js';
import { explainSkip, freshSchemaUrl, pgQuery, withPostgres } from '../support/postgres.js';
import { describeStoreConformance } from './conformance/index.js';
import { createRun } from './conformance/fixtures.js';

explainSkip('the PostgreSQL store tests');

const opened: PgStore[] = [];
afterAll(async () => {
  for (const store of opened.splice(0)) await store.close();
});

async function open(url: string, options?: Parameters<typeof openPgStore>[1]): Promise<PgStore> {
  const store = await openPgStore(url, options);
  opened.push(store);
  return store;
}

/** Every table of a schema with its row count and the meta rows: to compare before and after. */
async function fingerprint(url: string): Promise<unknown> {
  const schema = new URL(url).searchParams.get('schema');
  const tables = await pgQuery<{ name: string }>(
    url,
    'SELECT tablename AS name FROM pg_tables WHERE schemaname = $1 ORDER BY tablename',
    [schema],
  );
  const counts: Record<string, unknown> = {};
  for (const { name } of tables) {
    counts[name] = (await pgQuery(url, `SELECT count(*)::int AS n FROM "${name}"`))[0];
  }
  const meta = tables.some((table) => table.name === 'taskvisor_meta')
    ? await pgQuery(url, 'SELECT key, value FROM taskvisor_meta ORDER BY key')
    : [];
  return { counts, meta };
}

describe.runIf(withPostgres)('PgStore', () => {
  let conformanceUrl = '';
  describeStoreConformance({
    name: 'PgStore on PostgreSQL',
    open: async () => {
      conformanceUrl = freshSchemaUrl('conf');
      return openPgStore(conformanceUrl);
    },
    connect: async () => openPgStore(conformanceUrl),
  });

  describe('openPgStore', () => {
    it('creates its schema and tables on first open, and records the schema version', async () => {
      const url = freshSchemaUrl();
      await open(url);
      const meta = await pgQuery<{ key: string; value: string }>(
        url,
        'SELECT key, value FROM taskvisor_meta ORDER BY key',
      );
      expect(meta.filter((row) => row.key !== 'machine_version')).toEqual([
        { key: 'app', value: 'taskvisor' },
        { key: 'schema_version', value: String(PG_SCHEMA_VERSION) },
      ]);
    });

    it('refuses a database written by a newer taskvisor with SCHEMA_TOO_NEW and leaves it untouched', async () => {
      const url = freshSchemaUrl();
      const store = await open(url);
      await store.commit(createRun('r1'));
      await pgQuery(url, "UPDATE taskvisor_meta SET value = $1 WHERE key = 'schema_version'", [
        String(PG_SCHEMA_VERSION + 1),
      ]);
      const before = await fingerprint(url);
      const error = await openPgStore(url).catch((caught: unknown) => caught);
      expect(isTaskvisorError(error, 'SCHEMA_TOO_NEW'), String(error)).toBe(true);
      expect((error as Error).message).toContain(`schema version ${PG_SCHEMA_VERSION + 1}`);
      expect((error as Error).message).not.toContain(new URL(url).password);
      expect(await fingerprint(url)).toEqual(before);
    });

    it("refuses a schema holding another application's tables named like taskvisor's, untouched", async () => {
      const url = freshSchemaUrl();
      const schema = new URL(url).searchParams.get('schema')!;
      await pgQuery(url, `CREATE SCHEMA ${schema}`);
      await pgQuery(url, `CREATE TABLE ${schema}.runs (id int primary key, note text)`);
      await pgQuery(url, `INSERT INTO ${schema}.runs VALUES (1, 'a marathon')`);
      const before = await fingerprint(url);
      const error = await openPgStore(url).catch((caught: unknown) => caught);
      expect(isTaskvisorError(error, 'NOT_A_TASKVISOR_DB'), String(error)).toBe(true);
      expect((error as Error).message).toContain('runs');
      expect(await fingerprint(url)).toEqual(before);
    });

    it('runs a migration once when several processes open a fresh database at the same moment', async () => {
      const url = freshSchemaUrl();
      let ran = 0;
      const counted = PG_MIGRATIONS.map((migration) => ({
        ...migration,
        up: async (client: Parameters<typeof migration.up>[0]) => {
          ran += 1;
          await migration.up(client);
        },
      }));
      await Promise.all(Array.from({ length: 5 }, () => open(url, { migrations: counted })));
      expect(ran).toBe(PG_MIGRATIONS.length);
    });

    it('runs a later migration exactly once on a later open', async () => {
      const url = freshSchemaUrl();
      await open(url);
      const next = {
        version: PG_SCHEMA_VERSION + 1,
        description: 'a test column',
        up: async (client: Parameters<(typeof PG_MIGRATIONS)[number]['up']>[0]) => {
          await client.query('ALTER TABLE runs ADD COLUMN test_note text');
        },
      };
      await open(url, { migrations: [...PG_MIGRATIONS, next] });
      await open(url, { migrations: [...PG_MIGRATIONS, next] });
      const columns = await pgQuery<{ name: string }>(
        url,
        "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'runs' AND column_name = 'test_note'",
        [new URL(url).searchParams.get('schema')],
      );
      expect(columns).toHaveLength(1);
      const version = await pgQuery<{ value: string }>(
        url,
        "SELECT value FROM taskvisor_meta WHERE key = 'schema_version'",
      );
      expect(version[0]?.value).toBe(String(PG_SCHEMA_VERSION + 1));
    });

    it('says STORE_UNAVAILABLE, transient, naming the server without its password, when nothing listens', async () => {
      const error = await openPgStore('postgres://someone:hunter2@127.0.0.1:1/none', {
        connectTimeoutMs: 1000,
      }).catch((caught: unknown) => caught);
      expect(isTaskvisorError(error, 'STORE_UNAVAILABLE'), String(error)).toBe(true);
      expect((error as { details: { transient: boolean } }).details.transient).toBe(true);
      expect((error as Error).message).toContain('postgres://someone:***@127.0.0.1:1/none');
      expect((error as Error).message).not.toContain('hunter2');
    });

    it('refuses a bad schema name in the URL with INVALID_OPTION', async () => {
      await expect(openPgStore('postgres://127.0.0.1/db?schema=drop%20table')).rejects.toMatchObject({
        code: 'INVALID_OPTION',
      });
    });

    it('is chosen by createSupervisor for a postgres:// or postgresql:// URL in db or TASKVISOR_DB', async () => {
      const url = freshSchemaUrl();
      const plan = { steps: [{ id: 'a', action: { kind: 'note', output: 'hi' } }] };
      const sv = await createSupervisor({ db: url });
      const run = await sv.start({ goal: 'pg', plan });
      expect((await run.done).outputs).toEqual({ a: 'hi' });
      await sv.close();
      const rows = await pgQuery<{ id: string; phase: string }>(url, 'SELECT id, phase FROM runs');
      expect(rows).toEqual([{ id: run.id, phase: 'completed' }]);

      const previous = process.env.TASKVISOR_DB;
      process.env.TASKVISOR_DB = url.replace(/^postgres:/, 'postgresql:');
      try {
        const fromEnv = await createSupervisor({});
        expect((await fromEnv.list()).map((view) => view.id)).toEqual([run.id]);
        expect(await fromEnv.verifyAudit()).toMatchObject({ ok: true });
        await fromEnv.close();
      } finally {
        if (previous === undefined) delete process.env.TASKVISOR_DB;
        else process.env.TASKVISOR_DB = previous;
      }
    });
  });
});
