/**
 * One error type, one HTTP mapping. Every refusal sluice answers has a code from `ErrorCode`;
 * the status for each code is fixed here and only here (docs/http-api.md#webhook-responses, docs/http-api.md#operator-api).
 */
import type { Context } from 'hono';
import type { ValidationIssue } from '../domain/types.js';
import type { Refusal, RefusalCode } from '../ingest/ingest.js';
import type { AppEnv } from './context.js';

/** Ingest's refusal codes are error codes too, so `ERROR_STATUS` must give each a status. */
export type ErrorCode = RefusalCode | 'invalid_request' | 'replay_window_too_large' | 'not_found' | 'conflict' | 'too_many_streams' | 'shutting_down' | 'internal';

export const ERROR_STATUS = {
  invalid_signal: 400,
  invalid_request: 400,
  replay_window_too_large: 400,
  missing_idempotency_key: 400,
  unauthorized: 401,
  forbidden: 403,
  unknown_source: 404,
  not_found: 404,
  conflict: 409,
  idempotency_key_reused: 422,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  too_many_streams: 503,
  shutting_down: 503,
  internal: 500,
} as const satisfies Record<ErrorCode, number>;

export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly issues: ValidationIssue[] | undefined;
  /** Seconds, for 429 and 503. */
  readonly retryAfter: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { issues?: ValidationIssue[]; retryAfter?: number; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.issues = opts.issues;
    this.retryAfter = opts.retryAfter;
    this.details = opts.details;
  }

  get status(): ErrorStatus {
    return ERROR_STATUS[this.code];
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** An ingest refusal as the one error type: its status comes from `ERROR_STATUS`. */
export function refusalError(refusal: Refusal): AppError {
  return new AppError(refusal.code, refusal.message, {
    ...(refusal.issues === undefined ? {} : { issues: refusal.issues }),
    ...(refusal.retry_after_seconds === undefined ? {} : { retryAfter: refusal.retry_after_seconds }),
    ...(refusal.details === undefined ? {} : { details: refusal.details }),
    ...(refusal.cause === undefined ? {} : { cause: refusal.cause }),
  });
}

/** Renders an error answer: body, status, `Retry-After`, and `Connection: close` while shutting down. */
export function errorResponse(c: Context<AppEnv>, err: AppError): Response {
  // The cause (a store failure behind a 503) goes to the log, never to the client.
  if (err.cause !== undefined) c.get('logger').error({ err: err.cause, code: err.code }, err.message);
  if (err.retryAfter !== undefined) c.header('Retry-After', String(err.retryAfter));
  if (err.code === 'shutting_down') c.header('Connection', 'close');
  return c.json(errorBody(err, c.get('requestId')), err.status);
}

/** The wire shape: `{"error":{"code","message","request_id", …}}`. */
function errorBody(err: AppError, requestId: string): { error: Record<string, unknown> } {
  return {
    error: {
      code: err.code,
      message: err.message,
      request_id: requestId,
      ...(err.issues === undefined ? {} : { issues: err.issues }),
      ...(err.details ?? {}),
    },
  };
}
