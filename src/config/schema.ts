/**
 * The configuration schema (docs/configuration.md#config-file), in valibot. Defaults live here and only here (and
 * in config/sinks.ts, the `sinks:` section, kept apart for size). Every
 * message says what was expected and what was found, so that a start error can name the key:
 * `policy.max_order_notional: expected a positive number, got "ten"`.
 */
import { isIP } from 'node:net';
import * as v from 'valibot';
import { MODES } from '../domain/types.js';
import { bool, expected, limit, nonEmptyString, nonNegativeInt, obj, positiveInt, positiveNumber, rate, show } from './primitives.js';
import { sinksSchema } from './sinks.js';

const timeOfDay = v.pipe(v.string(expected('a time "HH:MM"')), v.regex(/^([01]\d|2[0-3]):[0-5]\d$/, expected('a time "HH:MM"')));
const timeZone = v.pipe(
  v.string(expected('an IANA time zone')),
  v.check((tz) => isTimeZone(tz), expected('an IANA time zone such as "America/New_York"')),
);
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The highest `policy.max_orders_per_minute`: far above any broker's own rate limit. */
export const MAX_ORDERS_PER_MINUTE = 1_000_000;

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof DAYS)[number];

const tradingWindow = obj({
  days: v.optional(v.array(v.picklist(DAYS, expected(`one of ${DAYS.join(', ')}`))), [...DAYS]),
  from: timeOfDay,
  to: timeOfDay,
  tz: v.optional(timeZone, 'UTC'),
});

const isoInstant = v.pipe(
  v.string(expected('an ISO-8601 time')),
  v.check((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), expected('an ISO-8601 time')),
);

/** One secret: a plain string, or a value that stops verifying at `expires_at` (rotation). */
const secret = v.union(
  [
    nonEmptyString,
    obj({ value: nonEmptyString, expires_at: v.optional(v.nullable(isoInstant), null) }),
  ],
  expected('a non-empty secret string or { value, expires_at }'),
);
const secrets = v.pipe(v.array(secret, expected('a list of secrets')), v.minLength(1, expected('at least one secret')));

export const AUTH_SCHEMES = ['standard-webhooks', 'hmac', 'stripe', 'github', 'token', 'passphrase', 'none'] as const;

const auth = v.variant(
  'scheme',
  [
    obj({ scheme: v.literal('standard-webhooks'), secrets }),
    obj({ scheme: v.literal('hmac'), secrets }),
    obj({ scheme: v.literal('stripe'), secrets }),
    obj({ scheme: v.literal('github'), secrets }),
    obj({ scheme: v.literal('token'), secrets }),
    obj({ scheme: v.literal('passphrase'), field: v.optional(nonEmptyString, 'passphrase'), secrets }),
    obj({ scheme: v.literal('none') }),
  ],
  expected(`an auth scheme: one of ${AUTH_SCHEMES.join(', ')}`),
);

const ipOrCidr = v.pipe(
  v.string(expected('an IP address or CIDR')),
  v.check((s) => isIpOrCidr(s), expected('an IP address or CIDR')),
);
export function isIpOrCidr(s: string): boolean {
  const [addr, bits, ...rest] = s.split('/');
  if (addr === undefined || rest.length > 0) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128);
}

export const FORMATS = ['native', 'tradingview', 'traderspost'] as const;
export type Format = (typeof FORMATS)[number];

const source = obj({
  auth,
  format: v.optional(v.picklist(FORMATS, expected(`one of ${FORMATS.join(', ')}`)), 'native'),
  connector: v.optional(nonEmptyString, 'mock'),
  allow_ips: v.optional(v.array(ipOrCidr), []),
  /** false, true (one proxy) or the number of trusted proxies that append to X-Forwarded-For. */
  trust_proxy: v.optional(
    v.union([bool, v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(16))], expected('false, true or a number of proxies 1-16')),
    false,
  ),
  rate_limit_per_minute: v.optional(v.nullable(positiveInt), null),
  body_hash_window_seconds: v.optional(positiveInt, 60),
  require_idempotency_key: v.optional(bool, false),
});

const sourceName = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, expected('a name of 1-64 letters, digits, "_" or "-", starting with a letter or digit')),
);

