/**
 * Stored JSON is checked when read: a row whose document is not what its column must hold makes
 * the read fail with an error naming the table, the row and the field (never a silent cast).
 * The rows are corrupted with direct SQL, which no verb would write.
 */
import { describe, expect, test } from 'vitest';
import { StoredRecordError } from '../../../src/store/checks.js';
import { allow, gateInput, record, type ContractContext } from './helpers.js';

export function recordsContract({ s, raw }: ContractContext): void {
  describe('stored documents are checked when read', () => {
    const cases: Array<{ name: string; column: 'signal' | 'decision' | 'result'; value: string; message: RegExp }> = [
      { name: 'a signal that is not JSON', column: 'signal', value: '{"action":', message: /field signal is not JSON/ },
      { name: 'a signal with an unknown action', column: 'signal', value: '{"action":"fly","instrument":"X","order_type":"market","time_in_force":"day","meta":{}}', message: /field signal is not valid at action/ },
      { name: 'a signal without meta', column: 'signal', value: '{"action":"buy","instrument":"X","order_type":"market","time_in_force":"day"}', message: /field signal is not valid/ },
      { name: 'a decision whose allowed is not a boolean', column: 'decision', value: '{"allowed":"yes"}', message: /field decision is not valid at allowed/ },
      { name: 'a result without its connector', column: 'result', value: '{"client_order_id":"c","order_id":null,"status":"filled","filled_quantity":1,"fill_price":1}', message: /field result is not valid/ },
    ];
    for (const c of cases) {
      test(`signals: ${c.name} fails the read, naming the row and the field`, async () => {
        const rec = await record(s());
        await raw().run(`update signals set ${c.column} = '${c.value}' where id = '${rec.signal_id}'`);
        const read = s().getSignal(rec.signal_id);
        await expect(read).rejects.toThrow(StoredRecordError);
        await expect(s().getSignal(rec.signal_id)).rejects.toThrow(new RegExp(`stored signals row "${rec.signal_id}": ${c.message.source}`));
        await expect(s().listSignals({ limit: 10 })).rejects.toThrow(c.message);
      });
    }

    test('a gate does not act on a signal row it cannot read', async () => {
      const rec = await record(s());
      await raw().run(`update signals set signal = 'null' where id = '${rec.signal_id}'`);
      await expect(s().gateSignal(gateInput(rec, allow()))).rejects.toThrow(/stored signals row .*field signal/);
      await raw().run(`update signals set signal = '${JSON.stringify(rec.signal)}' where id = '${rec.signal_id}'`);
      expect((await s().gateSignal(gateInput(rec, allow()))).kind).toBe('executing');
    });

    const state: Array<{ name: string; key: string; value: string; read: 'mode' | 'breakers' | 'cursor'; message: RegExp }> = [
      { name: 'a mode that is not a mode', key: 'mode', value: '{"mode":"off","reason":null,"changed_at":"2026-11-23T15:00:00.000Z"}', read: 'mode', message: /stored runtime_state row "mode": field value is not valid at mode/ },
      { name: 'a mode that is not JSON', key: 'mode', value: 'enabled', read: 'mode', message: /stored runtime_state row "mode": field value is not JSON/ },
      { name: 'a breaker that is not a breaker', key: 'breaker:mock', value: '{"state":"ajar","consecutive_failures":0}', read: 'breakers', message: /stored runtime_state row "breaker:mock": field value is not a breaker state/ },
      { name: 'a cursor that is not an offset', key: 'cursor:alerts', value: '-3', read: 'cursor', message: /stored runtime_state row "cursor:alerts": field value is not valid/ },
      { name: 'a cursor that is a string', key: 'cursor:alerts', value: '"7"', read: 'cursor', message: /stored runtime_state row "cursor:alerts": field value is not valid/ },
    ];
    for (const c of state) {
      test(`runtime_state: ${c.name} fails the read, naming the key`, async () => {
        await raw().run(`insert into runtime_state (key, value, updated_at) values ('${c.key}', '${c.value}', 0)`);
        const read = c.read === 'mode' ? s().getMode() : c.read === 'breakers' ? s().getBreakers() : s().getCursor('alerts');
        await expect(read).rejects.toThrow(c.message);
      });
    }

    test('events: data that is not an object fails the read, naming the seq', async () => {
      await s().appendEvent({ type: 'probe', data: { ok: true } });
      await raw().run(`update events set data = '[1]' where seq = 1`);
      await expect(s().listEvents(0, 10)).rejects.toThrow(/stored events row "1": field data is not valid/);
    });
  });
}
