/** The guard for postgres.js's nextWrite defect recognizes exactly that error. */
import { expect, test } from 'vitest';
import { isPostgresNextWriteDefect } from '../../src/store/postgres/driver-guard.js';

function errorWithStack(ctor: ErrorConstructor, message: string, stack: string): Error {
  const err = new ctor(message);
  err.stack = `${ctor.name}: ${message}\n${stack}`;
  return err;
}

test.each([
  ['the driver defect', errorWithStack(TypeError, "Cannot read properties of null (reading 'write')", '    at Immediate.nextWrite (file:///app/node_modules/postgres/src/connection.js:255:22)'), true],
  ['the same message elsewhere', errorWithStack(TypeError, "Cannot read properties of null (reading 'write')", '    at Immediate.flush (file:///app/dist/ops/spool.js:10:2)'), false],
  ['another driver error', errorWithStack(TypeError, "Cannot read properties of undefined (reading 'replace')", '    at queryError (file:///app/node_modules/postgres/src/connection.js:389:48)'), false],
  ['not a TypeError', errorWithStack(Error, "Cannot read properties of null (reading 'write')", '    at Immediate.nextWrite (file:///app/node_modules/postgres/src/connection.js:255:22)'), false],
])('%s', (_name, err, expected) => {
  expect(isPostgresNextWriteDefect(err)).toBe(expected);
});
