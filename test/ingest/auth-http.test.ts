/**
 * Every authentication scheme (docs/http-api.md#sender-authentication) and `allow_ips` through the real server over real
 * HTTP: deliveries signed by the senders' own libraries (standardwebhooks, stripe,
 * @octokit/webhooks-methods; hmac by the documented formula, as no library exists) are
 * accepted; every kind of failure is the same `401 unauthorized` on the wire while the log names
 * the precise check that failed; scheme-carried ids become idempotency keys.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { sign as githubSign } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';

const DAY_MS = 86_400_000;
const whsec = (): string => `whsec_${randomBytes(24).toString('base64')}`;
const SW_CURRENT = whsec();
const SW_EXPIRED = whsec();
const SW_NEXT = whsec();
const SW_UNKNOWN = whsec();
const HMAC_SECRET = `hmac-${randomUUID()}`;
const STRIPE_SECRET = `whsec_stripe${randomUUID().replaceAll('-', '')}`;
const GITHUB_SECRET = `github-${randomUUID()}`;
const TOKEN = `token-${randomUUID()}`;
const PASSPHRASE = `pass-${randomUUID()}`;
const WRONG = `wrong-${randomUUID()}`;

const stripe = new Stripe('sk_test_x');
const unix = (ms: number = Date.now()): number => Math.floor(ms / 1000);
const STALE_MS = -600_000;
const FUTURE_MS = 600_000;

function config(): Record<string, unknown> {
  const token = { scheme: 'token', secrets: [TOKEN] };
  return {
    sources: {
      sw: {
        auth: {
          scheme: 'standard-webhooks',
          secrets: [
            SW_CURRENT,
            { value: SW_EXPIRED, expires_at: new Date(Date.now() - DAY_MS).toISOString() },
            { value: SW_NEXT, expires_at: new Date(Date.now() + 30 * DAY_MS).toISOString() },
          ],
        },
      },
      hm: { auth: { scheme: 'hmac', secrets: [HMAC_SECRET] } },
      st: { auth: { scheme: 'stripe', secrets: [STRIPE_SECRET] } },
      gh: { auth: { scheme: 'github', secrets: [GITHUB_SECRET] } },
      tok: { auth: token },
      tv: { auth: { scheme: 'passphrase', field: 'passphrase', secrets: [PASSPHRASE] }, format: 'tradingview' },
      open: { auth: { scheme: 'none' } },
      fenced: { auth: token, allow_ips: ['10.0.0.0/8'], trust_proxy: false },
      proxied: { auth: token, allow_ips: ['10.0.0.0/8'], trust_proxy: true },
    },
  };
}

interface Delivery {
  body: string;
  headers: Record<string, string>;
}

/** A valid native signal, unique per call (a body id, so nothing deduplicates by accident). */
const native = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ id: `sig-${randomUUID()}`, action: 'buy', instrument: 'AAPL', quantity: 1, price: 100, ...extra });

/** A rendered TradingView alert (numbers as strings, as TradingView renders them); an undefined passphrase is left out. */
const alert = (passphrase: unknown): string =>
  JSON.stringify({
    passphrase,
    ticker: 'AAPL',
    action: 'buy',
    contracts: '1',
    price: '100',
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    order_id: `Long-${randomUUID()}`,
    strategy: 'momentum_v1',
  });

function signSw(secret: string, body: string, opts: { id?: string; offsetMs?: number } = {}): Record<string, string> {
  const id = opts.id ?? `msg_${randomUUID().replaceAll('-', '')}`;
  const at = new Date(Date.now() + (opts.offsetMs ?? 0));
  return { 'webhook-id': id, 'webhook-timestamp': String(unix(at.getTime())), 'webhook-signature': new Webhook(secret).sign(id, at, body) };
}

