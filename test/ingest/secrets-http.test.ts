/**
 * docs/guarantees.md#secrets: secrets never appear in logs, stored payloads, events, status, deliveries or
 * errors. Every scheme is exercised through the real server (accepted and refused, passphrase
 * in valid and invalid bodies, bearer and X-Api-Key tokens, admin and read tokens), then every
 * configured secret value is searched for in the captured log, the raw bytes of the SQLite
 * files, the operator API and every response. A planted marker proves each search can hit.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sign as githubSign } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { beforeAll, describe, expect, test } from 'vitest';
import { eventually, startTestServer, tempDir, type TestServer } from '../helpers/server.js';

const SW_KEY_TEXT = 'SECRET-SW-KEY-7f3a-0123456789ab';
const SW_OLD_KEY_TEXT = 'SECRET-SW-OLDKEY-2d9b-01234567';
const SW = `whsec_${Buffer.from(SW_KEY_TEXT).toString('base64')}`;
const SW_OLD = `whsec_${Buffer.from(SW_OLD_KEY_TEXT).toString('base64')}`;
const HMAC = 'SECRET-HMAC-4b2e-9c81';
const STRIPE = 'whsec_SECRET-STRIPE-8d4c-1a2b';
const GITHUB = 'SECRET-GITHUB-2a9f-77e0';
const BEARER = 'SECRET-BEARER-6e1b-3f5a';
const API_KEY = 'SECRET-APIKEY-3c7d-8e2f';
const PASSPHRASE = 'SECRET-PASSPHRASE-7f3a';
const ADMIN = 'SECRET-ADMIN-TOKEN-5a8e';
const READ = 'SECRET-READ-TOKEN-1f6b';
// A Standard Webhooks signing secret (the http connector refuses anything else at start).
const RELAY_KEY_TEXT = 'SECRET-RELAY-SIGNING-0c4d';
const RELAY = `whsec_${Buffer.from(RELAY_KEY_TEXT).toString('base64')}`;

/** Every secret string, and the raw key bytes behind each whsec_ secret. */
const SECRETS = [SW, SW_OLD, SW_KEY_TEXT, SW_OLD_KEY_TEXT, HMAC, STRIPE, GITHUB, BEARER, API_KEY, PASSPHRASE, ADMIN, READ, RELAY, RELAY_KEY_TEXT];

/** Sent on purpose through every channel, so that a search that sees nothing is caught. */
const MARKER = 'PLANTED-c0ffee';
const CONTROL_SOURCE = `ctl-${MARKER}`;

/** The needles that occur in `haystack`, as UTF-8 and as Latin-1 (raw bytes). */
function findNeedles(haystack: string | Buffer, needles: readonly string[]): string[] {
  const views = typeof haystack === 'string' ? [haystack] : [haystack.toString('latin1'), haystack.toString('utf8')];
  return needles.filter((needle) => views.some((view) => view.includes(needle)));
}

const stripe = new Stripe('sk_test_x');
const unix = (offsetMs = 0): number => Math.floor((Date.now() + offsetMs) / 1000);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const native = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ id: `sig-${randomUUID()}`, action: 'buy', instrument: 'AAPL', quantity: 1, price: 100, ...extra });

const alert = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  passphrase: PASSPHRASE,
  ticker: 'AAPL',
  action: 'buy',
  contracts: '1',
  price: '100',
  time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  order_id: `Long-${randomUUID()}`,
  strategy: 'momentum_v1',
  ...extra,
});

function signSw(secret: string, body: string, offsetMs = 0): Record<string, string> {
  const id = `msg_${randomUUID().replaceAll('-', '')}`;
  const at = new Date(Date.now() + offsetMs);
  return { 'webhook-id': id, 'webhook-timestamp': String(unix(offsetMs)), 'webhook-signature': new Webhook(secret).sign(id, at, body) };
}