const url = v.pipe(v.string(expected('a URL')), v.url(expected('a URL')));
const wsUrl = v.pipe(
  v.string(expected('a ws:// or wss:// URL')),
  v.check((s) => isWsUrl(s), expected('a ws:// or wss:// URL')),
);
export function isWsUrl(s: string): boolean {
  try {
    const { protocol } = new URL(s);
    return protocol === 'ws:' || protocol === 'wss:';
  } catch {
    return false;
  }
}

/** Bounds of the mock's fill settings (config and the faults route): a day, and 100 parts. */
export const MOCK_MAX_FILL_DELAY_MS = 86_400_000;
export const MOCK_MAX_PARTIAL_FILLS = 100;

const connector = v.variant(
  'type',
  [
    obj({
      type: v.literal('mock'),
      latency_ms: v.optional(nonNegativeInt, 0),
      failure_rate: v.optional(rate, 0),
      timeout_rate: v.optional(rate, 0),
      // How it fills (docs/execution.md#the-mock-connector); the defaults fill every order at once.
      fill_delay_ms: v.optional(v.pipe(nonNegativeInt, v.maxValue(MOCK_MAX_FILL_DELAY_MS, expected(`an integer ≥ 0 and at most ${MOCK_MAX_FILL_DELAY_MS}`))), 0),
      partial_fills: v.optional(v.pipe(positiveInt, v.maxValue(MOCK_MAX_PARTIAL_FILLS, expected(`a positive integer at most ${MOCK_MAX_PARTIAL_FILLS}`))), 1),
      resting_orders: v.optional(bool, false),
    }),
    obj({
      type: v.literal('alpaca'),
      base_url: v.optional(url, 'https://paper-api.alpaca.markets'),
      key_id: nonEmptyString,
      secret_key: nonEmptyString,
      live: v.optional(bool, false),
      timeout_ms: v.optional(positiveInt, 10_000),
      /** The trade_updates stream; left out: base_url with ws(s):// and /stream. */
      stream_url: v.optional(wsUrl),
    }),
    obj({
      type: v.literal('http'),
      url,
      signing_secret: nonEmptyString,
      timeout_ms: v.optional(positiveInt, 10_000),
    }),
    obj({
      type: v.literal('module'),
      path: nonEmptyString,
      options: v.optional(v.record(v.string(), v.unknown()), {}),
    }),
  ],
  expected('a connector type: one of mock, alpaca, http, module'),
);

/** Limits per instrument: `{ default, <INSTRUMENT>: limit }`, `default` null when not given. */
const perInstrument = v.pipe(
  v.record(v.string(), limit, expected('an object of instrument → limit')),
  v.transform((o): { default: number | null; [instrument: string]: number | null } => ({ default: null, ...o })),
);

const policy = obj({
  initial_mode: v.optional(v.picklist(MODES, expected(`one of ${MODES.join(', ')}`)), 'enabled'),
  instruments: v.optional(v.array(v.pipe(nonEmptyString, v.toUpperCase())), []),
  max_signal_age_seconds: v.optional(v.nullable(positiveInt), 300),
  trading_windows: v.optional(v.array(tradingWindow), []),
  // Bounded: the gate's count is capped by it, written into its SQL (store/sqlite/gate.ts).
  max_orders_per_minute: v.optional(v.nullable(v.pipe(positiveInt, v.maxValue(MAX_ORDERS_PER_MINUTE, expected(`a positive integer at most ${MAX_ORDERS_PER_MINUTE}`)))), 30),
  max_order_notional: v.optional(limit, 10_000),
  max_order_quantity: v.optional(perInstrument, { default: null }),
  max_position_notional: v.optional(perInstrument, { default: 25_000 }),
  max_gross_exposure: v.optional(limit, 100_000),
  max_daily_loss: v.optional(limit, 2_000),
  trading_day_tz: v.optional(timeZone, 'UTC'),
  exit_only_trim: v.optional(bool, true),
});

const execution = obj({
  max_attempts: v.optional(positiveInt, 5),
  backoff: v.optional(obj({ base_ms: v.optional(positiveInt, 250), cap_ms: v.optional(positiveInt, 30_000) }), {}),
  breaker: v.optional(
    obj({
      failure_threshold: v.optional(positiveInt, 5),
      half_open_after_seconds: v.optional(v.nullable(positiveNumber), null),
    }),
    {},
  ),
  wait_ms: v.optional(nonNegativeInt, 0),
  reconcile_interval_seconds: v.optional(positiveNumber, 30),
  /**
   * How often every open order is looked up (`getOrder`) while its connector's stream is down,
   * or always for a connector without one (docs/execution.md#orders).
   */
  order_poll_seconds: v.optional(positiveNumber, 5),
  /** How many (connector, instrument) lanes run at once. */
  concurrency: v.optional(positiveInt, 64),
  /**
   * How long an instance holds an executing signal without renewing it; after that another
   * instance takes it over (recovering it by client_order_id first).
   */
  lease_seconds: v.optional(positiveNumber, 30),
});

