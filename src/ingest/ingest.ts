/**
 * `ingestDelivery`: one webhook delivery from raw bytes to a durable signal (docs/http-api.md#webhook-ingest).
 * Order matters: source → client address → body (read once, parsed: verifiers read it) →
 * authentication → rate limit → validation (a body that is not JSON refused only now) →
 * idempotency key → durable record (or the spool while the database is down). Nothing is stored
 * for a delivery that fails authentication except its refusal, with secrets removed.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { SourceConfig } from '../config/schema.js';
import type { ValidationIssue } from '../domain/types.js';
import { canonicalJson } from '../events/chain.js';
import type { NewSignal, RecordOutcome, SignalRecord, Store } from '../store/store.js';
import { NONCE_REPLAY } from './auth/hmac.js';
import type { AuthOutcome, Verifier } from './auth/verifier.js';
import { mapFormat } from './formats/index.js';
import { clientOrderId, idempotencyKey, newSignalId } from './identity.js';
import { findPlaceholders, parseNativeSignal } from './formats/native.js';
import { excerptOf, parseJsonBody } from './json-body.js';
import type { RateLimiter } from './rate-limit.js';
import type { Spool } from './spool.js';
import { isDataError } from '../store/errors.js';
import { lazyChild } from '../telemetry/logger.js';
import { traced, type TraceSpan } from '../telemetry/tracing.js';

export interface IngestSource {
  name: string;
  config: SourceConfig;
  verifier: Verifier;
  /** Connector signals of this source execute on (in test mode, a mock of that name). */
  connector: string;
  /** Null (an unknown address) passes only an empty allowlist. */
  allowIp: (ip: string | null) => boolean;
  /** Null when it cannot be told (fewer X-Forwarded-For entries than trusted proxies). */
  clientAddress: (remoteAddress: string, headers: Headers) => string | null;
  rateLimiter: RateLimiter | null;
}

/** Refused deliveries kept for operators (docs/http-api.md#refused-deliveries). */
export const REFUSED_DELIVERIES_KEPT = 1000;

export interface IngestDeps {
  store: Store;
  sources: ReadonlyMap<string, IngestSource>;
  logger: Logger;
  now: () => Date;
  /** Hands a newly recorded signal to the executor (and counts it as accepted). */
  submit: (record: SignalRecord) => void;
  /** Resolves with the signal once final, or null when `ms` passed first. */
  waitForFinal: (signalId: string, ms: number) => Promise<SignalRecord | null>;
  /** Keeps a refused delivery for operators, with the code the sender got. */
  recordRefusal: (source: string, requestId: string, code: RefusalCode, reason: string, issues: ValidationIssue[], excerpt: string) => void;
  /** Where deliveries go while the database is down; null when `degraded.on_database_down: reject`. */
  spool: Spool | null;
  /** Told of every store failure (puts `database` into degraded) and of every success after one. */
  database: { failed: (err: unknown) => void };
}

/** The raw body; how large it may be when the sender's was larger; or the client hung up mid-upload. */
export type BodyRead = { kind: 'read'; bytes: Uint8Array } | { kind: 'too_large'; limit_bytes: number } | { kind: 'aborted' };

export interface DeliveryInput {
  source: string;
  headers: Headers;
  /** Reads the raw body (once, within the limit); called only after the client address passed. */
  readBody: () => Promise<BodyRead>;
  remoteAddress: string;
  requestId: string;
  /** How long the caller will wait for the outcome (Prefer: wait=N or execution.wait_ms). */
  waitMs: number;
  /** The delivery's span while tracing is on: verify and record are its children, and the signal keeps its context. */
  trace?: TraceSpan | undefined;
}

export type RefusalCode =
  | 'unknown_source'
  | 'forbidden'
  | 'payload_too_large'
  | 'unauthorized'
  | 'rate_limited'
  | 'invalid_signal'
  | 'missing_idempotency_key'
  | 'idempotency_key_reused'
  | 'unavailable';

