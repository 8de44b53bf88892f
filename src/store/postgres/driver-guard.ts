/**
 * A guard for a known postgres.js 3.4.9 defect (porsager/postgres#1154, #1208; fixes proposed in
 * #1168/#1209, not released): when a connection closes while a small write is still scheduled,
 * `nextWrite` runs from a `setImmediate` with a null socket and throws a TypeError that no
 * caller can catch, which would take the whole process down during a database outage. By then
 * the driver has already rejected the affected query with CONNECTION_CLOSED, so the write is
 * moot: the guard logs that one error and lets the process live. Any other uncaught exception
 * keeps Node's default outcome (logged, exit 1).
 */
import type { Logger } from 'pino';

export function isPostgresNextWriteDefect(err: unknown): boolean {
  return (
    err instanceof TypeError &&
    /reading 'write'/.test(err.message) &&
    typeof err.stack === 'string' &&
    /nextWrite/.test(err.stack) &&
    /postgres[\\/]src[\\/]connection\.js/.test(err.stack)
  );
}

/** Installs the guard; returns its removal. */
export function guardPostgresDriverDefect(logger: Logger): () => void {
  const onUncaught = (err: Error) => {
    if (isPostgresNextWriteDefect(err)) {
      logger.error({ err }, 'postgres.js wrote to a closed connection (known driver defect); the query was already rejected');
      return;
    }
    logger.fatal({ err }, 'uncaught exception');
    logger.flush();
    process.stderr.write(`${err.stack ?? String(err)}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', onUncaught);
  return () => process.off('uncaughtException', onUncaught);
}
