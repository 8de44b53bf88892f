/**
 * Secrets are redacted in every log line by key, top level and one level down, in the line's
 * object and in a logger's bindings; lazyChild lines carry their bindings.
 */
import { Writable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { createLogger, lazyChild, redactSecrets } from '../../src/telemetry/logger.js';

function capture(level = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger(level, stream), lines };
}

describe('redactSecrets', () => {
  test.each([
    ['no secret: the same object', { a: 1, b: { c: 2 } }, { a: 1, b: { c: 2 } }],
    ['top level', { token: 't', a: 1 }, { token: '[redacted]', a: 1 }],
    ['case-insensitive', { Authorization: 'Bearer x' }, { Authorization: '[redacted]' }],
    ['one level down', { headers: { 'webhook-signature': 'v1,x', 'content-type': 'json' } }, { headers: { 'webhook-signature': '[redacted]', 'content-type': 'json' } }],
    ['a secret key holding an object', { secrets: ['a', 'b'] }, { secrets: '[redacted]' }],
    ['arrays are not walked', { list: [{ token: 'x' }] }, { list: [{ token: 'x' }] }],
  ])('%s', (_name, input, expected) => {
    expect(redactSecrets(input)).toEqual(expected);
  });

  test('the input is never changed, and an object without secrets is returned as is', () => {
    const clean = { a: { b: 1 } };
    expect(redactSecrets(clean)).toBe(clean);
    const dirty = { nested: { passphrase: 'p' } };
    redactSecrets(dirty);
    expect(dirty.nested.passphrase).toBe('p');
  });
});

describe('createLogger and lazyChild', () => {
  test('secrets in the object, nested, and in bindings are redacted', () => {
    const { logger, lines } = capture();
    logger.info({ secret_key: 'S1', config: { signing_secret: 'S2' } }, 'one');
    logger.child({ admin_token: 'S3' }).info('two');
    lazyChild(logger, { passphrase: 'S4', request_id: 'r1' }).warn({ key_id: 'S5' }, 'three');
    logger.flush();
    const text = JSON.stringify(lines);
    for (const s of ['S1', 'S2', 'S3', 'S4', 'S5']) expect(text).not.toContain(`"${s}"`);
    expect(lines.map((l) => l.msg)).toEqual(['one', 'two', 'three']);
    expect(lines[2]).toMatchObject({ request_id: 'r1', level: 'warn' });
  });

  test('lazyChild lines carry the bindings; the line overrides a binding of the same name', () => {
    const { logger, lines } = capture();
    const log = lazyChild(logger, { request_id: 'r1', signal_id: 's1' });
    log.info('plain message');
    log.info({ signal_id: 's2', n: 3 }, 'with fields');
    log.error(new Error('boom'));
    log.debug({ n: 1 }, 'below the level');
    log.child({ x: 1 }).info('via a real child');
    logger.flush();
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatchObject({ request_id: 'r1', signal_id: 's1', msg: 'plain message' });
    expect(lines[1]).toMatchObject({ request_id: 'r1', signal_id: 's2', n: 3, msg: 'with fields' });
    expect(lines[2]).toMatchObject({ request_id: 'r1', msg: 'boom', err: { message: 'boom', type: 'Error' } });
    expect(lines[3]).toMatchObject({ request_id: 'r1', signal_id: 's1', x: 1, msg: 'via a real child' });
  });
});
