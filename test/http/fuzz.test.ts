/**
 * No input yields a 5xx (docs/guarantees.md#malformed-input): at least 200 malformed bodies — random bytes, deep
 * nesting, wrong types, huge numbers, odd unicode, empty — each answered with a 4xx, and the
 * server still healthy afterwards.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, WEBHOOK_SECRET, type TestServer } from '../helpers/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ config: { sources: { default: { auth: { scheme: 'token', secrets: [WEBHOOK_SECRET] } }, tv: { auth: { scheme: 'passphrase', secrets: [WEBHOOK_SECRET] }, format: 'tradingview' }, tp: { auth: { scheme: 'token', secrets: [WEBHOOK_SECRET] }, format: 'traderspost' } } } });
});
afterAll(async () => {
  await s.close();
});

/** A small seeded PRNG (mulberry32) so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bodies(): Array<string | Uint8Array> {
  const r = rng(42);
  const out: Array<string | Uint8Array> = [];
  // Random bytes of random lengths.
  for (let i = 0; i < 60; i += 1) out.push(Uint8Array.from({ length: Math.floor(r() * 300) }, () => Math.floor(r() * 256)));
  // Invalid UTF-8 around valid JSON.
  out.push(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), Uint8Array.from([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"action":"buy"}')]));
  // Empty and JSON scalars.
  out.push('', ' ', 'null', 'true', 'false', '0', '-1', '"buy"', '[]', '{}', '[{}]', '{"a":', '{"action":"buy",}', "{'action':'buy'}");
  // Deep nesting.
  for (const depth of [33, 100, 1000, 5000, 20000]) {
    out.push('['.repeat(depth) + ']'.repeat(depth));
    out.push('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));
    out.push(JSON.stringify({ action: 'buy', instrument: 'AAPL', quantity: 1, meta: JSON.parse('{"a":'.repeat(Math.min(depth, 40)) + '1' + '}'.repeat(Math.min(depth, 40))) }));
  }
  // Wrong types for every field.
  const base = { action: 'buy', instrument: 'AAPL', quantity: 1, price: 1 };
  const wrong: unknown[] = [null, true, [], {}, '', 'x', -1, 0, 1e400, '1e400', 'NaN', 'Infinity', '0x10', ' ', '{{close}}', [1], { a: 1 }];
  for (const field of ['action', 'instrument', 'quantity', 'notional', 'order_type', 'limit_price', 'price', 'time_in_force', 'take_profit', 'stop_loss', 'timestamp', 'meta', 'target_position']) {
    for (const value of wrong) {
      const body: Record<string, unknown> = { ...base, [field]: value };
      // Keep only the ones that are invalid whatever the field: drop values a field accepts.
      if (field === 'meta' && (typeof value === 'object' && value !== null && !Array.isArray(value))) continue;
      if (field === 'instrument' && typeof value === 'string' && /^[A-Za-z0-9./:\-_ ]{1,32}$/.test(value)) continue;
      if (field === 'target_position' && (value === -1 || value === 0)) continue;
      if (field === 'target_position') body.action = 'target';
      if (['quantity', 'price', 'limit_price', 'notional'].includes(field) && value === 1) continue;
      if (field === 'notional') delete body.quantity;
      out.push(JSON.stringify(body).replace('"1e400"', '1e400'));
    }
  }
  // Huge numbers and numeric edge cases.
  for (const q of ['1e400', '-1e400', '1e-400', '123456789012345678901234567890e999', '-0']) {
    out.push(`{"action":"buy","instrument":"AAPL","quantity":${q}}`);
  }
  // Odd unicode in the instrument and keys.
  for (const inst of ['\u202eLPAA', 'A\u200bAPL', '💥', '\ud800', 'AAPL\u0000', 'Ａ', 'x'.repeat(33), '']) {
    out.push(JSON.stringify({ ...base, instrument: inst }));
  }
  out.push('{"\\ud800":1}', '{"__proto__":{"action":"buy"},"instrument":"AAPL"}', '{"constructor":{"prototype":{}}}');
  return out;
}

test('at least 200 malformed bodies: every answer is a 4xx and the process lives', async () => {
  const all = bodies();
  expect(all.length).toBeGreaterThanOrEqual(200);
  const sources = ['default', 'tv', 'tp'];
  const contentTypes = ['application/json', 'text/plain', 'application/octet-stream', 'multipart/form-data; boundary=x'];
  const failures: string[] = [];
  for (let i = 0; i < all.length; i += 1) {
    const body = all[i] ?? '';
    const source = sources[i % sources.length] ?? 'default';
    const res = await fetch(`${s.url}/webhooks/${source}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${WEBHOOK_SECRET}`, 'content-type': contentTypes[i % contentTypes.length] ?? 'text/plain' },
      body,
    });
    await res.arrayBuffer();
    if (res.status < 400 || res.status >= 500) failures.push(`#${i} (${source}) → ${res.status}: ${typeof body === 'string' ? body.slice(0, 80) : `${body.length} bytes`}`);
  }
  expect(failures).toEqual([]);
  expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  // And a valid signal still goes through after all of that.
  const ok = await s.send({ id: `after-fuzz-${Date.now()}`, action: 'buy', instrument: 'AAPL', quantity: 1, price: 1 });
  expect(ok.status).toBe(202);
});

test('malformed auth headers and odd methods never yield a 5xx', async () => {
  const cases: Array<[string, RequestInit]> = [
    ['/webhooks/default', { method: 'POST', headers: { authorization: 'Bearer' }, body: '{}' }],
    ['/webhooks/default', { method: 'POST', headers: { authorization: 'Basic Zm9vOmJhcg==' }, body: '{}' }],
    ['/webhooks/default', { method: 'POST', headers: { authorization: `Bearer ${'x'.repeat(8000)}` }, body: '{}' }],
    ['/webhooks/default', { method: 'GET' }],
    ['/webhooks/default', { method: 'PUT', body: '{}' }],
    ['/webhooks/%E0%A4%A', { method: 'POST', body: '{}' }],
    ['/webhooks/' + 'a'.repeat(500), { method: 'POST', body: '{}' }],
    ['/admin/signals/%00', { method: 'GET' }],
    ['/admin/mode', { method: 'POST', headers: { authorization: 'Bearer \u00ff' }, body: '{}' }],
  ];
  for (const [path, init] of cases) {
    const res = await fetch(`${s.url}${path}`, init);
    expect(res.status, `${init.method} ${path}`).toBeGreaterThanOrEqual(400);
    expect(res.status, `${init.method} ${path}`).toBeLessThan(500);
  }
});
