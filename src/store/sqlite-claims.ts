/**
 * What SQLite does for workers and retention: claiming runs that need a driver (one
 * IMMEDIATE transaction, so two claimants never get the same run), the holders of live
 * leases on a host, and pruning whole finished runs with their audit chains.
 */
import type Database from 'better-sqlite3';
import { TERMINAL_PHASES } from '../model/states.js';
import type { LeaseClaim } from './rows.js';
import type { PruneQuery } from './store.js';

const TERMINAL = JSON.stringify([...TERMINAL_PHASES]);

export function claimRunsSync(
  db: Database.Database,
  claim: LeaseClaim,
  options: { now: number; ttlMs: number; limit: number; deadHolders?: readonly string[] },
): Array<{ runId: string; fence: number; takenOver: boolean }> {
  return db
    .transaction(() => {
      const free = db
        .prepare(
          `SELECT id, fence, owner FROM runs
           WHERE phase NOT IN (SELECT value FROM json_each(?))
             AND (owner IS NULL OR COALESCE(lease_expires_at, 0) < ? OR owner IN (SELECT value FROM json_each(?)))
           ORDER BY created_at, id LIMIT ?`,
        )
        .all(
          TERMINAL,
          options.now,
          JSON.stringify(options.deadHolders ?? []),
          Math.max(0, Math.floor(options.limit)),
        ) as Array<{ id: string; fence: number; owner: string | null }>;
      const take = db.prepare(
        `UPDATE runs SET owner = ?, owner_host = ?, owner_pid = ?, lease_expires_at = ?, fence = fence + 1
         WHERE id = ?`,
      );
      for (const run of free)
        take.run(claim.owner, claim.host, claim.pid, options.now + options.ttlMs, run.id);
      return free.map((run) => ({ runId: run.id, fence: run.fence + 1, takenOver: run.owner !== null }));
    })
    .immediate();
}

export function leaseHoldersSync(
  db: Database.Database,
  host: string,
  now: number,
): Array<{ owner: string; pid: number }> {
  return db
    .prepare(
      `SELECT DISTINCT owner, owner_pid AS pid FROM runs
       WHERE owner IS NOT NULL AND owner_host = ? AND lease_expires_at >= ?
         AND phase NOT IN (SELECT value FROM json_each(?))`,
    )
    .all(host, now, TERMINAL) as Array<{ owner: string; pid: number }>;
}

/** The tables that hold rows of a run (beside `runs`), deleted with it. Episodes are kept. */
const RUN_TABLES = ['events', 'plans', 'actors', 'outputs', 'attempts', 'requests', 'commands', 'artifacts'];

/**
 * Deletes whole finished runs in one IMMEDIATE transaction. The audit trail's delete
 * trigger is lifted for that transaction only (and put back as it was), so its rows of
 * those runs go too and every chain that remains still verifies.
 */
export function pruneRunsSync(
  db: Database.Database,
  query: PruneQuery,
): { runIds: string[]; events: number } {
  const phases = query.phases.filter((phase) => TERMINAL_PHASES.has(phase));
  if (phases.length === 0) return { runIds: [], events: 0 };
  return db
    .transaction(() => {
      const ids = (
        db
          .prepare('SELECT id FROM runs WHERE phase IN (SELECT value FROM json_each(?)) AND updated_at < ?')
          .all(JSON.stringify(phases), query.endedBefore) as Array<{ id: string }>
      ).map((row) => row.id);
      if (ids.length === 0) return { runIds: [], events: 0 };
      const list = JSON.stringify(ids);
      let events = 0;
      for (const table of RUN_TABLES) {
        const deleted = db
          .prepare(`DELETE FROM ${table} WHERE run_id IN (SELECT value FROM json_each(?))`)
          .run(list).changes;
        if (table === 'events') events = deleted;
      }
      const trigger = db
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_no_delete'")
        .get() as { sql: string } | undefined;
      if (trigger) db.exec('DROP TRIGGER audit_no_delete');
      db.prepare('DELETE FROM audit WHERE run_id IN (SELECT value FROM json_each(?))').run(list);
      if (trigger) db.exec(trigger.sql);
      db.prepare('DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?))').run(list);
      return { runIds: ids, events };
    })
    .immediate();
}
