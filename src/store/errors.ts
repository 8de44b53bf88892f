/**
 * The one classifier of database errors, for both dialects: which failures mean "the database is
 * unavailable" (wait it out, spool, answer 503) and which are a bad value (a bug to surface).
 */

export function describeDbError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? `${e.code}: ` : '';
  const message = typeof e.message === 'string' ? e.message.split('\n')[0] ?? '' : String(err);
  // Never the connection string (it can hold a password).
  return `${code}${message}`.replace(/postgres(ql)?:\/\/[^\s]*/g, 'postgres://***').slice(0, 200);
}

/**
 * True for a database error that a bad value caused (PostgreSQL classes 22 "data exception" and
 * 23 "integrity constraint", SQLite constraint and type errors): a bug to surface, not an outage
 * to wait out. Everything else — connection refused or reset, timeouts, I/O, busy — is taken as
 * the database being unavailable. Decided from the error alone: asking the database whether it
 * is up would itself wait for a connect timeout during an outage.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return /^2[23][0-9A-Z]{3}$/.test(code) || code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH';
}

/** A store error that is about reaching the database (not a bug or a bad value). */
export function isStoreUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : '';
  const looksLikeDb = (typeof code === 'string' && (/^[0-9A-Z]{5}$/.test(code) || code.startsWith('SQLITE_') || code.startsWith('E') || code.startsWith('CONNECTION_'))) || /database|connect/i.test(message);
  return looksLikeDb && !isDataError(err);
}

/**
 * SQLSTATEs (and SQLite codes) of a database that is up but could not do this now: a lock it
 * waited for too long (55P03 lock_not_available, SQLITE_BUSY, SQLITE_LOCKED), a statement ended
 * by `statement_timeout` (57014 query_canceled), a conflict it gave up on (40001, 40P01). The
 * same request may well succeed a moment later: a 503 with Retry-After, not a 500 and not an outage.
 */
const BUSY_CODES = new Set(['55P03', '57014', '40001', '40P01']);

export function isDatabaseBusy(err: unknown): boolean {
  const codeOf = (e: unknown): unknown => (typeof e === 'object' && e !== null && 'code' in e ? e.code : undefined);
  // A query builder may wrap the driver's error; its cause carries the code.
  const cause = typeof err === 'object' && err !== null && 'cause' in err ? err.cause : undefined;
  return [codeOf(err), codeOf(cause)].some(
    (code) => typeof code === 'string' && (BUSY_CODES.has(code) || code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')),
  );
}