/** No sender library exists for the hmac scheme: signed from the documented formula. */
function signHmac(secret: string, body: string, opts: { nonce?: string; offsetMs?: number } = {}): Record<string, string> {
  const ts = String(unix(Date.now() + (opts.offsetMs ?? 0)));
  const nonce = opts.nonce ?? randomBytes(12).toString('hex');
  const signature = createHmac('sha256', secret).update(`${ts}.${nonce}.${body}`).digest('hex');
  return { 'X-Timestamp': ts, 'X-Nonce': nonce, 'X-Signature': signature };
}

function signStripe(secret: string, body: string, offsetMs = 0): Record<string, string> {
  return { 'Stripe-Signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp: unix(Date.now() + offsetMs) }) };
}

async function signGithub(secret: string, body: string, delivery: string = randomUUID()): Promise<Record<string, string>> {
  return { 'X-Hub-Signature-256': await githubSign(secret, body), 'X-GitHub-Delivery': delivery };
}

const without = (headers: Record<string, string>, name: string): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== name.toLowerCase()));

function post(s: { url: string }, source: string, delivery: Delivery): Promise<Response> {
  return fetch(`${s.url}/webhooks/${source}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...delivery.headers },
    body: delivery.body,
  });
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The captured pino lines, parsed. */
function logEntries(s: TestServer): Record<string, unknown>[] {
  return s.logs.flatMap((chunk) => chunk.split('\n')).filter((line) => line.trim() !== '').flatMap((line) => {
    const parsed: unknown = JSON.parse(line);
    return isRecord(parsed) ? [parsed] : [];
  });
}

/** The reason the log gives for refusing the request with this X-Request-Id. */
function refusalReason(s: TestServer, requestId: string): unknown {
  const entry = logEntries(s).find((e) => e.request_id === requestId && e.msg === 'delivery refused');
  return entry?.reason;
}

async function errorOf(res: Response): Promise<Record<string, unknown>> {
  const body: unknown = await res.json();
  if (!isRecord(body) || !isRecord(body.error)) throw new Error(`not an error body: ${JSON.stringify(body)}`);
  return body.error;
}

interface Accepted {
  signal_id: string;
  status: string;
  idempotency_key: string;
}

async function acceptedOf(res: Response): Promise<Accepted> {
  const body: unknown = await res.json();
  if (!isRecord(body) || typeof body.signal_id !== 'string' || typeof body.status !== 'string') {
    throw new Error(`not an accepted body: ${JSON.stringify(body)}`);
  }
  return { signal_id: body.signal_id, status: body.status, idempotency_key: String(body.idempotency_key) };
}

let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({ config: config() });
});
afterAll(async () => {
  await s.close();
});

describe('accepted when right (202)', () => {
  const cases: Array<{ name: string; source: string; build: () => Delivery | Promise<Delivery> }> = [
    { name: 'standard-webhooks, current secret', source: 'sw', build: () => { const body = native(); return { body, headers: signSw(SW_CURRENT, body) }; } },
    { name: 'standard-webhooks, rotation secret not yet expired', source: 'sw', build: () => { const body = native(); return { body, headers: signSw(SW_NEXT, body) }; } },
    { name: 'hmac', source: 'hm', build: () => { const body = native(); return { body, headers: signHmac(HMAC_SECRET, body) }; } },
    { name: 'stripe', source: 'st', build: () => { const body = native(); return { body, headers: signStripe(STRIPE_SECRET, body) }; } },
    { name: 'github', source: 'gh', build: async () => { const body = native(); return { body, headers: await signGithub(GITHUB_SECRET, body) }; } },
    { name: 'token as Authorization: Bearer', source: 'tok', build: () => ({ body: native(), headers: { Authorization: `Bearer ${TOKEN}` } }) },
    { name: 'token as X-Api-Key', source: 'tok', build: () => ({ body: native(), headers: { 'X-Api-Key': TOKEN } }) },
    { name: 'passphrase (tradingview, text/plain)', source: 'tv', build: () => ({ body: alert(PASSPHRASE), headers: { 'content-type': 'text/plain; charset=utf-8' } }) },
    { name: 'none, with no credentials at all', source: 'open', build: () => ({ body: native(), headers: {} }) },
  ];
  test.each(cases)('$name', async ({ source, build }) => {
    const res = await post(s, source, await build());
    expect(res.status).toBe(202);
    expect((await acceptedOf(res)).status).toBe('accepted');
  });

  test('svix-* header aliases are accepted, svix-id is the key', async () => {
    const body = native();
    const signed = signSw(SW_CURRENT, body);
    const headers = {
      'svix-id': String(signed['webhook-id']),
      'svix-timestamp': String(signed['webhook-timestamp']),
      'svix-signature': String(signed['webhook-signature']),
    };
    const res = await post(s, 'sw', { body, headers });
    expect(res.status).toBe(202);
    expect((await acceptedOf(res)).idempotency_key).toBe(headers['svix-id']);
  });
});

describe('refused: 401 unauthorized, the log names the check', () => {
  /** Every 401 error body, request_id removed: they must all be the same. */
  const seen: Array<{ name: string; error: Record<string, unknown> }> = [];
  const usedNonce = randomBytes(12).toString('hex');

  const cases: Array<{ name: string; source: string; build: () => Delivery | Promise<Delivery>; reason: RegExp }> = [
    // standard-webhooks
    { name: 'sw wrong secret', source: 'sw', build: () => { const body = native(); return { body, headers: signSw(SW_UNKNOWN, body) }; }, reason: /^webhook-signature does not match$/ },
    { name: 'sw tampered body', source: 'sw', build: () => { const body = native(); return { body: body.replace('"quantity":1', '"quantity":9'), headers: signSw(SW_CURRENT, body) }; }, reason: /^webhook-signature does not match$/ },
    { name: 'sw missing webhook-signature', source: 'sw', build: () => { const body = native(); return { body, headers: without(signSw(SW_CURRENT, body), 'webhook-signature') }; }, reason: /^missing webhook-signature$/ },
    { name: 'sw missing webhook-id', source: 'sw', build: () => { const body = native(); return { body, headers: without(signSw(SW_CURRENT, body), 'webhook-id') }; }, reason: /^missing webhook-id$/ },
    { name: 'sw missing webhook-timestamp', source: 'sw', build: () => { const body = native(); return { body, headers: without(signSw(SW_CURRENT, body), 'webhook-timestamp') }; }, reason: /^missing webhook-timestamp$/ },
    { name: 'sw stale timestamp', source: 'sw', build: () => { const body = native(); return { body, headers: signSw(SW_CURRENT, body, { offsetMs: STALE_MS }) }; }, reason: /^webhook-timestamp is \d+ s old \(tolerance 300 s\)$/ },
    { name: 'sw future timestamp', source: 'sw', build: () => { const body = native(); return { body, headers: signSw(SW_CURRENT, body, { offsetMs: FUTURE_MS }) }; }, reason: /^webhook-timestamp is \d+ s in the future \(tolerance 300 s\)$/ },
    { name: 'sw expired rotation secret', source: 'sw', build: () => { const body = native(); return { body, headers: signSw(SW_EXPIRED, body) }; }, reason: /webhook-signature/ },
    // hmac
    { name: 'hmac wrong secret', source: 'hm', build: () => { const body = native(); return { body, headers: signHmac(WRONG, body) }; }, reason: /^X-Signature does not match$/ },
    { name: 'hmac tampered body', source: 'hm', build: () => { const body = native(); return { body: `${body} `, headers: signHmac(HMAC_SECRET, body) }; }, reason: /^X-Signature does not match$/ },
    { name: 'hmac missing X-Signature', source: 'hm', build: () => { const body = native(); return { body, headers: without(signHmac(HMAC_SECRET, body), 'X-Signature') }; }, reason: /^missing X-Signature$/ },
    { name: 'hmac missing X-Nonce', source: 'hm', build: () => { const body = native(); return { body, headers: without(signHmac(HMAC_SECRET, body), 'X-Nonce') }; }, reason: /^missing X-Nonce$/ },
    { name: 'hmac missing X-Timestamp', source: 'hm', build: () => { const body = native(); return { body, headers: without(signHmac(HMAC_SECRET, body), 'X-Timestamp') }; }, reason: /^missing X-Timestamp$/ },
    { name: 'hmac stale timestamp', source: 'hm', build: () => { const body = native(); return { body, headers: signHmac(HMAC_SECRET, body, { offsetMs: STALE_MS }) }; }, reason: /^X-Timestamp is \d+ s old \(tolerance 300 s\)$/ },
    { name: 'hmac future timestamp', source: 'hm', build: () => { const body = native(); return { body, headers: signHmac(HMAC_SECRET, body, { offsetMs: FUTURE_MS }) }; }, reason: /^X-Timestamp is \d+ s in the future \(tolerance 300 s\)$/ },
    {
      name: 'hmac replayed nonce',
      source: 'hm',
      build: async () => {
        const first = native();
        const ok = await post(s, 'hm', { body: first, headers: signHmac(HMAC_SECRET, first, { nonce: usedNonce }) });
        expect(ok.status).toBe(202);
        // A different, correctly signed body with the same nonce: only the nonce check can refuse it.
        const body = native();
        return { body, headers: signHmac(HMAC_SECRET, body, { nonce: usedNonce }) };
      },
      reason: /^X-Nonce already used \(replay\)$/,
    },
    // stripe
    { name: 'stripe wrong secret', source: 'st', build: () => { const body = native(); return { body, headers: signStripe(`whsec_${WRONG}`, body) }; }, reason: /^Stripe-Signature v1 does not match$/ },
    { name: 'stripe tampered body', source: 'st', build: () => { const body = native(); return { body: body.replace('AAPL', 'MSFT'), headers: signStripe(STRIPE_SECRET, body) }; }, reason: /^Stripe-Signature v1 does not match$/ },
    { name: 'stripe missing Stripe-Signature', source: 'st', build: () => ({ body: native(), headers: {} }), reason: /^missing Stripe-Signature$/ },
    { name: 'stripe stale timestamp', source: 'st', build: () => { const body = native(); return { body, headers: signStripe(STRIPE_SECRET, body, STALE_MS) }; }, reason: /^Stripe-Signature t is \d+ s old \(tolerance 300 s\)$/ },
    { name: 'stripe future timestamp', source: 'st', build: () => { const body = native(); return { body, headers: signStripe(STRIPE_SECRET, body, FUTURE_MS) }; }, reason: /^Stripe-Signature t is \d+ s in the future \(tolerance 300 s\)$/ },
    // github
    { name: 'github wrong secret', source: 'gh', build: async () => { const body = native(); return { body, headers: await signGithub(WRONG, body) }; }, reason: /^X-Hub-Signature-256 does not match$/ },
    { name: 'github tampered body', source: 'gh', build: async () => { const body = native(); return { body: body.replace('"price":100', '"price":1'), headers: await signGithub(GITHUB_SECRET, body) }; }, reason: /^X-Hub-Signature-256 does not match$/ },
    { name: 'github missing X-Hub-Signature-256', source: 'gh', build: async () => { const body = native(); return { body, headers: without(await signGithub(GITHUB_SECRET, body), 'X-Hub-Signature-256') }; }, reason: /^missing X-Hub-Signature-256$/ },
    // token
    { name: 'token wrong bearer', source: 'tok', build: () => ({ body: native(), headers: { Authorization: `Bearer ${WRONG}` } }), reason: /^token does not match$/ },
    { name: 'token wrong X-Api-Key', source: 'tok', build: () => ({ body: native(), headers: { 'X-Api-Key': WRONG } }), reason: /^token does not match$/ },
    { name: 'token missing', source: 'tok', build: () => ({ body: native(), headers: {} }), reason: /^no bearer token or X-Api-Key$/ },
    // passphrase
    { name: 'passphrase wrong', source: 'tv', build: () => ({ body: alert(WRONG), headers: {} }), reason: /^body field "passphrase" does not match$/ },
    { name: 'passphrase missing', source: 'tv', build: () => ({ body: alert(undefined), headers: {} }), reason: /^body has no "passphrase" field$/ },
    { name: 'passphrase not a string', source: 'tv', build: () => ({ body: alert([PASSPHRASE]), headers: {} }), reason: /^body field "passphrase" is not a string$/ },
    { name: 'passphrase in a body that is not JSON', source: 'tv', build: () => ({ body: `{"passphrase":"${PASSPHRASE}",`, headers: {} }), reason: /^body is not a JSON object/ },
  ];

  test.each(cases)('$name', async ({ source, build, reason, name }) => {
    const res = await post(s, source, await build());
    expect(res.status).toBe(401);
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toMatch(/\S/);
    const error = await errorOf(res);
    expect(error.code).toBe('unauthorized');
    expect(error.request_id).toBe(requestId);
    const { request_id: _ignored, ...rest } = error;
    seen.push({ name, error: rest });
    expect(refusalReason(s, String(requestId))).toMatch(reason);
  });

  test('the 401 body is identical whatever failed', () => {
    expect(seen).toHaveLength(cases.length);
    const [first] = seen;
    expect(first?.error).toEqual({ code: 'unauthorized', message: expect.any(String) });
    for (const { error } of seen) expect(error).toEqual(first?.error);
  });

  test('the log says the secret had expired, not just "does not match" (distinct from a wrong secret)', async () => {
    const body = native();
    const expired = await post(s, 'sw', { body, headers: signSw(SW_EXPIRED, body) });
    expect(expired.status).toBe(401);
    const other = native();
    const wrong = await post(s, 'sw', { body: other, headers: signSw(SW_UNKNOWN, other) });
    expect(wrong.status).toBe(401);
    const expiredReason = refusalReason(s, String(expired.headers.get('x-request-id')));
    const wrongReason = refusalReason(s, String(wrong.headers.get('x-request-id')));
    // An operator mid-rotation must be able to tell "sender still uses the retired secret"
    // from "sender has a wrong secret": the docs say the log names the failed check.
    expect(expiredReason).toMatch(/expired/);
    expect(expiredReason).not.toBe(wrongReason);
  });
});

describe('scheme-carried idempotency keys', () => {
  test('the body id is the key over X-GitHub-Delivery, which the signature does not cover', async () => {
    const body = native();
    const res = await post(s, 'gh', { body, headers: await signGithub(GITHUB_SECRET, body, randomUUID()) });
    expect(res.status).toBe(202);
    expect((await acceptedOf(res)).idempotency_key).toBe((JSON.parse(body) as { id: string }).id);
  });

  test('without a body id X-GitHub-Delivery is the key; a redelivery is a 200 duplicate', async () => {
    const body = JSON.stringify({ action: 'buy', instrument: `GH${randomUUID().slice(0, 8)}`, quantity: 1, price: 100 });
    const delivery = randomUUID();
    const headers = await signGithub(GITHUB_SECRET, body, delivery);
    const first = await post(s, 'gh', { body, headers });
    expect(first.status).toBe(202);
    const accepted = await acceptedOf(first);
    expect(accepted.idempotency_key).toBe(delivery);

    const again = await post(s, 'gh', { body, headers: await signGithub(GITHUB_SECRET, body, delivery) });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual({ signal_id: accepted.signal_id, status: 'duplicate', original_status: expect.any(String) });
  });

  test('webhook-id is the key (over the body id); a re-signed redelivery with the same id is a 200 duplicate', async () => {
    const body = native();
    const id = `msg_${randomUUID().replaceAll('-', '')}`;
    const first = await post(s, 'sw', { body, headers: signSw(SW_CURRENT, body, { id }) });
    expect(first.status).toBe(202);
    const accepted = await acceptedOf(first);
    expect(accepted.idempotency_key).toBe(id);

    // Standard Webhooks senders re-sign each attempt with a fresh timestamp, same id.
    const again = await post(s, 'sw', { body, headers: signSw(SW_NEXT, body, { id, offsetMs: 1000 }) });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual({ signal_id: accepted.signal_id, status: 'duplicate', original_status: expect.any(String) });
  });
});

describe('allow_ips (checked before authentication)', () => {
  test('only 10.0.0.0/8 allowed: 127.0.0.1 gets 403 forbidden, the log names the address', async () => {
    const res = await post(s, 'fenced', { body: native(), headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(403);
    expect((await errorOf(res)).code).toBe('forbidden');
    expect(refusalReason(s, String(res.headers.get('x-request-id')))).toBe('client address 127.0.0.1 not in allow_ips');
  });

  test('a refused address gets 403 even with a wrong token: allow_ips is checked first', async () => {
    const res = await post(s, 'fenced', { body: native(), headers: { Authorization: `Bearer ${WRONG}` } });
    expect(res.status).toBe(403);
  });

  test('trust_proxy false: X-Forwarded-For is ignored', async () => {
    const res = await post(s, 'fenced', { body: native(), headers: { Authorization: `Bearer ${TOKEN}`, 'X-Forwarded-For': '10.1.2.3' } });
    expect(res.status).toBe(403);
    expect(refusalReason(s, String(res.headers.get('x-request-id')))).toBe('client address 127.0.0.1 not in allow_ips');
  });

  test('trust_proxy true: X-Forwarded-For 10.1.2.3 (as the proxy appended it) is allowed', async () => {
    const res = await post(s, 'proxied', { body: native(), headers: { Authorization: `Bearer ${TOKEN}`, 'X-Forwarded-For': '127.0.0.1, 10.1.2.3' } });
    expect(res.status).toBe(202);
  });

  test('trust_proxy true without X-Forwarded-For: the address is unknown and refused', async () => {
    const res = await post(s, 'proxied', { body: native(), headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(403);
    expect(refusalReason(s, String(res.headers.get('x-request-id')))).toBe('client address unknown: X-Forwarded-For has fewer entries than trust_proxy');
  });

  test('trust_proxy true: a forwarded address outside the list is refused', async () => {
    const res = await post(s, 'proxied', { body: native(), headers: { Authorization: `Bearer ${TOKEN}`, 'X-Forwarded-For': '11.1.2.3' } });
    expect(res.status).toBe(403);
    expect(refusalReason(s, String(res.headers.get('x-request-id')))).toBe('client address 11.1.2.3 not in allow_ips');
  });
});

describe('scheme none', () => {
  test('a warning naming the source is logged at start', () => {
    const warning = logEntries(s).find((e) => e.source === 'open' && typeof e.msg === 'string' && e.msg.includes('"none"'));
    expect(warning?.level).toBe(40);
    expect(warning?.msg).toBe('source has auth scheme "none": anyone who can reach it can send signals');
    // Only the none source is warned about.
    const warned = logEntries(s).filter((e) => typeof e.msg === 'string' && e.msg.includes('auth scheme "none"')).map((e) => e.source);
    expect(warned).toEqual(['open']);
  });
});

describe('hmac nonces are durable', () => {
  test('a nonce seen before a restart is still a replay after it', async () => {
    const dir = tempDir();
    const cfg = { sources: { hm: { auth: { scheme: 'hmac', secrets: [HMAC_SECRET] } } } };
    const body = native();
    const headers = signHmac(HMAC_SECRET, body);
    const before = await startTestServer({ dir, config: cfg });
    try {
      expect((await post(before, 'hm', { body, headers })).status).toBe(202);
    } finally {
      await before.close();
    }
    const after = await startTestServer({ dir, config: cfg });
    try {
      const replay = await post(after, 'hm', { body, headers });
      expect(replay.status).toBe(401);
      expect(refusalReason(after, String(replay.headers.get('x-request-id')))).toBe('X-Nonce already used (replay)');
      // A fresh nonce still works after the restart.
      const fresh = native();
      expect((await post(after, 'hm', { body: fresh, headers: signHmac(HMAC_SECRET, fresh) })).status).toBe(202);
    } finally {
      await after.close();
    }
  });
});
