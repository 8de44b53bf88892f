/** Stored documents are checked when rows become records: table tests, no database. */
import { describe, expect, test } from 'vitest';
import { StoredRecordError } from '../../src/store/checks.js';
import { breakerOrInitial, breakersFromRows, cursorFromState, eventRecordFromRow, modeFromState, orderFromMockRow, refusedDeliveryFromRow, signalRecordFromRow, type SignalRow } from '../../src/store/records.js';

const SIGNAL = '{"action":"buy","instrument":"AAPL","quantity":1,"order_type":"market","time_in_force":"day","meta":{}}';
const DECISION = '{"allowed":true,"failures":[],"quantity":1,"side":"buy","exit":false,"trimmed":false,"reserved_notional":1,"reference_price":null}';
const RESULT = '{"connector":"mock","client_order_id":"c","order_id":null,"status":"rejected","filled_quantity":0,"fill_price":null,"error":"no"}';
const row = (o: Partial<SignalRow> = {}): SignalRow => ({
  id: 'sig_1',
  source: 'tv',
  idempotency_key: 'k',
  fingerprint: 'f',
  status: 'executed',
  connector: 'mock',
  instrument: 'AAPL',
  client_order_id: 'c',
  request_id: null,
  received_at: 0,
  updated_at: 0,
  signal: SIGNAL,
  decision: DECISION,
  result: RESULT,
  trace_parent: null,
  ...o,
});

describe('signal rows', () => {
  const cases: Array<{ name: string; row: SignalRow; error: RegExp | null }> = [
    { name: 'a complete row reads', row: row(), error: null },
    { name: 'no decision and no result read as null', row: row({ decision: null, result: null }), error: null },
    { name: 'unknown fields are kept, not refused', row: row({ signal: SIGNAL.replace('"meta":{}', '"meta":{"unknown_fields":{"x":1}},"extra":true') }), error: null },
    { name: 'a truncated signal', row: row({ signal: '{"action":' }), error: /stored signals row "sig_1": field signal is not JSON/ },
    { name: 'a signal that is an array', row: row({ signal: '[]' }), error: /field signal is not valid/ },
    { name: 'a signal with a quantity as text', row: row({ signal: SIGNAL.replace('"quantity":1', '"quantity":"1"') }), error: /field signal is not valid at quantity/ },
    { name: 'a signal whose meta is an array', row: row({ signal: SIGNAL.replace('"meta":{}', '"meta":[]') }), error: /field signal is not valid at meta/ },
    { name: 'a decision with an unknown rule', row: row({ decision: DECISION.replace('"failures":[]', '"failures":[{"rule":"luck","limit":1,"actual":2,"message":"m"}]') }), error: /field decision is not valid at failures.0.rule/ },
    { name: 'a decision with a side of "hold"', row: row({ decision: DECISION.replace('"side":"buy"', '"side":"hold"') }), error: /field decision is not valid at side/ },
    { name: 'a result with a filled quantity of null', row: row({ result: RESULT.replace('"filled_quantity":0', '"filled_quantity":null') }), error: /field result is not valid at filled_quantity/ },
  ];
  for (const c of cases) {
    test(c.name, () => {
      if (c.error === null) expect(signalRecordFromRow(c.row).signal_id).toBe('sig_1');
      else expect(() => signalRecordFromRow(c.row)).toThrow(c.error);
    });
  }

  test('the error names table, row and field', () => {
    const error = (() => {
      try {
        signalRecordFromRow(row({ result: '{}' }));
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(StoredRecordError);
    expect(error).toMatchObject({ table: 'signals', rowId: 'sig_1', field: 'result' });
  });
});

describe('runtime state and other rows', () => {
  const cases: Array<{ name: string; read: () => unknown; want: unknown }> = [
    { name: 'no mode stored', read: () => modeFromState(null), want: null },
    { name: 'a mode', read: () => modeFromState('{"mode":"paused","reason":"x","changed_at":"2026-11-23T15:00:00.000Z"}'), want: { mode: 'paused', reason: 'x', changed_at: '2026-11-23T15:00:00.000Z' } },
    { name: 'a mode of "off"', read: () => modeFromState('{"mode":"off","reason":null,"changed_at":"2026-11-23T15:00:00.000Z"}'), want: /stored runtime_state row "mode": field value is not valid at mode/ },
    { name: 'a mode changed at no time', read: () => modeFromState('{"mode":"paused","reason":null,"changed_at":"soon"}'), want: /at changed_at/ },
    { name: 'no breaker stored reads closed', read: () => breakerOrInitial('breaker:a', null), want: { state: 'closed', consecutive_failures: 0 } },
    { name: 'an open breaker without its time', read: () => breakerOrInitial('breaker:a', '{"state":"open","consecutive_failures":1}'), want: /stored runtime_state row "breaker:a": field value is not a breaker state/ },
    { name: 'breakers by connector', read: () => breakersFromRows([{ key: 'breaker:a', value: '{"state":"closed","consecutive_failures":2}' }]), want: { a: { state: 'closed', consecutive_failures: 2 } } },
    { name: 'one bad breaker fails them all (never silently dropped)', read: () => breakersFromRows([{ key: 'breaker:a', value: '{"state":"closed","consecutive_failures":2}' }, { key: 'breaker:b', value: '{}' }]), want: /"breaker:b"/ },
    { name: 'no cursor stored', read: () => cursorFromState('cursor:x', null), want: null },
    { name: 'a cursor', read: () => cursorFromState('cursor:x', '42'), want: 42 },
    { name: 'a fractional cursor', read: () => cursorFromState('cursor:x', '4.2'), want: /"cursor:x": field value is not valid/ },
    { name: 'event data that is null', read: () => eventRecordFromRow({ seq: 7, at: '', type: 't', signal_id: null, data: 'null', prev_hash: '', hash: '' }), want: /stored events row "7": field data is not valid/ },
    { name: 'delivery issues that are not a list', read: () => refusedDeliveryFromRow({ seq: 3, at: 0, source: 's', code: null, reason: 'r', issues: '{}', request_id: 'q', body_excerpt: '' }), want: /stored deliveries row "3": field issues is not valid/ },
    { name: 'a mock order of an unknown status', read: () => orderFromMockRow({ client_order_id: 'c', order_id: 'o', instrument: 'A', side: 'buy', quantity: 1, order_type: 'market', limit_price: null, status: 'lost', filled_quantity: 0, fill_price: null }), want: /stored mock_orders row "c": field status is not an order status/ },
  ];
  for (const c of cases) {
    test(c.name, () => {
      if (c.want instanceof RegExp) expect(c.read).toThrow(c.want);
      else expect(c.read()).toEqual(c.want);
    });
  }
});
