/**
 * The `module` connector (docs/execution.md#connectors): a user's ES module whose default export is a connector
 * factory `(options, ctx) => connector`, loaded at start; a module that is not one stops the start
 * naming `connectors.<name>.path`; `SLUICE_TEST_MODE=1` replaces it by a mock of the same name (docs/guarantees.md#test-mode).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { checkedPositions } from '../../src/connectors/registry.js';
import { clientOrderId } from '../../src/ingest/identity.js';
import { connectorOf, e2eConfig, mockOrders, nextKey, sendFinal, signalDetail, statusOf } from '../helpers/connectors.js';
import { sendTo, startTestServer, tempDir } from '../helpers/server.js';

/**
 * A broker kept in memory. Every call is appended to `options.log` (one JSON line), so the test can
 * see what reached the module. Plain JavaScript: this is what a user writes.
 */
const BROKER_MODULE = `
import { appendFileSync } from 'node:fs';

export default function createBroker(options, ctx) {
  const orders = new Map();
  let seq = 0;
  const log = (entry) => appendFileSync(options.log, JSON.stringify({ connector: ctx.name, ...entry }) + '\\n');
  log({ call: 'factory', options });
  return {
    name: ctx.name,
    type: 'module',
    capabilities: { order_types: ['market', 'limit'], brackets: false, fractional: true, short: true, lookup: true, positions: false },
    async place(order) {
      log({ call: 'place', client_order_id: order.client_order_id });
      const existing = orders.get(order.client_order_id);
      if (existing) return { ok: true, value: existing };
      seq += 1;
      const placed = {
        client_order_id: order.client_order_id,
        order_id: options.prefix + '-' + seq,
        instrument: order.instrument,
        side: order.side,
        quantity: order.quantity,
        order_type: order.order_type,
        limit_price: order.limit_price ?? null,
        status: 'filled',
        filled_quantity: order.quantity,
        fill_price: order.limit_price ?? order.reference_price ?? null,
      };
      orders.set(order.client_order_id, placed);
      return { ok: true, value: placed };
    },
    async cancel(instrument) {
      log({ call: 'cancel', instrument });
      return { ok: true, value: { cancelled: 0 } };
    },
    async getOrder(clientOrderId) {
      log({ call: 'getOrder', client_order_id: clientOrderId });
      return { ok: true, value: orders.get(clientOrderId) ?? null };
    },
    async getPositions() {
      return { ok: true, value: [] };
    },
    async close() {
      log({ call: 'close' });
    },
  };
}
`;

/** Writes the broker module into `dir`; returns its path and the path of its call log. */
function writeBrokerModule(dir: string, source = BROKER_MODULE): { path: string; log: string } {
  const path = join(dir, 'my-broker.mjs');
  const log = join(dir, 'calls.jsonl');
  writeFileSync(path, source);
  writeFileSync(log, '');
  return { path, log };
}

