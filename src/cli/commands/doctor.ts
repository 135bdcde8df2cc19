/** `taskvisor doctor`: checks the database and says what to do (exit 1 when something is wrong). */
import { isTaskvisorError } from '../../errors.js';
import { examineStore } from '../../store/doctor.js';
import type { SqliteStore } from '../../store/sqlite-store.js';
import { openSqliteStore } from '../../store/sqlite-open.js';
import { type CommonFlags, requireDatabase } from '../open-supervisor.js';
import { type Io, printJson, printLine } from '../io.js';
import { redactUrl } from '../../store/pg-errors.js';

export async function doctorCommand(flags: CommonFlags, io: Io): Promise<number> {
  const db = requireDatabase(flags);
  // Opened without the quick check: a damaged file is what doctor is here to describe.
  let store: SqliteStore;
  try {
    store = openSqliteStore(db, { quickCheckMaxBytes: 0 });
  } catch (error) {
    if (!isTaskvisorError(error, 'STORE_CORRUPT')) throw error;
    const check = {
      name: 'integrity',
      ok: false,
      finding: `${redactUrl(db)} cannot be opened: ${error.message}`,
    };
    if (flags.json) printJson(io, { ok: false, checks: [check] });
    else printLine(io, `BAD integrity: ${check.finding}`);
    return 1;
  }
  try {
    const report = await examineStore(store, {
      now: Date.now(),
      ...(process.env.TASKVISOR_AUDIT_KEY ? { auditKey: process.env.TASKVISOR_AUDIT_KEY } : {}),
      ...(flags.db ? { dbFlag: flags.db } : {}),
    });
    if (flags.json) printJson(io, report);
    else
      for (const check of report.checks) {
        printLine(io, `${check.ok ? 'ok ' : 'BAD'} ${check.name}: ${check.finding}`);
        if (check.fix) printLine(io, `    what to do: ${check.fix}`);
      }
    return report.ok ? 0 : 1;
  } finally {
    await store.close();
  }
}
