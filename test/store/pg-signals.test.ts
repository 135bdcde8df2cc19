/**
 * LISTEN/NOTIFY on PostgreSQL: a process that follows the log (a client, `drive: 'none'`,
 * that polls only once a minute) sees another process's commits live, in order, once each;
 * when its listening connection is cut by the server, it listens again and catches up from
 * its cursor, with no gap and no duplicate.
 */
import { describe, expect, it } from 'vitest';
import type { TaskvisorEvent } from '../../src/model/events.js';
import { explainSkip, freshSchemaUrl, pgQuery, withPostgres } from '../support/postgres.js';
import { useSupervisorHarness } from '../support/supervisor-harness.js';
import { until } from '../support/until.js';

explainSkip('the LISTEN/NOTIFY tests');

const chain = (n: number) => ({
  steps: Array.from({ length: n }, (_, index) => ({
    id: `s${index}`,
    dependsOn: index === 0 ? [] : [`s${index - 1}`],
    action: { kind: 'note', output: index },
  })),
});

describe.runIf(withPostgres)('LISTEN/NOTIFY wake-ups', () => {
  const harness = useSupervisorHarness();

  it('brings committed events to another process live, and catches up after its listening connection is cut', async () => {
    const db = freshSchemaUrl('signals');
    const schema = new URL(db).searchParams.get('schema')!;
    // Polling once a minute: whatever arrives within the test came by NOTIFY.
    const follower = await harness.open({ db, drive: 'none', pollMs: 60_000 });
    const seen: TaskvisorEvent[] = [];
    follower.events({ after: 0 }).subscribe((event) => seen.push(event));
    const writer = await harness.open({ db });

    const first = await writer.start({ goal: 'before the cut', plan: chain(3) });
    await first.done;
    const firstSeqs = (await writer.trace(first.id)).events.map((event) => event.seq);
    await until(() => seen.length >= firstSeqs.length, { what: 'the first run live', withinMs: 10_000 });

    // The server ends the follower's listening session (its last statement LISTENed on this schema's channels).
    const cut = await pgQuery<{ pid: number }>(
      db,
      `SELECT pid FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()`,
      [`LISTEN %${schema}%`],
    );
    expect(cut.length).toBeGreaterThan(0);
    await pgQuery(db, 'SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [
      cut.map((row) => row.pid),
    ]);
    const second = await writer.start({ goal: 'during and after the cut', plan: chain(5) });
    await second.done;
    const all = [...firstSeqs, ...(await writer.trace(second.id)).events.map((event) => event.seq)];
    await until(() => seen.length >= all.length, { what: 'the second run after the cut', withinMs: 15_000 });
    expect(seen.map((event) => event.seq)).toEqual(all);
    expect(all).toEqual(all.map((_, index) => index + 1));
  }, 30_000);
});
