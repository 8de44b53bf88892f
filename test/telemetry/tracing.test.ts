/** The pure parts of telemetry/tracing.ts, and what its hooks do while tracing is off: table tests, no SDK. */
import { describe, expect, test } from 'vitest';
import type { Decision } from '../../src/domain/types.js';
import pino from 'pino';
import { ConfigError } from '../../src/config/load.js';
import { gateAttributes, rateLimited, startLinkedSpan, startSpan, startTracing, traced, traceIdOf, tracingActive } from '../../src/telemetry/tracing.js';
import { tracingProblems, tracingWanted } from '../../src/telemetry/tracing-env.js';

const ENDPOINT = 'http://127.0.0.1:4318';

describe('tracingWanted', () => {
  const cases: Array<{ name: string; env: Record<string, string>; on: boolean }> = [
    { name: 'nothing set', env: {}, on: false },
    { name: 'the base endpoint', env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT }, on: true },
    { name: 'the traces endpoint alone', env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${ENDPOINT}/v1/traces` }, on: true },
    { name: 'an empty endpoint', env: { OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }, on: false },
    { name: 'other OTEL_ variables without an endpoint', env: { OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' }, on: false },
    { name: 'OTEL_SDK_DISABLED=true', env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_SDK_DISABLED: 'true' }, on: false },
    { name: 'OTEL_SDK_DISABLED=TRUE (case-insensitive)', env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_SDK_DISABLED: ' TRUE ' }, on: false },
    { name: 'OTEL_SDK_DISABLED=false', env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_SDK_DISABLED: 'false' }, on: true },
    { name: 'OTEL_TRACES_EXPORTER=none', env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_EXPORTER: 'none' }, on: false },
  ];
  test.each(cases)('$name → $on', ({ env, on }) => {
    expect(tracingWanted(env)).toBe(on);
  });
});

describe('tracingProblems: an endpoint the SDK would not use is a start error, never a silent default', () => {
  const cases: Array<{ name: string; env: Record<string, string>; problems: string[] }> = [
    { name: 'nothing set', env: {}, problems: [] },
    { name: 'an http endpoint', env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT }, problems: [] },
    { name: 'an https traces endpoint', env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://otlp.example.com/v1/traces' }, problems: [] },
    { name: 'tracing disabled: not checked', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'nonsense', OTEL_SDK_DISABLED: 'true' }, problems: [] },
    {
      name: 'not a URL (the SDK would export to localhost:4318)',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' },
      problems: ['OTEL_EXPORTER_OTLP_ENDPOINT: expected an http:// or https:// URL (e.g. http://collector:4318), got another value (not shown: it may hold a credential)'],
    },
    {
      name: 'no scheme at all',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url SECRET' },
      problems: ['OTEL_EXPORTER_OTLP_ENDPOINT: expected an http:// or https:// URL (e.g. http://collector:4318), got another value (not shown: it may hold a credential)'],
    },
    {
      name: 'another scheme, credentials never echoed',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://user:SECRET@collector:4317' },
      problems: ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: expected an http:// or https:// URL (e.g. http://collector:4318), got another value (not shown: it may hold a credential)'],
    },
  ];
  test.each(cases)('$name', ({ env, problems }) => {
    expect(tracingProblems(env)).toEqual(problems);
  });

  test('startTracing refuses such an endpoint with a ConfigError, without loading the SDK', async () => {
    const logger = pino({ level: 'silent' });
    await expect(startTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'nonsense' }, logger, version: 't' })).rejects.toBeInstanceOf(ConfigError);
    expect(tracingActive()).toBe(false);
  });
});

describe('traceIdOf', () => {
  const cases: Array<{ traceparent: string | null; id: string | null }> = [
    { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', id: '0af7651916cd43dd8448eb211c80319c' },
    { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00', id: '0af7651916cd43dd8448eb211c80319c' },
    { traceparent: null, id: null },
    { traceparent: '', id: null },
    { traceparent: '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', id: null },
    { traceparent: '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01', id: null },
    { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331', id: null },
  ];
  test.each(cases)('$traceparent → $id', ({ traceparent, id }) => {
    expect(traceIdOf(traceparent)).toBe(id);
  });
});

describe('rateLimited', () => {
  test('one line per interval, the next one counting what was held back', () => {
    let t = 0;
    const said: Array<[string, number]> = [];
    const say = rateLimited(60_000, (message, suppressed) => said.push([message, suppressed]), () => t);
    const at: Array<[number, string]> = [
      [0, 'a'],
      [1, 'b'],
      [59_999, 'c'],
      [60_000, 'd'],
      [60_001, 'e'],
      [200_000, 'f'],
    ];
    for (const [when, message] of at) {
      t = when;
      say(message);
    }
    expect(said).toEqual([
      ['a', 0],
      ['d', 2],
      ['f', 1],
    ]);
  });
});

describe('gateAttributes', () => {
  const allowed: Decision = { allowed: true, failures: [], quantity: 10, side: 'buy', exit: false, trimmed: false, reserved_notional: 1000, reference_price: 100 };
  const rejected: Decision = {
    ...allowed,
    allowed: false,
    quantity: null,
    side: null,
    failures: [
      { rule: 'max_order_notional', limit: 1, actual: 2, message: 'x' },
      { rule: 'instrument_allowed', limit: null, actual: null, message: 'y' },
    ],
  };
  const cases: Array<{ name: string; outcome: string; decision: Decision | null; attributes: Record<string, unknown> }> = [
    { name: 'blocked (no decision)', outcome: 'blocked', decision: null, attributes: { 'sluice.gate.outcome': 'blocked' } },
    {
      name: 'executing',
      outcome: 'executing',
      decision: allowed,
      attributes: { 'sluice.gate.outcome': 'executing', 'sluice.decision.allowed': true, 'sluice.decision.exit': false, 'sluice.decision.side': 'buy', 'sluice.decision.quantity': 10 },
    },
    {
      name: 'rejected, with the rules that refused',
      outcome: 'rejected',
      decision: rejected,
      attributes: { 'sluice.gate.outcome': 'rejected', 'sluice.decision.allowed': false, 'sluice.decision.exit': false, 'sluice.decision.rules': 'max_order_notional,instrument_allowed' },
    },
  ];
  test.each(cases)('$name', ({ outcome, decision, attributes }) => {
    expect(gateAttributes(outcome, decision)).toEqual(attributes);
  });
});

describe('hooks while tracing is off', () => {
  const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  test('no span is made, and traced() calls straight through, a sync value staying sync', async () => {
    expect(tracingActive()).toBe(false);
    expect(startSpan('gate', parent)).toBeNull();
    expect(startLinkedSpan('order.fill', parent, {})).toBeNull();
    expect(traced('verify', parent, () => 5)).toBe(5);
    const promise = Promise.resolve('x');
    expect(traced('record', parent, () => promise)).toBe(promise);
    expect(() => traced('record', parent, () => { throw new Error('boom'); })).toThrow('boom');
  });
});
