/**
 * pino JSON logs. Secrets are redacted by key in every logged object (and one level down), and
 * the destination is asynchronous so logging never blocks the signal path; `flush()` on shutdown.
 */
import { pino, type ChildLoggerOptions, type DestinationStream, type Logger } from 'pino';

/** Keys whose values are secrets, at the top level of a logged object and one level down. */
const SECRET_KEYS: ReadonlySet<string> = new Set([
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
]);
const CENSOR = '[redacted]';

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Error);

function hasSecretKey(o: Record<string, unknown>): boolean {
  for (const k in o) if (SECRET_KEYS.has(k.toLowerCase())) return true;
  return false;
}

/**
 * A logged object with every secret key's value (top level and one level down) replaced by
 * "[redacted]"; the object itself when it holds none, which is nearly always, so the common
 * case allocates nothing. Secrets are kept out of logs by construction; this is the second
 * line. (pino's path-based `redact` did the same at about 20 µs per line with these wildcards,
 * more than the rest of the line: measured in the benchmark notes, docs/configuration.md#benchmark.)
 */
export function redactSecrets(o: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const k in o) {
    const v = o[k];
    if (SECRET_KEYS.has(k.toLowerCase())) {
      out ??= { ...o };
      out[k] = CENSOR;
    } else if (isPlainObject(v) && hasSecretKey(v)) {
      const inner: Record<string, unknown> = {};
      for (const ik in v) inner[ik] = SECRET_KEYS.has(ik.toLowerCase()) ? CENSOR : v[ik];
      out ??= { ...o };
      out[k] = inner;
    }
  }
  return out ?? o;
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
const noop = (): void => undefined;
type LogFn = (...args: unknown[]) => void;

/**
 * A logger whose lines carry `bindings`. A level method merges them into the line's object
 * instead of making a pino child, whose creation costs more than the line; a call below the
 * level costs nothing. Anything else (`child`, `flush`, …) goes to a child made on first use.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | null = null;
  return new Proxy(parent, {
    get(_target, prop) {
      if (typeof prop === 'string' && LEVELS.has(prop)) {
        if (!parent.isLevelEnabled(prop)) return noop;
        const method = Reflect.get(parent, prop, parent) as LogFn;
        return (first?: unknown, ...rest: unknown[]): void => {
          if (first instanceof Error) method.call(parent, { ...bindings, err: first }, ...(rest.length > 0 ? rest : [first.message]));
          else if (isPlainObject(first)) method.call(parent, { ...bindings, ...first }, ...rest);
          else method.call(parent, bindings, first, ...rest);
        };
      }
      child ??= parent.child(bindings);
      const value: unknown = Reflect.get(child, prop, child);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(child) : value;
    },
  });
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const logger = pino(
    {
      level,
      base: { service: 'sluice' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: redactSecrets },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
  // pino formats a child's bindings with no formatter at all: redact them on the way in.
  // Children inherit this method (pino makes them with Object.create), grandchildren too.
  const pinoChild = logger.child;
  logger.child = function child<L extends string = never>(this: Logger, bindings: Record<string, unknown>, options?: ChildLoggerOptions<L>) {
    return Reflect.apply(pinoChild, this, [redactSecrets(bindings), options]) as Logger<L>;
  };
  return logger;
}

/**
 * Flushes what is buffered for the destination, waiting at most `timeoutMs`, then makes the
 * exit-time synchronous flush a no-op. That flush (pino registers it on process exit) retries a
 * failed write forever when stdout is a closed pipe (EPIPE: the reader of `sluice start | …`
 * went away), which kept a stopped sluice from exiting; after this, nothing is left to write, or
 * it cannot be written.
 */
export function flushLogs(logger: Logger, timeoutMs: number): Promise<void> {
  logger.flush();
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as
    | { flushSync?: () => void; _writing?: boolean; _len?: number }
    | undefined;
  // sonic-boom's own state: nothing in flight and nothing buffered. (Its flush callback comes
  // back at once while a write is still retrying a full pipe, so it cannot tell.)
  const idle = (): boolean => stream === undefined || (stream._writing !== true && (stream._len ?? 0) === 0);
  return new Promise<void>((resolve) => {
    const started = Date.now();
    const check = (): void => {
      if (idle()) return resolve();
      if (Date.now() - started >= timeoutMs) {
        // Stuck (a closed or full pipe): pino's exit-time synchronous flush would retry for
        // ever, so it is turned off; what is left cannot be written anyway.
        if (stream !== undefined && typeof stream.flushSync === 'function') stream.flushSync = noop;
        return resolve();
      }
      setTimeout(check, 10);
    };
    check();
  });
}
