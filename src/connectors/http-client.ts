/**
 * The one fetch mechanism every HTTP connector uses (http, alpaca). It makes exactly one request
 * and turns whatever happens into a CallResult: the classification into retryable / ambiguous
 * (docs/execution.md#placing-orders) is written here once, so that connectors only add their own meaning on
 * top (Alpaca's duplicate client_order_id, 404 = no such order). There is no retry loop here:
 * the executor owns the single retry loop, because only it can resolve an ambiguous failure with
 * getOrder between attempts.
 */
import type { CallResult, ConnectorFailure } from './connector.js';
import { failure, success } from './connector.js';
import { parseRateLimitReset, parseRetryAfter } from '../domain/backoff.js';

export interface JsonCallOptions {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers: Record<string, string>;
  /**
   * A string is sent exactly as given (it may already be signed); anything else is
   * JSON-serialized. `content-type: application/json` is added when a body is sent.
   */
  body?: unknown;
  /** Covers the whole exchange: connect, send, headers and body. */
  timeout_ms: number;
  fetch?: typeof fetch;
  /** Clock for Retry-After HTTP-dates and X-RateLimit-Reset epochs. */
  now?: () => Date;
  /** Strings that must never appear in a failure reason (broker keys), replaced by "[redacted]". */
  redact?: readonly string[];
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON; the raw text when the body is not JSON; null when there is no body. */
  body: unknown;
}

/**
 * Error codes raised while connecting, before a byte of the request left: a retry cannot
 * duplicate anything, so these are retryable but not ambiguous.
 */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Longest server text quoted in a reason: enough to read, not enough to flood the event log. */
const MAX_REASON_CHARS = 300;

/** One HTTP request with a JSON body, classified. Never throws. */
export async function callJson(opts: JsonCallOptions): Promise<CallResult<JsonResponse>> {
  const doFetch = opts.fetch ?? fetch;
  const now = opts.now ?? (() => new Date());
  const redact = (text: string): string => scrub(text, opts.redact ?? []);

  const headers = new Headers(opts.headers);
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  if (!headers.has('accept')) headers.set('accept', 'application/json');

  let res: Response;
  let text: string;
  try {
    res = await doFetch(opts.url, {
      method: opts.method,
      headers,
      body,
      // A redirect would carry our custom auth headers (fetch strips only Authorization and
      // cookies on a cross-origin hop) to wherever the Location points: never follow one.
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeout_ms),
    });
    // Read inside the try: the timeout also covers a body that stalls after the headers.
    text = await res.text();
  } catch (err) {
    return classifyThrown(err, opts.timeout_ms);
  }

  const parsed = parseBody(text);
  const status = res.status;
  if (status >= 200 && status < 300) return success({ status, headers: res.headers, body: parsed });

  const message = redact(serverMessage(parsed) ?? `HTTP ${status}`);
  if (status === 429) {
    const wait =
      parseRetryAfter(res.headers.get('retry-after'), now()) ??
      parseRateLimitReset(res.headers.get('x-ratelimit-reset'), now());
    return failure(`rate limited (429): ${message}`, withWait({ retryable: true, ambiguous: false, http_status: status }, wait));
  }
  if (status >= 500) {
    // The server may have acted before failing: the executor must ask before it repeats.
    const wait = parseRetryAfter(res.headers.get('retry-after'), now());
    return failure(`server error (${status}): ${message}`, withWait({ retryable: true, ambiguous: true, http_status: status }, wait));
  }
  if (status >= 400) {
    // Permanent: the reason is the server's own words (docs/execution.md#placing-orders, "the broker's message").
    return failure(message, { retryable: false, ambiguous: false, http_status: status });
  }
  return failure(`unexpected HTTP ${status} (redirects are not followed)`, {
    retryable: false,
    ambiguous: false,
    http_status: status,
  });
}

function withWait(
  opts: { retryable: boolean; ambiguous: boolean; http_status: number },
  wait: number | undefined,
): { retryable: boolean; ambiguous: boolean; http_status: number; retry_after_ms?: number } {
  return wait === undefined ? opts : { ...opts, retry_after_ms: wait };
}

function classifyThrown(err: unknown, timeoutMs: number): ConnectorFailure {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    // The request may have arrived and acted; only a lookup can tell.
    return failure(`timeout after ${timeoutMs} ms`, { retryable: true, ambiguous: true });
  }
  const codes = errorCodes(err);
  const notSent = codes.find((c) => NOT_SENT_CODES.has(c));
  if (notSent !== undefined) {
    return failure(`connection failed before sending (${notSent})`, { retryable: true, ambiguous: false });
  }
  // Reset, closed socket, or anything unknown: the request may have been sent, so it is ambiguous.
  // The reason names only the error code, never the error text (which can hold the URL).
  const code = codes[0] ?? 'unknown network error';
  return failure(`connection lost (${code})`, { retryable: true, ambiguous: true });
}

/** Error codes along the cause chain (fetch wraps them: TypeError "fetch failed" → cause). */
function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): void => {
    if (depth > 5 || typeof e !== 'object' || e === null || seen.has(e)) return;
    seen.add(e);
    const { code, cause, errors } = e as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string') codes.push(code);
    visit(cause, depth + 1);
    // Happy-eyeballs connects fail with an AggregateError holding one error per address.
    if (Array.isArray(errors)) for (const inner of errors) visit(inner, depth + 1);
  };
  visit(err, 0);
  return codes;
}

function parseBody(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The human part of an error body: `message` (Alpaca, most APIs), `error` or `error.message`, or the text. */
function serverMessage(body: unknown): string | undefined {
  const clip = (s: string): string | undefined => {
    const t = s.trim();
    if (t === '') return undefined;
    return t.length > MAX_REASON_CHARS ? `${t.slice(0, MAX_REASON_CHARS)}…` : t;
  };
  if (typeof body === 'string') return clip(body);
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b['message'] === 'string') return clip(b['message']);
  const e = b['error'];
  if (typeof e === 'string') return clip(e);
  if (typeof e === 'object' && e !== null && typeof (e as Record<string, unknown>)['message'] === 'string') {
    return clip(String((e as Record<string, unknown>)['message']));
  }
  return undefined;
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s !== '') out = out.split(s).join('[redacted]');
  return out;
}
