/**
 * `taskvisor doctor`: what is wrong with a database, and what to do about it — the file's
 * integrity (a full `PRAGMA integrity_check`, which opening only does in part), every audit
 * chain, and unfinished runs that no live process drives.
 */
import os from 'node:os';
import { verifyAudit } from '../audit/verify-audit.js';
import { isTerminalPhase } from '../model/states.js';
import { isProcessAlive } from '../runtime/leases.js';
import type { RunRow } from './rows.js';
import { SqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

export interface DoctorCheck {
  readonly name: 'integrity' | 'audit' | 'drivers';
  readonly ok: boolean;
  /** What was found. */
  readonly finding: string;
  /** What to do, when something is wrong. */
  readonly fix?: string;
}

export interface DoctorReport {
  readonly ok: boolean;
  readonly checks: readonly DoctorCheck[];
}

/** Why nobody drives `run`, when nobody does: no lease, an expired one, or a gone holder. */
export function missingDriver(run: RunRow, now: number, host = os.hostname()): string | undefined {
  const lease = run.lease;
  if (!lease) return 'no lease';
  if (lease.expiresAt <= now) return `its lease (${lease.owner}) expired`;
  if (lease.host === host && !isProcessAlive(lease.pid)) return `its driver (pid ${lease.pid}) is gone`;
  return undefined;
}

/**
 * Checks a store; `now` for lease expiry, `auditKey` when the chains are keyed.
 *
 * @example
 * ```ts
 * const report = await examineStore(openSqliteStore('runs.db', { quickCheckMaxBytes: 0 }), { now: Date.now() });
 * ```
 */
export async function examineStore(
  store: Store,
  options: { readonly now: number; readonly auditKey?: string; readonly dbFlag?: string },
): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const db = options.dbFlag ? ` --db ${options.dbFlag}` : '';
  if (store instanceof SqliteStore) {
    let problems: string[];
    try {
      problems = (store.db.pragma('integrity_check(20)') as Array<{ integrity_check: string }>).map(
        (row) => row.integrity_check,
      );
    } catch (error) {
      // Damage bad enough that the check itself cannot walk the file.
      problems = [error instanceof Error ? error.message : String(error)];
    }
    const ok = problems.length === 1 && problems[0] === 'ok';
    checks.push({
      name: 'integrity',
      ok,
      finding: ok ? `${store.file}: integrity_check ok` : `${store.file} is damaged: ${problems.join('; ')}`,
      ...(ok
        ? {}
        : {
            fix: `stop every process using it, keep a copy, then restore a backup or recover it (sqlite3 ${store.file} .recover > recovered.sql)`,
          }),
    });
    if (!ok) return { ok: false, checks };
  }
  const audit = await verifyAudit(store, options.auditKey);
  checks.push(
    audit.ok
      ? { name: 'audit', ok: true, finding: `audit chains ok (${audit.rows} rows, ${audit.runs} runs)` }
      : {
          name: 'audit',
          ok: false,
          finding: `audit chain broken: ${audit.reason}`,
          fix: 'the database was changed outside taskvisor: compare it with a backup; keep this copy as evidence',
        },
  );
  const unfinished = (await store.runs.listRuns()).filter((run) => !isTerminalPhase(run.phase));
  const orphans = unfinished.flatMap((run) => {
    const why = missingDriver(run, options.now);
    return why ? [`${run.id} (${run.phase}: ${why})`] : [];
  });
  checks.push(
    orphans.length === 0
      ? {
          name: 'drivers',
          ok: true,
          finding: `${unfinished.length} unfinished runs, each driven by a live process`,
        }
      : {
          name: 'drivers',
          ok: false,
          finding: `${orphans.length} unfinished ${orphans.length === 1 ? 'run has' : 'runs have'} no live driver: ${orphans.join(', ')}`,
          fix: `run \`taskvisor resume${db}\` (with the --config and --allow the runs need)`,
        },
  );
  return { ok: checks.every((check) => check.ok), checks };
}
