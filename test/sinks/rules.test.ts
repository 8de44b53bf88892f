/**
 * The sink's pure rules: the subject of an entry (src/ops/nats-sink.ts `subjectFor`), its payload
 * (`entryPayload`: the `GET /admin/events` shape, nothing more), whether an existing stream takes
 * every subject under the prefix (`streamTakes`) and when a sink is degraded (src/ops/sinks.ts
 * `sinkTrouble`).
 */
import { describe, expect, test } from 'vitest';
import { entryPayload, streamTakes, subjectFor } from '../../src/ops/nats-sink.js';
import { sinkTrouble } from '../../src/ops/sinks.js';
import type { EventRecord } from '../../src/store/store.js';

describe('subjectFor', () => {
  test.each([
    ['sluice', 'order.filled', 'sluice.order.filled'],
    ['a.b', 'signal.accepted', 'a.b.signal.accepted'],
    ['sluice', 'flatten', 'sluice.flatten'],
    // Never a wildcard, a space or an empty token, whatever a type holds.
    ['sluice', 'odd type.*.>', 'sluice.odd_type._._'],
    ['sluice', 'a..b', 'sluice.a._.b'],
  ])('%s + %s → %s', (prefix, type, subject) => {
    expect(subjectFor(prefix, type)).toBe(subject);
  });
});

test('entryPayload is the entry as GET /admin/events shows it, in that key order', () => {
  const e = { seq: 7, at: '2026-01-02T03:04:05.678Z', type: 'mode.changed', signal_id: null, data: { to: 'paused' }, prev_hash: 'a'.repeat(64), hash: 'b'.repeat(64), extra: 1 } as EventRecord;
  expect(entryPayload(e)).toBe(`{"seq":7,"at":"2026-01-02T03:04:05.678Z","type":"mode.changed","signal_id":null,"data":{"to":"paused"},"prev_hash":"${'a'.repeat(64)}","hash":"${'b'.repeat(64)}"}`);
});

describe('streamTakes: an existing stream takes every <prefix>.<type>', () => {
  test.each([
    [['sluice.>'], 'sluice', true],
    [['>'], 'sluice', true],
    [['*.>'], 'sluice', true],
    [['a.*.>'], 'a.b', true],
    [['other.>', 'sluice.>'], 'sluice', true],
    [['sluice-other.>'], 'sluice', false],
    [['sluice'], 'sluice', false],
    [['sluice.*'], 'sluice', false],
    [['sluice.signal.>'], 'sluice', false],
    [['sluice.>'], 'sluice.x', true],
    [['a.>'], 'a', true],
    [['a.b.>'], 'a', false],
    [[], 'sluice', false],
  ])('%j, prefix %s → %s', (subjects, prefix, takes) => {
    expect(streamTakes(subjects, prefix)).toBe(takes);
  });
});

describe('sinkTrouble', () => {
  const up = { up: true, since: 0, reason: null };
  const down = { up: false, since: 1_000, reason: 'connection refused' };
  test.each([
    ['up, deliveries fine', up, null, 10_000, null],
    ['down for less than the grace, idle', down, null, 1_500, null],
    ['down for the grace, idle', down, null, 6_000, 'not connected since 1970-01-01T00:00:01.000Z: connection refused'],
    ['deliveries failing, at once', up, { since: 2_000, reason: 'timeout' }, 2_000, 'deliveries failing since 1970-01-01T00:00:02.000Z: timeout'],
    ['failing and down: the failure says more', down, { since: 2_000, reason: 'not connected' }, 9_000, 'deliveries failing since 1970-01-01T00:00:02.000Z: not connected'],
  ])('%s', (_, link, failing, now, trouble) => {
    expect(sinkTrouble(link, failing, now, 5_000)).toBe(trouble);
  });
});
