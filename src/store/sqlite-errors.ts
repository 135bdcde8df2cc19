/**
 * SQLite's errors as taskvisor's: a busy or locked database, a full disk, a file that
 * cannot be read or written, a damaged file — each a `TaskvisorError` naming the file and
 * what to do, with `details.transient` telling whether waiting can help.
 */
import { TaskvisorError, type TaskvisorErrorCode } from '../errors.js';

interface SqliteFailure {
  readonly code: TaskvisorErrorCode;
  readonly transient: boolean;
  readonly advice: string;
}

function classify(sqliteCode: string): SqliteFailure | undefined {
  if (sqliteCode.startsWith('SQLITE_BUSY') || sqliteCode.startsWith('SQLITE_LOCKED'))
    return {
      code: 'STORE_BUSY',
      transient: true,
      advice:
        'another process holds a long write lock on it; taskvisor retries on its own, or find the process (`fuser <file>`) and end its transaction',
    };
  if (sqliteCode === 'SQLITE_FULL')
    return {
      code: 'STORE_FULL',
      transient: true,
      advice: 'the disk (or its quota) is full; free some space — taskvisor goes on once it can write',
    };
  if (sqliteCode.startsWith('SQLITE_CORRUPT') || sqliteCode === 'SQLITE_NOTADB')
    return {
      code: 'STORE_CORRUPT',
      transient: false,
      advice:
        'the file is damaged; stop every process using it, keep a copy, and run `taskvisor doctor` on it (restore a backup, or `sqlite3 <file> .recover`)',
    };
  if (
    sqliteCode.startsWith('SQLITE_IOERR') ||
    sqliteCode.startsWith('SQLITE_CANTOPEN') ||
    sqliteCode.startsWith('SQLITE_READONLY') ||
    sqliteCode === 'SQLITE_PERM' ||
    sqliteCode === 'SQLITE_PROTOCOL'
  )
    return {
      code: 'STORE_UNAVAILABLE',
      transient: true,
      advice: 'the file cannot be read or written right now; check the disk, its mount and the permissions',
    };
  return undefined;
}

/** The SQLite error code of `error`, when it is one. */
function sqliteCodeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/**
 * `error` as a `TaskvisorError`: SQLite's storage failures get their STORE_* code; other
 * errors (a constraint violated by a bad batch, say) are returned as they are.
 */
export function storeError(error: unknown, file: string, doing: string): unknown {
  if (error instanceof TaskvisorError) return error;
  const sqliteCode = sqliteCodeOf(error);
  const failure = sqliteCode ? classify(sqliteCode) : undefined;
  if (!failure) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TaskvisorError(
    failure.code,
    `Could not ${doing} ${file} (${sqliteCode}: ${message}): ${failure.advice}.`,
    { path: file, sqliteCode, transient: failure.transient },
    { cause: error },
  );
}
