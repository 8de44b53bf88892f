/** planRecordSignal and the rows of a new or retried signal: table tests, no database. */
import { describe, expect, test } from 'vitest';
import { newSignalRow, SIGNAL_COLUMNS, nonceLive, nonceRow, planRecordSignal, retryValues, type KeyHolder, type RecordFindings, type RecordPlan } from '../../../src/store/plans/signals.js';
import type { NewSignal } from '../../../src/store/store.js';

const T0 = Date.parse('2026-11-23T15:00:00.000Z');
const holder: KeyHolder = { id: 'sig_1', fingerprint: 'fp', received_at: T0, dedupe_key: 'k' };
type Delivery = Pick<NewSignal, 'key_kind' | 'window_ms' | 'fingerprint' | 'received_at'>;
const delivery = (o: Partial<Delivery> & { after_ms?: number } = {}): Delivery => ({
  key_kind: o.key_kind ?? 'explicit',
  window_ms: o.window_ms ?? 60_000,
  fingerprint: o.fingerprint ?? 'fp',
  received_at: new Date(T0 + (o.after_ms ?? 1_000)),
});

describe('planRecordSignal', () => {
  const cases: Array<{ name: string; holder: KeyHolder | undefined; input: Delivery; want: RecordPlan }> = [
    { name: 'an unknown key is inserted', holder: undefined, input: delivery(), want: { kind: 'insert' } },
    { name: 'same key, same fingerprint: duplicate', holder, input: delivery(), want: { kind: 'duplicate' } },
    { name: 'same key, other fingerprint: conflict', holder, input: delivery({ fingerprint: 'other' }), want: { kind: 'conflict' } },
    { name: 'an explicit key never expires', holder, input: delivery({ after_ms: 86_400_000 }), want: { kind: 'duplicate' } },
    { name: 'an explicit key conflicts after any time', holder, input: delivery({ after_ms: 86_400_000, fingerprint: 'other' }), want: { kind: 'conflict' } },
    { name: 'a body-hash key within its window: duplicate', holder, input: delivery({ key_kind: 'body_hash', after_ms: 59_999 }), want: { kind: 'duplicate' } },
    { name: 'a body-hash key within its window, other fingerprint: conflict', holder, input: delivery({ key_kind: 'body_hash', fingerprint: 'x' }), want: { kind: 'conflict' } },
    { name: 'a body-hash key at the end of its window is freed', holder, input: delivery({ key_kind: 'body_hash', after_ms: 60_000 }), want: { kind: 'rekey', dedupe_key: 'k@sig_1' } },
    { name: 'a body-hash key past its window is freed', holder, input: delivery({ key_kind: 'body_hash', after_ms: 120_000 }), want: { kind: 'rekey', dedupe_key: 'k@sig_1' } },
    { name: 'a zero window frees the key at once', holder, input: delivery({ key_kind: 'body_hash', window_ms: 0, after_ms: 0 }), want: { kind: 'rekey', dedupe_key: 'k@sig_1' } },
  ];
  for (const c of cases) test(c.name, () => expect(planRecordSignal(c.holder, c.input)).toEqual(c.want));
});

