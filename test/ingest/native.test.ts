/** Native signal validation (docs/http-api.md#signal-body): instruments, meta, timestamps and the sane bounds, as tables. */
import { describe, expect, test } from 'vitest';
import { isStrictTimestamp, parseNativeSignal } from '../../src/ingest/formats/native.js';

const BASE = { action: 'buy', instrument: 'AAPL', quantity: 1, price: 100 };

/** The validated signal, or the paths of the issues. */
function check(extra: Record<string, unknown>): { ok: true; signal: Record<string, unknown> } | { ok: false; paths: string[] } {
  const r = parseNativeSignal({ ...BASE, ...extra });
  return r.ok ? { ok: true, signal: { ...r.signal } } : { ok: false, paths: r.issues.map((i) => i.path) };
}

describe('instrument', () => {
  const cases: { input: unknown; want: string | null }[] = [
    { input: 'ES1!', want: 'ES1!' },
    { input: 'NQ1!', want: 'NQ1!' },
    { input: 'cl1!', want: 'CL1!' },
    { input: 'aapl', want: 'AAPL' },
    { input: '  aapl  ', want: 'AAPL' },
    { input: 'BRK.B', want: 'BRK.B' },
    { input: 'BTC/USD', want: 'BTC/USD' },
    { input: 'NYSE:IBM', want: 'NYSE:IBM' },
    { input: 'ES_F-1', want: 'ES_F-1' },
    { input: 'BRK B', want: 'BRK B' },
    { input: 'A'.repeat(32), want: 'A'.repeat(32) },
    { input: ` ${'A'.repeat(32)} `, want: 'A'.repeat(32) },
    { input: 'A'.repeat(33), want: null },
    { input: ' '.repeat(32), want: null },
    { input: ' ', want: null },
    { input: '', want: null },
    { input: '!', want: '!' },
    { input: 'A\tB', want: null },
    { input: 'AAPL@', want: null },
    { input: 'A\u200bAPL', want: null },
    { input: '💥', want: null },
    { input: 12, want: null },
  ];
  test.each(cases)('$input → $want', ({ input, want }) => {
    const r = check({ instrument: input });
    if (want === null) expect(r).toEqual({ ok: false, paths: ['instrument'] });
    else expect(r).toMatchObject({ ok: true, signal: { instrument: want } });
  });
});

describe('meta', () => {
  const cases: { name: string; meta: unknown; ok: boolean }[] = [
    { name: 'an object', meta: { a: 1 }, ok: true },
    { name: 'an empty object', meta: {}, ok: true },
    { name: 'an empty array', meta: [], ok: false },
    { name: 'an array of values', meta: [1, 2], ok: false },
    { name: 'a string', meta: 'x', ok: false },
    { name: 'null', meta: null, ok: false },
  ];
  test.each(cases)('$name → ok $ok', ({ meta, ok }) => {
    const r = check({ meta });
    if (ok) expect(r.ok).toBe(true);
    else expect(r).toEqual({ ok: false, paths: ['meta'] });
  });
});

describe('timestamp: strict ISO-8601 with an offset, on a real calendar', () => {
  const cases: { ts: string; ok: boolean }[] = [
    { ts: '2026-11-22T10:30:00Z', ok: true },
    { ts: '2026-11-22T10:30Z', ok: true },
    { ts: '2026-11-22T10:30:00.123456789Z', ok: true },
    { ts: '2026-11-22T10:30:00+01:00', ok: true },
    { ts: '2026-11-22T10:30:00-0500', ok: true },
    { ts: '2024-02-29T10:00:00Z', ok: true },
    { ts: '2000-02-29T10:00:00Z', ok: true },
    { ts: '2026-12-31T23:59:59Z', ok: true },
    { ts: '2026-02-30T10:00:00Z', ok: false },
    { ts: '2026-02-29T10:00:00Z', ok: false },
    { ts: '2100-02-29T10:00:00Z', ok: false },
    { ts: '2026-04-31T10:00:00Z', ok: false },
    { ts: '2026-13-01T10:00:00Z', ok: false },
    { ts: '2026-00-10T10:00:00Z', ok: false },
    { ts: '2026-01-00T10:00:00Z', ok: false },
    { ts: '2026-01-01T24:00:00Z', ok: false },
    { ts: '2026-01-01T23:60:00Z', ok: false },
    { ts: '2026-01-01T23:59:60Z', ok: false },
    { ts: '2026-01-01T10:00:00+25:00', ok: false },
    { ts: '2026-01-01T10:00:00+01:60', ok: false },
    { ts: '2026-01-01T10:00:00', ok: false },
    { ts: '2026-01-01 10:00:00Z', ok: false },
    { ts: '2026-01-01T10:00:00z', ok: false },
    { ts: '2026-1-01T10:00:00Z', ok: false },
    { ts: 'yesterday', ok: false },
  ];
  test.each(cases)('$ts → $ok', ({ ts, ok }) => {
    expect(isStrictTimestamp(ts)).toBe(ok);
    const r = check({ timestamp: ts });
    if (ok) expect(r).toMatchObject({ ok: true, signal: { timestamp: ts } });
    else expect(r).toEqual({ ok: false, paths: ['timestamp'] });
  });
});

