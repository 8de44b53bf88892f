/**
 * A broker module (docs/execution.md#module-connectors) whose orders have a life after they are
 * placed, for the operator tests of orders (docs/http-api.md#orders): market orders fill at once,
 * limit orders rest (`new`) until cancelled, except on instruments starting with `LATE`, which
 * fill the next time they are asked about; orders of instruments starting with `REJ` are rejected.
 * Its positions are its fills plus what the JSON file `extra` adds (`{"AAPL": 4}`: shares bought
 * outside sluice, so sluice's ledger is stale). With `stream`, it has an order stream whose state
 * is the content of that file (`up`, or anything else: down with that reason). Every call is
 * appended to `log` (one JSON line). Plain JavaScript: what a user writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ORDER_BROKER = `
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

export default function createBroker(options, ctx) {
  const orders = new Map();
  const held = new Map();
  let seq = 0;
  const log = (entry) => appendFileSync(options.log, JSON.stringify(entry) + '\\n');
  const fill = (o, price) => {
    const p = held.get(o.instrument) ?? { quantity: 0, avg_price: 0 };
    const quantity = p.quantity + (o.side === 'buy' ? 1 : -1) * (o.quantity - o.filled_quantity);
    held.set(o.instrument, { quantity, avg_price: quantity === 0 ? 0 : price });
    Object.assign(o, { status: 'filled', filled_quantity: o.quantity, fill_price: price });
  };
  const extra = () => (existsSync(options.extra) ? JSON.parse(readFileSync(options.extra, 'utf8')) : {});
  const broker = {
    name: ctx.name,
    type: 'module',
    capabilities: { order_types: ['market', 'limit'], brackets: false, fractional: true, short: true, lookup: true, positions: true },
    async place(order) {
      log({ call: 'place', instrument: order.instrument, side: order.side, quantity: order.quantity, order_type: order.order_type });
      const existing = orders.get(order.client_order_id);
      if (existing) return { ok: true, value: { ...existing } };
      seq += 1;
      const o = {
        client_order_id: order.client_order_id, order_id: 'ob-' + seq, instrument: order.instrument, side: order.side,
        quantity: order.quantity, order_type: order.order_type, limit_price: order.limit_price ?? null,
        status: 'new', filled_quantity: 0, fill_price: null,
      };
      orders.set(order.client_order_id, o);
      if (order.instrument.startsWith('REJ')) o.status = 'rejected';
      else if (order.order_type === 'market') fill(o, order.reference_price);
      return { ok: true, value: { ...o } };
    },
    async cancel(instrument) {
      log({ call: 'cancel', instrument });
      let cancelled = 0;
      for (const o of orders.values()) {
        if (o.instrument !== instrument || (o.status !== 'new' && o.status !== 'partially_filled')) continue;
        o.status = 'canceled';
        cancelled += 1;
      }
      return { ok: true, value: { cancelled } };
    },
    async getOrder(clientOrderId) {
      const o = orders.get(clientOrderId);
      if (!o) return { ok: true, value: null };
      if (o.status === 'new' && o.instrument.startsWith('LATE')) fill(o, o.limit_price);
      return { ok: true, value: { ...o } };
    },
    async getPositions() {
      const more = extra();
      const names = new Set([...held.keys(), ...Object.keys(more)]);
      const positions = [...names].map((instrument) => {
        const p = held.get(instrument) ?? { quantity: 0, avg_price: 0 };
        return { instrument, quantity: p.quantity + (more[instrument] ?? 0), avg_price: p.avg_price || 1 };
      });
      return { ok: true, value: positions.filter((p) => p.quantity !== 0) };
    },
  };
  if (options.stream) {
    broker.subscribe = (listener) => {
      let last = null;
      const look = () => {
        const state = existsSync(options.stream) ? readFileSync(options.stream, 'utf8').trim() : 'up';
        if (state === last) return;
        last = state;
        listener.onState(state === 'up' ? { connected: true } : { connected: false, reason: 'test: ' + state });
      };
      look();
      const timer = setInterval(look, 20);
      return () => clearInterval(timer);
    };
  }
  return broker;
}
`;

export interface OrderBroker {
  path: string;
  /** The module's options: where it logs, its extra positions, its stream state file (when streaming). */
  options: { log: string; extra: string; stream?: string };
  calls: () => Array<Record<string, unknown>>;
  /** Shares the broker holds beyond what sluice ordered, by instrument. */
  setExtra: (positions: Record<string, number>) => void;
  /** `up`, or a word that becomes the reason the stream is down. */
  setStream: (state: string) => void;
}

export function writeOrderBroker(dir: string, opts: { stream?: boolean } = {}): OrderBroker {
  const path = join(dir, 'order-broker.mjs');
  const options = { log: join(dir, 'broker-calls.jsonl'), extra: join(dir, 'broker-extra.json'), ...(opts.stream === true ? { stream: join(dir, 'broker-stream') } : {}) };
  writeFileSync(path, ORDER_BROKER);
  writeFileSync(options.log, '');
  return {
    path,
    options,
    calls: () =>
      readFileSync(options.log, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    setExtra: (positions) => writeFileSync(options.extra, JSON.stringify(positions)),
    setStream: (state) => {
      if (options.stream === undefined) throw new Error('this broker has no stream');
      writeFileSync(options.stream, state);
    },
  };
}