describe('planRecordSignal: nonce and replay window', () => {
  const twin: KeyHolder = { id: 'sig_0', fingerprint: 'fp', received_at: T0, dedupe_key: 'other-key' };
  const replayable = (o: Partial<Delivery> & { after_ms?: number; window?: number } = {}) => ({ ...delivery(o), replay_window_ms: o.window ?? 60_000 });
  const cases: Array<{ name: string; holder: KeyHolder | undefined; input: Delivery & { replay_window_ms?: number }; found: RecordFindings; want: RecordPlan }> = [
    { name: 'a taken nonce is a replay before anything else', holder, input: delivery(), found: { nonce_taken: true }, want: { kind: 'replay' } },
    { name: 'a taken nonce with a new key is a replay', holder: undefined, input: delivery(), found: { nonce_taken: true }, want: { kind: 'replay' } },
    { name: 'a free nonce changes nothing', holder: undefined, input: delivery(), found: { nonce_taken: false }, want: { kind: 'insert' } },
    { name: 'the same body under another key within the window: duplicate of it', holder: undefined, input: replayable({ after_ms: 59_999 }), found: { twin }, want: { kind: 'duplicate_body' } },
    { name: 'the same body at the end of the window: a new signal', holder: undefined, input: replayable({ after_ms: 60_000 }), found: { twin }, want: { kind: 'insert' } },
    { name: 'a twin without a replay window changes nothing', holder: undefined, input: delivery(), found: { twin }, want: { kind: 'insert' } },
    { name: 'a twin of another body changes nothing', holder: undefined, input: replayable({ fingerprint: 'other' }), found: { twin }, want: { kind: 'insert' } },
    { name: 'the key holder is judged first: conflict', holder: { ...holder, fingerprint: 'old' }, input: replayable(), found: { twin }, want: { kind: 'conflict' } },
    { name: 'the key holder is judged first: duplicate', holder, input: replayable(), found: { twin }, want: { kind: 'duplicate' } },
    { name: 'an expired body-hash holder, a twin within the window: duplicate of the twin', holder, input: replayable({ key_kind: 'body_hash', window_ms: 1_000, after_ms: 5_000 }), found: { twin: { ...twin, received_at: T0 + 4_000 } }, want: { kind: 'duplicate_body' } },
    { name: 'an expired body-hash holder, no twin in the window: rekey', holder, input: replayable({ key_kind: 'body_hash', window_ms: 1_000, after_ms: 5_000, window: 1_000 }), found: { twin }, want: { kind: 'rekey', dedupe_key: 'k@sig_1' } },
  ];
  for (const c of cases) test(c.name, () => expect(planRecordSignal(c.holder, c.input, c.found)).toEqual(c.want));

  test('nonceRow and nonceLive', () => {
    expect(nonceRow('tv', undefined)).toBeNull();
    expect(nonceRow('tv', { nonce: 'n', expires_at: new Date(T0) })).toEqual({ source: 'tv', nonce: 'n', expires_at: T0 });
    expect(nonceLive(T0, new Date(T0 - 1))).toBe(true);
    expect(nonceLive(T0, new Date(T0))).toBe(false);
  });
});

describe('signal rows', () => {
  const input: NewSignal = {
    signal_id: 'sig_1',
    source: 'tv',
    idempotency_key: 'k',
    key_kind: 'body_hash',
    window_ms: 1,
    fingerprint: 'fp',
    connector: 'mock',
    instrument: 'AAPL',
    client_order_id: 'tv-k',
    signal: { action: 'buy', instrument: 'AAPL', quantity: 1, order_type: 'market', time_in_force: 'day', meta: {} },
    request_id: 'r',
    received_at: new Date(T0),
  };
  const cases: Array<{ name: string; got: () => unknown; want: unknown }> = [
    { name: 'a new row is accepted, keyed by its key, received and updated at once', got: () => newSignalRow(input), want: expect.objectContaining({ id: 'sig_1', status: 'accepted', dedupe_key: 'k', received_at: T0, updated_at: T0 }) },
    { name: 'a new row stores the signal as JSON', got: () => JSON.parse(newSignalRow(input).signal), want: input.signal },
    // Both dialects' prepared insert binds these by name: a column left out would be dropped.
    { name: 'SIGNAL_COLUMNS name every column of a new row but its status', got: () => [...SIGNAL_COLUMNS, 'status'].sort(), want: Object.keys(newSignalRow(input)).sort() },
    { name: 'a retry clears the decision, the result and the order-rate mark', got: () => retryValues(new Date(T0)), want: { status: 'accepted', decision: null, result: null, decided_at: null, order_side: null, updated_at: T0 } },
  ];
  for (const c of cases) test(c.name, () => expect(c.got()).toEqual(c.want));
});
