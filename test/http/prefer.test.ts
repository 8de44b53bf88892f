/**
 * `Prefer: wait=N` (docs/http-api.md#webhook-responses): the pure parser as a table, and over real HTTP a
 * malformed `wait` is a 400 that names the expected form instead of being ignored.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parsePreferWait, type PreferWait } from '../../src/http/webhooks.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('parsePreferWait', () => {
  const ok = (ms: number | null): PreferWait => ({ ok: true, ms });
  const cases: Array<[string | undefined, PreferWait | 'refused']> = [
    [undefined, ok(null)],
    ['', ok(null)],
    ['respond-async', ok(null)],
    ['return=minimal', ok(null)],
    ['wait=5', ok(5000)],
    ['Wait = 5', ok(5000)],
    ['wait="2"', ok(2000)],
    ['wait=0', ok(0)],
    ['wait=0.25', ok(250)],
    ['wait=45', ok(30_000)],
    ['respond-async, wait=3', ok(3000)],
    ['wait=3; foo=bar', ok(3000)],
    ['waiting=3', ok(null)],
    ['wait', 'refused'],
    ['wait=', 'refused'],
    ['wait=abc', 'refused'],
    ['wait=-1', 'refused'],
    ['wait=5s', 'refused'],
    ['wait=1e3', 'refused'],
    ['respond-async, wait', 'refused'],
  ];
  test.each(cases)('%j → %j', (header, want) => {
    const got = parsePreferWait(header);
    if (want === 'refused') {
      expect(got.ok).toBe(false);
      if (!got.ok) expect(got.message).toMatch(/^Prefer: expected wait=N with N seconds from 0 to 30 \(e\.g\. "Prefer: wait=5"\), got /);
    } else {
      expect(got).toEqual(want);
    }
  });
});

describe('POST /webhooks/{source} with a malformed Prefer: wait', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  test.each(['wait', 'wait=soon', 'wait='])('Prefer: %s is 400 invalid_request naming the expected form; nothing is recorded', async (prefer) => {
    const id = `prefer-${prefer}`;
    const res = await s.send({ id, action: 'buy', instrument: 'AAPL', quantity: 1, price: 10 }, { headers: { prefer } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string; issues: Array<{ path: string }> } };
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.message).toContain('Prefer: wait=5');
    expect(body.error.issues[0]?.path).toBe('Prefer');
    // Refused before anything was recorded: the same delivery without the header is new.
    expect((await s.send({ id, action: 'buy', instrument: 'AAPL', quantity: 1, price: 10 })).status).toBe(202);
  });

  test('a well-formed Prefer: wait still answers with the outcome', async () => {
    const res = await s.send({ id: 'prefer-ok', action: 'buy', instrument: 'AAPL', quantity: 1, price: 10 }, { headers: { prefer: 'respond-async, wait=5' } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('executed');
  });
});
