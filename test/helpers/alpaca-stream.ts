/**
 * For the stream tests: an alpaca connector on the fake with short stream timings, a listener
 * and a logger that record what they are told, and the checks every test shares (no key in any
 * reason or log line, nothing reported after the stream was stopped).
 */
import { expect } from 'vitest';
import { createAlpacaConnector, type AlpacaConnector, type AlpacaConnectorConfig } from '../../src/connectors/alpaca.js';
import type { StreamLogger, StreamTiming } from '../../src/connectors/alpaca-stream.js';
import type { OrderStreamListener, StreamState } from '../../src/connectors/connector.js';
import type { Order } from '../../src/domain/types.js';
import type { FakeAlpaca } from '../fakes/alpaca-server.js';
import { eventually } from './server.js';

export const FAST: StreamTiming = {
  backoff: { base_ms: 20, cap_ms: 160 },
  ping_interval_ms: 5_000,
  pong_timeout_ms: 5_000,
  handshake_timeout_ms: 5_000,
  stable_ms: 60_000,
};

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string;
}

export interface Recorder extends OrderStreamListener {
  updates: Order[];
  states: StreamState[];
  connected(): boolean;
  /** Waits until `n` `connected: true` reports have come in. */
  connections(n: number): Promise<void>;
  /** Waits for an update of this order matching `want`, and returns it. */
  update(clientOrderId: string, want: (o: Order) => boolean, what: string): Promise<Order>;
}

export function recorder(): Recorder {
  const updates: Order[] = [];
  const states: StreamState[] = [];
  return {
    updates,
    states,
    onUpdate: (order) => updates.push(order),
    onState: (state) => states.push(state),
    connected: () => states.at(-1)?.connected === true,
    async connections(n) {
      await eventually(async () => (states.filter((s) => s.connected).length >= n ? true : undefined), 10_000, `${n} connected report(s)`);
    },
    async update(clientOrderId, want, what) {
      return eventually(async () => updates.find((o) => o.client_order_id === clientOrderId && want(o)), 10_000, what);
    },
  };
}

export function recordingLogger(): StreamLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = (level: LogLine['level']) => (obj: object, msg: string) => {
    lines.push({ level, obj: { ...obj } as Record<string, unknown>, msg });
  };
  return { lines, info: log('info'), warn: log('warn'), error: log('error') };
}

export function streamConnector(
  fake: Pick<FakeAlpaca, 'url' | 'key_id' | 'secret_key'>,
  opts: { logger?: StreamLogger; timing?: Partial<StreamTiming>; random?: () => number; config?: Partial<AlpacaConnectorConfig> } = {},
): AlpacaConnector {
  const config: AlpacaConnectorConfig = {
    type: 'alpaca',
    base_url: fake.url,
    key_id: fake.key_id,
    secret_key: fake.secret_key,
    live: false,
    timeout_ms: 2000,
    ...opts.config,
  };
  return createAlpacaConnector('paper', config, {
    now: () => new Date(),
    logger: opts.logger,
    stream: { ...FAST, ...opts.timing },
    random: opts.random,
  });
}

/** No reason and no log line may carry a key. */
export function expectNoKeys(fake: { key_id: string; secret_key: string }, rec: Recorder, logger?: { lines: LogLine[] }): void {
  const text = JSON.stringify([rec.states, logger?.lines ?? []]);
  expect(text).not.toContain(fake.secret_key);
  expect(text).not.toContain(fake.key_id);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
