/**
 * The one classifier of database errors (docs/http-api.md#error-body): which errors mean "busy,
 * retry shortly" (503 with Retry-After), for both dialects, from the error alone.
 */
import { describe, expect, test } from 'vitest';
import { isDatabaseBusy, isDataError } from '../../src/store/errors.js';

const withCode = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });

describe('isDatabaseBusy', () => {
  test.each([
    ['55P03 lock_not_available (lock_timeout)', withCode('55P03'), true],
    ['57014 query_canceled (statement_timeout)', withCode('57014'), true],
    ['40001 serialization_failure', withCode('40001'), true],
    ['40P01 deadlock_detected', withCode('40P01'), true],
    ['SQLITE_BUSY', withCode('SQLITE_BUSY'), true],
    ['SQLITE_BUSY_SNAPSHOT', withCode('SQLITE_BUSY_SNAPSHOT'), true],
    ['SQLITE_LOCKED', withCode('SQLITE_LOCKED'), true],
    ['a wrapper whose cause is 57014', Object.assign(new Error('Failed query'), { cause: withCode('57014') }), true],
    ['08006 connection_failure (an outage, not busy)', withCode('08006'), false],
    ['ECONNREFUSED (an outage, not busy)', withCode('ECONNREFUSED'), false],
    ['23505 unique_violation (a bad value)', withCode('23505'), false],
    ['SQLITE_CONSTRAINT_UNIQUE (a bad value)', withCode('SQLITE_CONSTRAINT_UNIQUE'), false],
    ['an error without a code', new Error('boom'), false],
    ['a thrown string', 'boom', false],
    ['null', null, false],
  ])('%s → %s', (_name, err, busy) => {
    expect(isDatabaseBusy(err)).toBe(busy);
    // Busy is never a bad value: the two classes do not overlap.
    if (busy) expect(isDataError(err)).toBe(false);
  });
});
