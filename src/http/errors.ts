/**
 * One error type, one HTTP mapping. Every refusal sluice answers has a code from `ErrorCode`;
 * the status for each code is fixed here and only here (docs/http-api.md#webhook-responses, docs/http-api.md#operator-api).
 */
import type { ValidationIssue } from '../domain/types.js';

export type ErrorCode =
  | 'invalid_signal'
  | 'invalid_request'
  | 'missing_idempotency_key'
  | 'unauthorized'
  | 'forbidden'
  | 'unknown_source'
  | 'not_found'
  | 'conflict'
  | 'idempotency_key_reused'
  | 'payload_too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'shutting_down'
  | 'internal';

export const ERROR_STATUS = {
  invalid_signal: 400,
  invalid_request: 400,
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

/** The wire shape: `{"error":{"code","message","request_id", …}}`. */
export function errorBody(err: AppError, requestId: string): { error: Record<string, unknown> } {
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
