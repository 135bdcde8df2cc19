/**
 * PostgreSQL's errors as taskvisor's: a lost or refused connection, a server shutting
 * down or restarting, a full disk, a server out of connections, a damaged page — each a
 * `TaskvisorError` naming the server (never its password) and what to do, with
 * `details.transient` telling whether waiting can help.
 */
import { TaskvisorError, type TaskvisorErrorCode } from '../errors.js';

interface PgFailure {
  readonly code: TaskvisorErrorCode;
  readonly transient: boolean;
  readonly advice: string;
}

const UNREACHABLE: PgFailure = {
  code: 'STORE_UNAVAILABLE',
  transient: true,
  advice:
    'the server cannot be reached or dropped the connection (restarting, stopped, or the network is down); taskvisor reconnects on its own once it is back',
};

/** Node's socket errors that mean the server is not (or no longer) there. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETDOWN',
]);

/** What the messages of node-postgres say when the connection is gone. */
const CONNECTION_MESSAGES = [
  'Connection terminated',
  'connection terminated',
  'Client has encountered a connection error',
  'Client was closed and is not queryable',
  'timeout expired',
  'timeout exceeded when trying to connect',
  'Connection ended',
];

function classify(sqlState: string | undefined, socketCode: string | undefined, message: string) {
  if (socketCode && SOCKET_CODES.has(socketCode)) return UNREACHABLE;
  if (sqlState === undefined) {
    return CONNECTION_MESSAGES.some((text) => message.includes(text)) ? UNREACHABLE : undefined;
  }
  // Class 08: connection exception; 57P01..57P05: the server is shutting down or starting.
  if (sqlState.startsWith('08') || /^57P0[1-5]$/.test(sqlState)) return UNREACHABLE;
  if (sqlState === '53100')
    return {
      code: 'STORE_FULL',
      transient: true,
      advice:
        "the server's disk is full; free space on it — taskvisor goes on once the server can write again",
    } satisfies PgFailure;
  if (sqlState === '53300' || sqlState === '53200' || sqlState === '53000' || sqlState === '55P03')
    return {
      code: 'STORE_BUSY',
      transient: true,
      advice:
        'the server is overloaded (too many connections, out of memory, or a lock is held); taskvisor retries on its own, or raise max_connections / end the long transaction',
    } satisfies PgFailure;
  if (sqlState === '57014')
    return {
      code: 'STORE_BUSY',
      transient: true,
      advice:
        'a statement was cancelled (statement_timeout or an administrator); taskvisor retries on its own',
    } satisfies PgFailure;
  if (sqlState.startsWith('XX0'))
    return {
      code: 'STORE_CORRUPT',
      transient: false,
      advice:
        'the server reports damaged data; stop the workers, keep a copy, and repair the database (REINDEX, or restore a backup) before going on',
    } satisfies PgFailure;
  if (sqlState.startsWith('28'))
    return {
      code: 'STORE_UNAVAILABLE',
      transient: false,
      advice:
        'the server refused the user or password in the URL; fix the credentials in --db / TASKVISOR_DB',
    } satisfies PgFailure;
  if (sqlState === '3D000')
    return {
      code: 'STORE_UNAVAILABLE',
      transient: false,
      advice: 'the database in the URL does not exist; create it (createdb <name>) or fix the URL',
    } satisfies PgFailure;
  if (sqlState === '42501')
    return {
      code: 'STORE_UNAVAILABLE',
      transient: false,
      advice:
        "the user in the URL may not create or write taskvisor's tables; grant it the rights on the schema (or use the owner)",
    } satisfies PgFailure;
  return undefined;
}

/** The URL with its password replaced by `***` (for messages). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/**
 * `error` as a `TaskvisorError`: PostgreSQL's storage failures get their STORE_* code;
 * other errors (a constraint violated by a bad batch, say) are returned as they are.
 */
export function pgStoreError(error: unknown, where: string, doing: string): unknown {
  if (error instanceof TaskvisorError) return error;
  const record = (error ?? {}) as { code?: unknown; message?: unknown };
  const code = typeof record.code === 'string' ? record.code : undefined;
  const message = typeof record.message === 'string' ? record.message : String(error);
  // SQLSTATEs are five characters of digits and capitals; Node's socket codes start with E.
  const sqlState = code && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('E') ? code : undefined;
  const failure = classify(sqlState, sqlState ? undefined : code, message);
  if (!failure) return error;
  return new TaskvisorError(
    failure.code,
    `Could not ${doing} ${where} (${sqlState ?? code ?? 'connection'}: ${message}): ${failure.advice}.`,
    { url: where, ...(sqlState ? { sqlState } : {}), transient: failure.transient },
    { cause: error },
  );
}
