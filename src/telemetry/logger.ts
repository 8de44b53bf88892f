/**
 * pino JSON logs. Secrets are redacted by key wherever they appear in a logged object, and the
 * destination is asynchronous so logging never blocks the signal path; `flush()` on shutdown.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

/** Keys whose values are secrets, at any of the first levels of a logged object. */
const SECRET_KEYS = [
  'authorization',
  'x-api-key',
  'secret',
  'secrets',
  'passphrase',
  'token',
  'admin_token',
  'read_token',
  'key_id',
  'secret_key',
  'signing_secret',
  'webhook-signature',
  'x-signature',
  'stripe-signature',
  'x-hub-signature-256',
];

/** Top level and one level down: secrets are kept out by construction; this is the second line. */
export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => {
  const key = /^[a-z_]+$/.test(k) ? k : `["${k}"]`;
  const dot = key.startsWith('[') ? '' : '.';
  return [key, `*${dot}${key}`];
});

/**
 * A child logger made on first use. pino applies redaction to a child's bindings when it is
 * created, which is measurable per request; most requests never log at the configured level.
 */
const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
const noop = (): void => undefined;

export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | null = null;
  return new Proxy(parent, {
    get(_target, prop) {
      // A call below the level logs nothing, so it needs no child either.
      if (typeof prop === 'string' && LEVELS.has(prop) && !parent.isLevelEnabled(prop)) return noop;
      child ??= parent.child(bindings);
      const value: unknown = Reflect.get(child, prop, child);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(child) : value;
    },
  });
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'sluice' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/**
 * Flushes what is buffered for the destination, waiting at most `timeoutMs`, then makes the
 * exit-time synchronous flush a no-op. That flush (pino registers it on process exit) retries a
 * failed write forever when stdout is a closed pipe (EPIPE: the reader of `sluice start | …`
 * went away), which kept a stopped sluice from exiting; after this, nothing is left to write, or
 * it cannot be written.
 */
export function flushLogs(logger: Logger, timeoutMs: number): Promise<void> {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { flushSync?: () => void } | undefined;
  return new Promise<void>((resolve) => {
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (stream !== undefined && typeof stream.flushSync === 'function') stream.flushSync = noop;
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    try {
      logger.flush(() => done());
    } catch {
      // A destroyed stream: nothing more can be written.
      done();
    }
  });
}