/** A delivery sluice does not take, and why; the HTTP layer picks the status from `code`. */
export interface Refusal {
  kind: 'refused';
  code: RefusalCode;
  message: string;
  issues?: ValidationIssue[];
  /** When the sender may try again (rate limited, database unavailable). */
  retry_after_seconds?: number;
  /** Fields the answer carries besides code and message (the signal a reused key belongs to). */
  details?: Record<string, unknown>;
  /** The store failure behind `unavailable`, for the log only. */
  cause?: unknown;
}

export type IngestResult =
  | { kind: 'accepted'; record: SignalRecord; unknown_fields: number }
  | { kind: 'final'; record: SignalRecord; unknown_fields: number }
  | { kind: 'duplicate'; record: SignalRecord }
  | { kind: 'deferred'; delivery_id: string }
  /** The client closed the connection before its body was read: nobody is left to answer. */
  | { kind: 'aborted' }
  | Refusal;

const MAX_KEY_LENGTH = 255;

type Verified = Extract<AuthOutcome, { ok: true }>;

/** Refuses a delivery for a reason the sender can fix: logged, kept for operators (with an excerpt), answered. */
type Refuse = (code: 'forbidden' | 'unauthorized' | 'invalid_signal' | 'missing_idempotency_key', reason: string, message: string, issues?: ValidationIssue[], excerpt?: string) => Refusal;

/** A delivery that passed every check: the signal to record, and the body as it may be kept. */
interface Checked {
  kind: 'checked';
  signal: NewSignal;
  /** The body without the passphrase. */
  clean: Record<string, unknown>;
  /** Fields of the body the signal does not know (accepted, and counted in the answer). */
  unknown_fields: string[];
}

export async function ingestDelivery(deps: IngestDeps, input: DeliveryInput): Promise<IngestResult> {
  const source = deps.sources.get(input.source);
  if (source === undefined) return { kind: 'refused', code: 'unknown_source', message: `no source named "${input.source}"` };
  const log = lazyChild(deps.logger, { request_id: input.requestId, source: source.name, trace_id: input.trace?.traceId });
  const now = deps.now();
  const refuse: Refuse = (code, reason, message, issues = [], excerpt = '') => {
    log.warn({ reason, issues }, 'delivery refused');
    deps.recordRefusal(source.name, input.requestId, code, reason, issues, excerpt);
    return { kind: 'refused', code, message, ...(issues.length > 0 ? { issues } : {}) };
  };

  const client = source.clientAddress(input.remoteAddress, input.headers);
  if (!source.allowIp(client)) {
    const reason = client === null ? 'client address unknown: X-Forwarded-For has fewer entries than trust_proxy' : `client address ${client} not in allow_ips`;
    return refuse('forbidden', reason, 'client address not allowed');
  }
  // allow_ips comes first (docs/http-api.md#client-address): a refused client's body is never read.
  const read = await input.readBody();
  if (read.kind === 'too_large') return { kind: 'refused', code: 'payload_too_large', message: `the body is larger than ${read.limit_bytes} bytes` };
  if (read.kind === 'aborted') {
    // A client event, not a fault of sluice: no stack, no error, nothing for recent_errors.
    log.info('client hung up before the body was read');
    return { kind: 'aborted' };
  }
  const rawBody = read.bytes;
  const parsed = parseJsonBody(rawBody);
  const body = parsed.ok ? parsed.body : undefined;

  // Only hmac touches the store here (it reads its nonces); with the database down it cannot tell
  // a replay, so it answers 503 rather than spool something it could not check.
  let auth: AuthOutcome;
  try {
    auth = await traced('verify', input.trace, () => source.verifier.verify({ source: source.name, headers: input.headers, rawBody, body, now }), (a) => ({ 'sluice.auth.ok': a.ok }));
  } catch (err) {
    // Verifiers answer bad input with a value: a throw is the store failing under them.
    deps.database.failed(err);
    return unavailable(err);
  }
  if (!auth.ok) return refuse('unauthorized', auth.reason, 'authentication failed');

  // The limit is the sender's: counted after authentication, so junk cannot use up its allowance.
  if (source.rateLimiter !== null) {
    const wait = source.rateLimiter.take(now.getTime());
    if (wait > 0) {
      const retryAfter = Math.ceil(wait / 1000);
      log.warn({ retry_after_seconds: retryAfter }, 'delivery rate limited');
      return { kind: 'refused', code: 'rate_limited', message: `source "${source.name}" is over its rate limit`, retry_after_seconds: retryAfter };
    }
  }

  if (!parsed.ok) return refuse('invalid_signal', 'invalid JSON', 'body is not a valid JSON object', [{ path: '', message: parsed.error }]);
  const checked = checkSignal(source, input, auth, parsed.body, now, refuse);
  if (checked.kind === 'refused') return checked;
  return recordDelivery(deps, input, checked, auth.nonce, log, refuse);
}