function signHmac(secret: string, body: string, nonce = randomBytes(12).toString('hex')): Record<string, string> {
  const ts = String(unix());
  return { 'X-Timestamp': ts, 'X-Nonce': nonce, 'X-Signature': createHmac('sha256', secret).update(`${ts}.${nonce}.${body}`).digest('hex') };
}

interface Evidence {
  logs: string;
  files: Array<{ name: string; bytes: Buffer }>;
  api: Array<{ path: string; text: string }>;
  responses: string[];
  statuses: number[];
}

const evidence: Evidence = { logs: '', files: [], api: [], responses: [], statuses: [] };

function readDbFiles(dir: string, when: string): Array<{ name: string; bytes: Buffer }> {
  return ['sluice.db', 'sluice.db-wal', 'sluice.db-shm']
    .filter((name) => existsSync(join(dir, name)))
    .map((name) => ({ name: `${name} (${when})`, bytes: readFileSync(join(dir, name)) }));
}

async function exercise(s: TestServer): Promise<void> {
  const seen = async (res: Promise<Response>, expected: number): Promise<void> => {
    const r = await res;
    evidence.statuses.push(r.status);
    const headers = [...r.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n');
    evidence.responses.push(`${r.status}\n${headers}\n\n${await r.text()}`);
    expect(r.status).toBe(expected);
  };
  const post = (source: string, body: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${s.url}/webhooks/${source}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const admin = (path: string, token: string, init: { method?: string; body?: unknown } = {}): Promise<Response> =>
    fetch(`${s.url}/admin${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });

  // standard-webhooks: current secret accepted; the expired one, a tampered body and a stale timestamp refused.
  let body = native();
  await seen(post('sw', body, signSw(SW, body)), 202);
  body = native();
  await seen(post('sw', body, signSw(SW_OLD, body)), 401);
  body = native();
  await seen(post('sw', body.replace('AAPL', 'MSFT'), signSw(SW, body)), 401);
  body = native();
  await seen(post('sw', body, signSw(SW, body, -600_000)), 401);

  // hmac: accepted, wrong secret, replayed nonce.
  body = native();
  const nonce = randomBytes(12).toString('hex');
  await seen(post('hm', body, signHmac(HMAC, body, nonce)), 202);
  await seen(post('hm', body, signHmac(HMAC, body, nonce)), 401);
  body = native();
  await seen(post('hm', body, signHmac(`x${HMAC}`, body)), 401);

  // stripe: accepted, stale, wrong secret.
  body = native();
  await seen(post('st', body, { 'Stripe-Signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret: STRIPE, timestamp: unix() }) }), 202);
  body = native();
  await seen(post('st', body, { 'Stripe-Signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret: STRIPE, timestamp: unix(-600_000) }) }), 401);
  body = native();
  await seen(post('st', body, { 'Stripe-Signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret: `${STRIPE}x`, timestamp: unix() }) }), 401);

  // github: accepted, redelivered (duplicate), wrong secret.
  body = native();
  const delivery = randomUUID();
  await seen(post('gh', body, { 'X-Hub-Signature-256': await githubSign(GITHUB, body), 'X-GitHub-Delivery': delivery }), 202);
  await seen(post('gh', body, { 'X-Hub-Signature-256': await githubSign(GITHUB, body), 'X-GitHub-Delivery': delivery }), 200);
  body = native();
  await seen(post('gh', body, { 'X-Hub-Signature-256': await githubSign(`${GITHUB}x`, body) }), 401);

  // token: bearer and X-Api-Key accepted; a wrong one refused; a reused key (422); an invalid signal (400).
  await seen(post('tok', native(), { authorization: `Bearer ${BEARER}` }), 202);
  await seen(post('tok', native(), { 'x-api-key': API_KEY }), 202);
  await seen(post('tok', native(), { authorization: `Bearer ${BEARER}x` }), 401);
  await seen(post('tok', native(), { 'x-api-key': `${API_KEY}x` }), 401);
  const key = `k-${randomUUID()}`;
  await seen(post('tok', native({ id: key }), { authorization: `Bearer ${BEARER}` }), 202);
  await seen(post('tok', native({ id: key, quantity: 2 }), { authorization: `Bearer ${BEARER}` }), 422);
  await seen(post('tok', native({ action: 'fly' }), { 'x-api-key': API_KEY }), 400);
  await seen(post('tok', '{"not json', { authorization: `Bearer ${BEARER}` }), 400);
  // The admin token is not a webhook token.
  await seen(post('tok', native(), { authorization: `Bearer ${ADMIN}` }), 401);

  // passphrase: accepted as text/plain; in an invalid signal; in a body that is not JSON; a reused key; wrong; not a string.
  await seen(post('tv', JSON.stringify(alert()), { 'content-type': 'text/plain' }), 202);
  await seen(post('tv', JSON.stringify(alert({ ticker: '{{ticker}}' }))), 400);
  await seen(post('tv', JSON.stringify(alert({ contracts: 'ten' }))), 400);
  await seen(post('tv', JSON.stringify(alert({ action: 'hold' }))), 400);
  await seen(post('tv', `{"passphrase":"${PASSPHRASE}","ticker":"AAPL",`), 401);
  await seen(post('tv', `[${JSON.stringify(alert())}]`), 401);
  const order = `Reuse-${randomUUID()}`;
  const time = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await seen(post('tv', JSON.stringify(alert({ order_id: order, time }))), 202);
  await seen(post('tv', JSON.stringify(alert({ order_id: order, time, contracts: '2' }))), 422);
  await seen(post('tv', JSON.stringify(alert({ order_id: order, time }))), 200);
  await seen(post('tv', JSON.stringify(alert({ passphrase: `${PASSPHRASE}x` }))), 401);
  await seen(post('tv', JSON.stringify(alert({ passphrase: [PASSPHRASE] }))), 401);

  // Operator API with both tokens, and refusals of both.
  await seen(admin('/status', ADMIN), 200);
  await seen(admin('/status', READ), 200);
  await seen(admin('/deliveries', READ), 200);
  await seen(admin('/mode', READ, { method: 'POST', body: { mode: 'paused', reason: 'read token must not do this' } }), 403);
  await seen(admin('/status', `${ADMIN}x`), 401);
  await seen(admin('/signals', BEARER), 401);

  // The positive control, last so that it is also the status' last signal.
  await seen(post(CONTROL_SOURCE, JSON.stringify({ action: MARKER, instrument: 'AAPL' }), { authorization: `Bearer ${BEARER}` }), 400);
  await seen(post(CONTROL_SOURCE, native({ [`${MARKER}-field`]: true }), { authorization: `Bearer ${BEARER}` }), 202);

  // Let the executor finish, so its logs and events are part of the evidence.
  await eventually(async () => {
    const status: unknown = await (await admin('/status', ADMIN)).json();
    return isRecord(status) && isRecord(status.queue) && status.queue.accepted === 0 && status.queue.executing === 0 ? true : undefined;
  });

  for (const path of ['/deliveries?limit=500', '/signals?limit=500', '/status', '/connectors', '/positions']) {
    const res = await admin(path, ADMIN);
    expect(res.status).toBe(200);
    evidence.api.push({ path, text: await res.text() });
  }
  const signals: unknown = JSON.parse(evidence.api.find((a) => a.path.startsWith('/signals'))?.text ?? '{}');
  const items = isRecord(signals) && Array.isArray(signals.items) ? signals.items : [];
  for (const item of items) {
    if (!isRecord(item) || typeof item.signal_id !== 'string') continue;
    const res = await admin(`/signals/${item.signal_id}`, READ);
    evidence.api.push({ path: `/signals/${item.signal_id}`, text: await res.text() });
  }
}

beforeAll(async () => {
  const dir = tempDir('sluice-secrets-');
  const s = await startTestServer({
    dir,
    env: { SLUICE_ADMIN_TOKEN: ADMIN, SLUICE_READ_TOKEN: READ },
    config: {
      sources: {
        sw: { auth: { scheme: 'standard-webhooks', secrets: [SW, { value: SW_OLD, expires_at: new Date(Date.now() - 86_400_000).toISOString() }] } },
        hm: { auth: { scheme: 'hmac', secrets: [HMAC] } },
        st: { auth: { scheme: 'stripe', secrets: [STRIPE] } },
        gh: { auth: { scheme: 'github', secrets: [GITHUB] } },
        tok: { auth: { scheme: 'token', secrets: [BEARER, API_KEY] } },
        tv: { auth: { scheme: 'passphrase', field: 'passphrase', secrets: [PASSPHRASE] }, format: 'tradingview' },
        [CONTROL_SOURCE]: { auth: { scheme: 'token', secrets: [BEARER] } },
      },
      // A broker-side secret that no request ever uses: it must not surface either.
      connectors: { relay: { type: 'http', url: 'http://127.0.0.1:9/orders', signing_secret: RELAY } },
    },
  });
  try {
    await exercise(s);
    evidence.files.push(...readDbFiles(dir, 'running'));
  } finally {
    await s.close();
  }
  evidence.logs = s.logs.join('');
  evidence.files.push(...readDbFiles(dir, 'closed'));
});

describe('no secret anywhere (docs/guarantees.md#secrets)', () => {
  test('every scheme was exercised, accepted and refused', () => {
    for (const status of [200, 202, 400, 401, 403, 422]) expect(evidence.statuses).toContain(status);
    expect(evidence.statuses.length).toBeGreaterThanOrEqual(40);
  });

  test('the search finds a marker planted in a fresh file, as bytes and as text', () => {
    const path = join(tempDir('sluice-plant-'), 'planted.bin');
    writeFileSync(path, Buffer.concat([randomBytes(4096), Buffer.from(PASSPHRASE), randomBytes(4096)]));
    const bytes = readFileSync(path);
    expect(findNeedles(bytes, SECRETS)).toEqual([PASSPHRASE]);
    expect(findNeedles(`{"x":"${ADMIN}"}`, SECRETS)).toEqual([ADMIN]);
    expect(findNeedles(randomBytes(8192), SECRETS)).toEqual([]);
  });

  test('the captured log holds the planted marker but no secret', () => {
    expect(evidence.logs.length).toBeGreaterThan(0);
    expect(findNeedles(evidence.logs, [MARKER])).toEqual([MARKER]);
    expect(findNeedles(evidence.logs, SECRETS)).toEqual([]);
  });

  test('the SQLite files hold the planted marker but no secret', () => {
    expect(evidence.files.map((f) => f.name)).toContain('sluice.db (closed)');
    expect(findNeedles(Buffer.concat(evidence.files.map((f) => f.bytes)), [MARKER])).toEqual([MARKER]);
    for (const file of evidence.files) expect({ file: file.name, found: findNeedles(file.bytes, SECRETS) }).toEqual({ file: file.name, found: [] });
  });

  test('GET /admin/deliveries, /signals (list and each one), /status, /connectors, /positions: marker yes, secrets no', () => {
    const text = (prefix: string): string => evidence.api.filter((a) => a.path.startsWith(prefix)).map((a) => a.text).join('\n');
    expect(findNeedles(text('/deliveries'), [MARKER])).toEqual([MARKER]);
    expect(findNeedles(text('/signals'), [MARKER])).toEqual([MARKER]);
    expect(findNeedles(text('/status'), [MARKER])).toEqual([MARKER]);
    for (const { path, text: body } of evidence.api) expect({ path, found: findNeedles(body, SECRETS) }).toEqual({ path, found: [] });
  });

  test('no response (body or header) to any request carried a secret', () => {
    expect(findNeedles(evidence.responses.join('\n'), [MARKER])).toEqual([MARKER]);
    for (const response of evidence.responses) expect(findNeedles(response, SECRETS)).toEqual([]);
  });
});