describe('bounds no broker accepts: quantity ≤ 1e9 (> 0 at 9 decimals), prices in [1e-6, 1e9], notional ≤ 1e12', () => {
  const cases: { name: string; extra: Record<string, unknown>; bad: string | null }[] = [
    { name: 'quantity 1e300', extra: { quantity: 1e300 }, bad: 'quantity' },
    { name: 'quantity "1e300" as a string', extra: { quantity: '1e300' }, bad: 'quantity' },
    { name: 'quantity 1e9', extra: { quantity: 1e9 }, bad: null },
    { name: 'quantity 1e9 + 1', extra: { quantity: 1e9 + 1 }, bad: 'quantity' },
    { name: 'quantity 1e-9', extra: { quantity: 1e-9 }, bad: null },
    { name: 'quantity 4e-10 (0 at 9 decimals)', extra: { quantity: 4e-10 }, bad: 'quantity' },
    { name: 'quantity 1e-300', extra: { quantity: 1e-300 }, bad: 'quantity' },
    { name: 'quantity 0', extra: { quantity: 0 }, bad: 'quantity' },
    { name: 'price 1e-300', extra: { price: 1e-300 }, bad: 'price' },
    { name: 'price 1e-6', extra: { price: 1e-6 }, bad: null },
    { name: 'price 9e-7', extra: { price: 9e-7 }, bad: 'price' },
    { name: 'price 1e9', extra: { price: 1e9 }, bad: null },
    { name: 'price 1.0001e9', extra: { price: 1.0001e9 }, bad: 'price' },
    { name: 'limit_price 1e300', extra: { order_type: 'limit', limit_price: 1e300 }, bad: 'limit_price' },
    { name: 'stop_price 1e-7', extra: { order_type: 'stop', stop_price: 1e-7 }, bad: 'stop_price' },
    { name: 'take_profit.limit_price 1e10', extra: { take_profit: { limit_price: 1e10 } }, bad: 'take_profit.limit_price' },
    { name: 'stop_loss.stop_price 1e-9', extra: { stop_loss: { stop_price: 1e-9 } }, bad: 'stop_loss.stop_price' },
    { name: 'target_position -1e9', extra: { action: 'target', quantity: undefined, target_position: -1e9 }, bad: null },
    { name: 'target_position 0', extra: { action: 'target', quantity: undefined, target_position: 0 }, bad: null },
    { name: 'target_position -1e10', extra: { action: 'target', quantity: undefined, target_position: -1e10 }, bad: 'target_position' },
    { name: 'notional 1e12', extra: { quantity: undefined, notional: 1e12 }, bad: null },
    { name: 'notional 1e13', extra: { quantity: undefined, notional: 1e13 }, bad: 'notional' },
  ];
  test.each(cases)('$name → refused at $bad', ({ extra, bad }) => {
    const body: Record<string, unknown> = { ...BASE, ...extra };
    for (const [k, val] of Object.entries(body)) if (val === undefined) delete body[k];
    const r = parseNativeSignal(body);
    if (bad === null) expect(r.ok).toBe(true);
    else expect(r.ok ? [] : r.issues.map((i) => i.path)).toEqual([bad]);
  });
});