function calls(log: string): Array<Record<string, unknown>> {
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function moduleConfig(path: string, options: Record<string, unknown>): Record<string, unknown> {
  return e2eConfig({ connector: 'custom', connectors: { custom: { type: 'module', path, options } } });
}

describe('module connector', () => {
  test("a signal is executed through the user's module, with the module's order id", async () => {
    const dir = tempDir();
    const mod = writeBrokerModule(dir);
    const s = await startTestServer({ dir, config: moduleConfig(mod.path, { prefix: 'mybroker', log: mod.log }) });
    try {
      // The factory got the configured options and the connector's name.
      expect(calls(mod.log)[0]).toEqual({ connector: 'custom', call: 'factory', options: { prefix: 'mybroker', log: mod.log } });
      const connector = await connectorOf(s.url, 'custom');
      expect(connector).toMatchObject({ type: 'module', capabilities: { lookup: true, positions: false, brackets: false } });

      const key = nextKey('mod');
      const out = await sendFinal(s.url, { id: key, action: 'buy', instrument: 'AAPL', quantity: 3, price: 150 });
      expect(out.status).toBe('executed');
      const coid = clientOrderId(out.signal_id);
      expect(out.result).toEqual({ connector: 'custom', client_order_id: coid, order_id: 'mybroker-1', status: 'filled', filled_quantity: 3, fill_price: 150 });
      expect((await signalDetail(s.url, out.signal_id)).attempts).toMatchObject([{ n: 1, outcome: 'ok', error: null }]);
      expect(calls(mod.log).filter((c) => c['call'] === 'place')).toEqual([{ connector: 'custom', call: 'place', client_order_id: coid }]);

      // A capability the module does not declare is refused before the module is called.
      const stop = await sendFinal(s.url, { action: 'buy', instrument: 'AAPL', quantity: 1, order_type: 'stop', stop_price: 140, price: 150 });
      expect(stop.status).toBe('rejected');
      expect(stop.decision?.failures.map((f) => f.rule)).toContain('connector_capability');
      expect(calls(mod.log).filter((c) => c['call'] === 'place')).toHaveLength(1);
    } finally {
      await s.close();
    }
    // Shutdown closes the connector.
    expect(calls(mod.log).at(-1)).toEqual({ connector: 'custom', call: 'close' });
  });

  test('a module connector written as a class keeps its close() (called at shutdown)', async () => {
    const dir = tempDir();
    const mod = writeBrokerModule(
      dir,
      `
import { appendFileSync } from 'node:fs';
class Broker {
  constructor(options, name) {
    this.options = options;
    this.name = name;
    this.type = 'module';
    this.capabilities = { order_types: ['market'], brackets: false, fractional: true, short: true, lookup: true, positions: false };
  }
  async place(order) {
    return { ok: true, value: { client_order_id: order.client_order_id, order_id: 'cls-1', instrument: order.instrument, side: order.side, quantity: order.quantity, order_type: order.order_type, limit_price: null, status: 'filled', filled_quantity: order.quantity, fill_price: order.reference_price ?? null } };
  }
  async cancel() { return { ok: true, value: { cancelled: 0 } }; }
  async getOrder() { return { ok: true, value: null }; }
  async getPositions() { return { ok: true, value: [] }; }
  async close() { appendFileSync(this.options.log, JSON.stringify({ call: 'close' }) + '\\n'); }
}
export default (options, ctx) => new Broker(options, ctx.name);
`,
    );
    const s = await startTestServer({ dir, config: moduleConfig(mod.path, { log: mod.log }) });
    const out = await sendFinal(s.url, { action: 'buy', instrument: 'AAPL', quantity: 1, price: 10 });
    expect(out.status).toBe('executed');
    expect(out.result?.order_id).toBe('cls-1');
    await s.close();
    expect(calls(mod.log)).toEqual([{ call: 'close' }]);
  });

  test("a fire-and-forget module (order_updates 'none') gets close and target as actions, buy resolved as always", async () => {
    const dir = tempDir();
    const mod = writeBrokerModule(
      dir,
      `
import { appendFileSync } from 'node:fs';
export default function createRelay(options) {
  let seq = 0;
  return {
    capabilities: { order_types: ['market'], brackets: false, fractional: true, short: true, lookup: false, positions: false, order_updates: 'none' },
    async place(order) {
      appendFileSync(options.log, JSON.stringify({ action: order.action, forwarded: order.forwarded ?? false, side: order.side ?? null, quantity: order.quantity ?? null, target_position: order.target_position ?? null }) + '\\n');
      seq += 1;
      // Taken, nothing filled: a fire-and-forget connector reports no fills.
      return { ok: true, value: { client_order_id: order.client_order_id, order_id: 'ff-' + seq, instrument: order.instrument, side: order.side ?? 'buy', quantity: order.quantity ?? 0, order_type: order.order_type, limit_price: null, status: 'new', filled_quantity: 0, fill_price: null } };
    },
    async cancel() { return { ok: true, value: { cancelled: 0 } }; },
    async getOrder() { return { ok: true, value: null }; },
  };
}
`,
    );
    const s = await startTestServer({ dir, config: moduleConfig(mod.path, { log: mod.log }) });
    try {
      expect(await connectorOf(s.url, 'custom')).toMatchObject({ capabilities: { order_updates: 'none', positions: false } });
      const close = await sendFinal(s.url, { action: 'close', instrument: 'AAPL' });
      const target = await sendFinal(s.url, { action: 'target', instrument: 'AAPL', target_position: 7 });
      const buy = await sendFinal(s.url, { action: 'buy', instrument: 'AAPL', quantity: 2, price: 10 });
      expect([close.status, target.status, buy.status]).toEqual(['executed', 'executed', 'executed']);
      expect(close.decision).toMatchObject({ side: null, quantity: null, forwarded: true });
      expect(calls(mod.log)).toEqual([
        { action: 'close', forwarded: true, side: null, quantity: null, target_position: null },
        { action: 'target', forwarded: true, side: null, quantity: null, target_position: 7 },
        { action: 'buy', forwarded: false, side: 'buy', quantity: 2, target_position: null },
      ]);
    } finally {
      await s.close();
    }
  });

  test('a cancel whose connector throws ends failed, never "executed" as a no-op', async () => {
    const dir = tempDir();
    const mod = writeBrokerModule(dir, BROKER_MODULE.replace("log({ call: 'cancel', instrument });", "log({ call: 'cancel', instrument }); throw new Error('broker SDK blew up');"));
    const s = await startTestServer({ dir, config: moduleConfig(mod.path, { prefix: 'thr', log: mod.log }) });
    try {
      // A throw from a connector is a bug in it; sluice must still reach a final status (docs/execution.md#signal-statuses).
      const res = await sendTo(s.url, { id: nextKey('cxl'), action: 'cancel', instrument: 'AAPL' }, { prefer: 'wait=3' });
      const body = (await res.json()) as { signal_id: string; status: string };
      expect(calls(mod.log).map((c) => c['call'])).toContain('cancel');
      const detail = await signalDetail(s.url, body.signal_id);
      // Not "executed" with a no_op result: the cancel never happened.
      expect({ http: res.status, status: body.status, result_status: detail.result?.status }).toEqual({ http: 200, status: 'failed', result_status: 'error' });
      expect(detail.result?.error).toMatch(/broker SDK blew up/);
    } finally {
      await s.close();
    }
  });

  test('a module whose default export is not a function stops the start, naming connectors.<name>.path', async () => {
    const dir = tempDir();
    const path = join(dir, 'not-a-factory.mjs');
    writeFileSync(path, 'export default { place() {} };\n');
    const started = startTestServer({ dir, config: moduleConfig(path, {}) });
    await expect(started).rejects.toThrow(/connectors\.custom\.path: expected a module whose default export is a connector factory function/);
  });

  test('a module that cannot be imported stops the start, naming connectors.<name>.path', async () => {
    const dir = tempDir();
    const path = join(dir, 'missing.mjs');
    await expect(startTestServer({ dir, config: moduleConfig(path, {}) })).rejects.toThrow(/connectors\.custom\.path: expected an importable ES module/);
  });

  test('SLUICE_TEST_MODE=1 replaces the module connector by a mock of the same name', async () => {
    const dir = tempDir();
    const mod = writeBrokerModule(dir);
    const s = await startTestServer({ dir, config: moduleConfig(mod.path, { prefix: 'never', log: mod.log }), env: { SLUICE_TEST_MODE: '1' } });
    try {
      expect((await statusOf(s.url)).test_mode).toBe(true);
      expect(await connectorOf(s.url, 'custom')).toMatchObject({ type: 'module', mocked: true });
      const key = nextKey('tm');
      const out = await sendFinal(s.url, { id: key, action: 'buy', instrument: 'AAPL', quantity: 2, price: 150 });
      expect(out.status).toBe('executed');
      const coid = clientOrderId(out.signal_id);
      expect(out.result).toMatchObject({ connector: 'custom', client_order_id: coid, status: 'filled', filled_quantity: 2 });
      expect((await signalDetail(s.url, out.signal_id)).connector).toBe('custom');
      expect((await mockOrders(s.url, 'custom')).filter((o) => o.client_order_id === coid)).toMatchObject([{ instrument: 'AAPL', side: 'buy', quantity: 2 }]);
      // The module was built (its config is checked) and closed at once, never asked anything.
      expect(calls(mod.log).map((c) => c['call'])).toEqual(['factory', 'close']);
    } finally {
      await s.close();
    }
  });
});

describe('a module connector and positions (docs/execution.md#position-reconciliation)', () => {
  /** The broker module with its getPositions() replaced (or removed) and its positions capability as given. */
  function variant(getPositions: string | null, positions: 'true' | 'false' | 'omitted'): string {
    const capabilities = `capabilities: { order_types: ['market', 'limit'], brackets: false, fractional: true, short: true, lookup: true${positions === 'omitted' ? '' : `, positions: ${positions}`} },`;
    return BROKER_MODULE.replace(/capabilities: \{[^}]*\},/, capabilities).replace(
      /async getPositions\(\) \{\n\s*return \{ ok: true, value: \[\] \};\n\s*\},/,
      getPositions === null ? '' : `async getPositions() { ${getPositions} },`,
    );
  }

  async function positionsAfterReconciles(source: string): Promise<{ capability: boolean; quantity: number | undefined; errors: string[] }> {
    const dir = tempDir();
    const mod = writeBrokerModule(dir, source);
    const s = await startTestServer({ dir, config: { ...moduleConfig(mod.path, { prefix: 'pos', log: mod.log }), execution: { reconcile_interval_seconds: 0.05 } } });
    try {
      expect((await sendFinal(s.url, { id: nextKey('pos'), action: 'buy', instrument: 'AAPL', quantity: 3, price: 150 })).status).toBe('executed');
      // Let several reconciliation passes run over the booked position.
      await new Promise((resolve) => setTimeout(resolve, 400));
      const book = (await (await s.admin('/positions')).json()) as { connectors: Record<string, { positions: Array<{ instrument: string; quantity: number }> }> };
      const status = (await statusOf(s.url)) as unknown as { recent_errors: Array<{ message: string }> };
      return {
        capability: (await connectorOf(s.url, 'custom')).capabilities.positions === true,
        quantity: book.connectors.custom?.positions.find((p) => p.instrument === 'AAPL')?.quantity,
        errors: status.recent_errors.map((e) => e.message),
      };
    } finally {
      await s.close();
    }
  }

  test('a module without getPositions() starts, declares positions: false, and its fills stay in the book', async () => {
    expect(await positionsAfterReconciles(variant(null, 'omitted'))).toEqual({ capability: false, quantity: 3, errors: [] });
  });

  test('positions: false keeps the book even when getPositions() answers [] ', async () => {
    expect(await positionsAfterReconciles(variant('return { ok: true, value: [] };', 'false'))).toEqual({ capability: false, quantity: 3, errors: [] });
  });

  test('a getPositions() that returns nothing is a reconcile error, not "the account is flat"', async () => {
    for (const body of ['return undefined;', 'return { ok: true };', 'return [];', "return { ok: true, value: [{ instrument: 'AAPL' }] };"]) {
      const out = await positionsAfterReconciles(variant(body, 'true'));
      expect(out.capability).toBe(true);
      expect(out.quantity, body).toBe(3);
      expect(out.errors.some((m) => m.startsWith('reconcile: getPositions() returned')), body).toBe(true);
    }
  });

  test('positions: true without getPositions() stops the start, naming the connector', async () => {
    const dir = tempDir();
    const mod = writeBrokerModule(dir, variant(null, 'true'));
    await expect(startTestServer({ dir, config: moduleConfig(mod.path, { log: mod.log }) })).rejects.toThrow(
      /connectors\.custom: the module's connector declares capabilities\.positions: true but has no getPositions\(\) method/,
    );
  });

  test('checkedPositions: only { ok: true, value: [{ instrument, quantity, avg_price }] } is a list of positions', () => {
    const ok = [{ instrument: 'AAPL', quantity: 2, avg_price: 10 }];
    expect(checkedPositions({ ok: true, value: ok })).toEqual({ ok: true, value: ok });
    expect(checkedPositions({ ok: true, value: [] })).toEqual({ ok: true, value: [] });
    const failure = { ok: false, retryable: true, ambiguous: false, reason: 'broker down' };
    expect(checkedPositions(failure)).toBe(failure);
    for (const bad of [undefined, null, [], {}, { ok: true }, { ok: true, value: {} }, { ok: true, value: [{ instrument: 'AAPL', quantity: '2', avg_price: 1 }] }, { ok: true, value: [{ quantity: 2, avg_price: 1 }] }, { ok: true, value: [{ instrument: 'X', quantity: Number.NaN, avg_price: 1 }] }]) {
      expect(checkedPositions(bad), JSON.stringify(bad)).toMatchObject({ ok: false, retryable: false, ambiguous: false });
    }
  });
});