const server = v.pipe(
  obj({
    host: v.optional(nonEmptyString, '127.0.0.1'),
    port: v.optional(v.pipe(nonNegativeInt, v.maxValue(65_535, expected('a port 0-65535'))), 8080),
    body_limit_bytes: v.optional(positiveInt, 65_536),
    shutdown_timeout_seconds: v.optional(positiveNumber, 10),
    /** Open event streams at most; more are refused with 503 (docs/http-api.md#event-stream). */
    max_event_streams: v.optional(positiveInt, 64),
    /** An event stream whose client takes nothing for this long is dropped. */
    event_stream_stall_seconds: v.optional(positiveNumber, 60),
    /** Open TCP connections at most (event streams included); more are closed at once. */
    max_connections: v.optional(positiveInt, 1024),
    /** A connection that has not sent a request's headers within this long is closed (408). */
    headers_timeout_seconds: v.optional(positiveNumber, 10),
    /** The whole request (headers and body) must arrive within this long; the response may take longer. */
    request_timeout_seconds: v.optional(positiveNumber, 30),
    /** An idle keep-alive connection is closed after this long. */
    keep_alive_timeout_seconds: v.optional(positiveNumber, 5),
  }),
  // Node refuses to start a server whose headers timeout exceeds its request timeout.
  v.forward(
    v.partialCheck(
      [['headers_timeout_seconds'], ['request_timeout_seconds']],
      (t) => t.headers_timeout_seconds <= t.request_timeout_seconds,
      (issue) => `expected at most request_timeout_seconds, got ${show(issue.input.headers_timeout_seconds)} > ${show(issue.input.request_timeout_seconds)}`,
    ),
    ['headers_timeout_seconds'],
  ),
);

export const configSchema = obj({
  server: v.optional(server, {}),
  database: v.optional(
    obj({
      url: v.optional(nonEmptyString, 'file:./data/sluice.db'),
      /** How long an unreachable PostgreSQL is retried at start before sluice gives up (0: at once). */
      connect_timeout_seconds: v.optional(nonNegativeInt, 60),
    }),
    {},
  ),
  sources: v.optional(v.record(sourceName, source, expected('an object of source name → source')), {}),
  policy: v.optional(policy, {}),
  connectors: v.optional(v.record(sourceName, connector, expected('an object of connector name → connector')), {}),
  execution: v.optional(execution, {}),
  degraded: v.optional(
    obj({
      on_database_down: v.optional(v.picklist(['spool', 'reject'], expected('spool or reject')), 'spool'),
      spool_dir: v.optional(nonEmptyString, './data/spool'),
      spool_max_bytes: v.optional(positiveInt, 64 * 1024 * 1024),
    }),
    {},
  ),
  retention: v.optional(obj({ signals_days: v.optional(positiveNumber, 7) }), {}),
  alerts: v.optional(
    obj({
      webhook_url: v.optional(v.nullable(url), null),
      backoff: v.optional(obj({ base_ms: v.optional(positiveInt, 1_000), cap_ms: v.optional(positiveInt, 60_000) }), {}),
      timeout_ms: v.optional(positiveInt, 10_000),
    }),
    {},
  ),
  sinks: v.optional(sinksSchema, []),
});

export type FileConfig = v.InferOutput<typeof configSchema>;
export type ServerConfig = v.InferOutput<typeof server>;
export type SourceConfig = v.InferOutput<typeof source>;
export type AuthConfig = v.InferOutput<typeof auth>;
export type SecretConfig = v.InferOutput<typeof secret>;
export type ConnectorConfig = v.InferOutput<typeof connector>;
export type PolicyConfig = v.InferOutput<typeof policy>;
/** The `policy:` block alone, for a candidate policy (config/candidate.ts). */
export const policySchema = policy;
export type ExecutionConfig = v.InferOutput<typeof execution>;
export type TradingWindow = v.InferOutput<typeof tradingWindow>;