/** From an authenticated JSON body to the signal to record: the body's shape, the signal's, the idempotency key. */
function checkSignal(source: IngestSource, input: DeliveryInput, auth: Verified, body: unknown, now: Date, refuse: Refuse): Checked | Refusal {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return refuse('invalid_signal', 'not an object', 'body must be a JSON object', [{ path: '', message: 'expected a JSON object' }], excerptOf(body));
  }
  // The passphrase is removed before the body is stored, hashed, logged or passed on.
  const clean: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  if (auth.strip_field !== undefined) delete clean[auth.strip_field];

  const placeholders = findPlaceholders(clean);
  if (placeholders.length > 0) return refuse('invalid_signal', 'unrendered placeholder', 'the signal holds unrendered {{placeholders}}', placeholders, excerptOf(clean));

  const native = parseNativeSignal(mapFormat(source.config.format, clean));
  if (!native.ok) return refuse('invalid_signal', 'invalid signal', 'the signal is not valid', native.issues, excerptOf(clean));
  const { signal, unknown_fields } = native;

  const fingerprint = createHash('sha256').update(canonicalJson(clean)).digest('hex');
  const explicitKey = idempotencyKey(auth, signal.id, input.headers);
  // Control characters (NUL above all) cannot be stored as text by PostgreSQL: refused here.
  if (explicitKey !== null && (explicitKey.length === 0 || explicitKey.length > MAX_KEY_LENGTH || /[\u0000-\u001f\u007f]/.test(explicitKey))) {
    return refuse('invalid_signal', 'bad idempotency key', 'the idempotency key is invalid', [
      { path: 'Idempotency-Key', message: `expected 1-${MAX_KEY_LENGTH} printable characters` },
    ]);
  }
  if (explicitKey === null && source.config.require_idempotency_key) {
    return refuse('missing_idempotency_key', 'no idempotency key', 'this source requires an idempotency key (Idempotency-Key header or the body id)');
  }

  const signalId = newSignalId(now);
  return {
    kind: 'checked',
    clean,
    unknown_fields,
    signal: {
      signal_id: signalId,
      source: source.name,
      idempotency_key: explicitKey ?? `sha256:${fingerprint}`,
      key_kind: explicitKey === null ? 'body_hash' : 'explicit',
      window_ms: source.config.body_hash_window_seconds * 1000,
      fingerprint,
      connector: source.connector,
      instrument: signal.instrument,
      client_order_id: clientOrderId(signalId),
      signal,
      request_id: input.requestId,
      received_at: now,
      trace_parent: input.trace?.traceparent ?? null,
      ...(auth.replayable_body === true ? { replay_window_ms: source.config.body_hash_window_seconds * 1000 } : {}),
    },
  };
}

/** Records a checked signal (or spools it while the database is down) and answers the sender. */
async function recordDelivery(deps: IngestDeps, input: DeliveryInput, checked: Checked, nonce: Verified['nonce'], log: Logger, refuse: Refuse): Promise<IngestResult> {
  const { signal: newSignal, clean, unknown_fields } = checked;
  const key = newSignal.idempotency_key;
  // While the spool holds deliveries, a new one goes in behind them, so that replay records
  // them in arrival order (docs/guarantees.md#ordering). A nonce can only be checked and kept in
  // the database, so a delivery carrying one waits (503) until the spool has drained.
  if (deps.spool !== null && deps.spool.pending > 0) {
    if (nonce !== undefined) return unavailable(new Error('the spool is draining'));
    return spoolDelivery(deps.spool, newSignal, log, null);
  }
  let outcome: RecordOutcome | { kind: 'replay' };
  try {
    outcome = await traced('record', input.trace, () => (nonce === undefined ? deps.store.recordSignal(newSignal) : deps.store.recordSignalWithNonce(newSignal, nonce)), (o) => ({ 'sluice.record.outcome': o.kind }));
  } catch (err) {
    // A bad value is a bug to surface; anything else means the database is unavailable.
    if (isDataError(err)) throw err;
    deps.database.failed(err);
    // A nonce can only be checked and kept in the database: such a delivery is not spooled.
    if (deps.spool === null || nonce !== undefined) return unavailable(err);
    return spoolDelivery(deps.spool, newSignal, log, err);
  }

  switch (outcome.kind) {
    case 'replay':
      // A concurrent delivery of the same signed request was recorded first.
      return refuse('unauthorized', NONCE_REPLAY, 'authentication failed');
    case 'conflict':
      log.warn({ idempotency_key: key, signal_id: outcome.record.signal_id }, 'idempotency key reused with another body');
      deps.recordRefusal(newSignal.source, input.requestId, 'idempotency_key_reused', 'idempotency key reused', [], excerptOf(clean));
      return {
        kind: 'refused',
        code: 'idempotency_key_reused',
        message: 'this idempotency key was used for a different body',
        details: { idempotency_key: key, signal_id: outcome.record.signal_id },
      };
    case 'duplicate':
      log.info({ signal_id: outcome.record.signal_id, idempotency_key: key }, 'duplicate delivery');
      return { kind: 'duplicate', record: outcome.record };
    case 'inserted': {
      const { signal } = newSignal;
      log.info({ signal_id: newSignal.signal_id, idempotency_key: key, instrument: signal.instrument, action: signal.action, unknown_fields }, 'signal accepted');
      deps.submit(outcome.record);
      if (input.waitMs > 0) {
        const final = await deps.waitForFinal(newSignal.signal_id, input.waitMs);
        if (final !== null) return { kind: 'final', record: final, unknown_fields: unknown_fields.length };
      }
      return { kind: 'accepted', record: outcome.record, unknown_fields: unknown_fields.length };
    }
  }
}

/** Appends to the spool (`cause`: the store failure, or null when the spool was not empty). */
function spoolDelivery(spool: Spool, input: NewSignal, log: Logger, cause: unknown): IngestResult {
  const spooled = spool.append(input);
  if (!spooled.ok) {
    log.error({ reason: spooled.reason }, 'the spool refused the delivery');
    return unavailable(cause ?? new Error(spooled.reason));
  }
  if (cause === null) log.info({ delivery_id: spooled.delivery_id, idempotency_key: input.idempotency_key }, 'spool not empty: delivery spooled behind it');
  else log.warn({ delivery_id: spooled.delivery_id, idempotency_key: input.idempotency_key, err: cause }, 'database down: delivery spooled');
  return { kind: 'deferred', delivery_id: spooled.delivery_id };
}

function unavailable(cause: unknown): Refusal {
  return { kind: 'refused', code: 'unavailable', message: 'the database is unavailable; retry later', retry_after_seconds: 5, cause };
}
