/**
 * Replays and resends over real HTTP (docs/http-api.md#idempotency-keys, docs/http-api.md#sender-authentication),
 * signed by the senders' own libraries (standardwebhooks, stripe, @octokit/webhooks-methods;
 * hmac by its formula): a captured delivery resent within the tolerance with a fresh
 * `Idempotency-Key` is the same delivery (200 duplicate, one order); a github body resent under
 * a new delivery id within the window is a duplicate; an hmac request refused 429 and resent as
 * it was after `Retry-After` is accepted, while a true replay of an accepted one is 401.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sign as githubSign } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mockOrders } from '../helpers/guardrails.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const SW_SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const STRIPE_SECRET = `whsec_stripe${randomUUID().replaceAll('-', '')}`;
const GITHUB_SECRET = `github-${randomUUID()}`;
const HMAC_SECRET = `hmac-${randomUUID()}`;
const RATE_PER_MINUTE = 60;
const stripe = new Stripe('sk_test_x');
const unix = (): number => Math.floor(Date.now() / 1000);

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({
    config: {
      sources: {
        sw: { auth: { scheme: 'standard-webhooks', secrets: [SW_SECRET] } },
        st: { auth: { scheme: 'stripe', secrets: [STRIPE_SECRET] } },
        gh: { auth: { scheme: 'github', secrets: [GITHUB_SECRET] }, body_hash_window_seconds: 60 },
        hm: { auth: { scheme: 'hmac', secrets: [HMAC_SECRET] } },
        limited: { auth: { scheme: 'hmac', secrets: [HMAC_SECRET] }, rate_limit_per_minute: RATE_PER_MINUTE },
      },
      policy: { max_orders_per_minute: null, max_order_notional: null, max_position_notional: { default: null }, max_gross_exposure: null, max_daily_loss: null },
    },
  });
});
afterAll(async () => {
  await s.close();
});

/** Waits for the outcome (Prefer: wait), so a delivery that became a new signal has placed its order by the answer. */
function post(source: string, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${s.url}/webhooks/${source}`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'wait=10', ...headers }, body });
}

/** A native signal on an instrument of its own, so its orders can be counted. */
function signal(withId: boolean): { body: string; instrument: string } {
  const instrument = `R${randomBytes(4).toString('hex').toUpperCase()}`;
  const body = { ...(withId ? { id: `sig-${randomUUID()}` } : {}), action: 'buy', instrument, quantity: 1, price: 10 };
  return { body: JSON.stringify(body), instrument };
}

async function ordersOf(instrument: string): Promise<number> {
  return (await mockOrders(s)).filter((o) => o.instrument === instrument).length;
}

function signHmac(body: string, nonce = randomBytes(12).toString('hex')): Record<string, string> {
  const ts = String(unix());
  return { 'X-Timestamp': ts, 'X-Nonce': nonce, 'X-Signature': createHmac('sha256', HMAC_SECRET).update(`${ts}.${nonce}.${body}`).digest('hex') };
}

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

describe('a captured delivery resent with a fresh Idempotency-Key is the same delivery', () => {
  /** Sends the signed delivery, then the very same one with a fresh Idempotency-Key: 200 duplicate, one order. */
  async function expectResendIsDuplicate(source: string, body: string, instrument: string, signed: Record<string, string>): Promise<void> {
    const first = await post(source, body, { ...signed, 'Idempotency-Key': 'first-key' });
    expect(first.status).toBe(200);
    const original = await json(first);
    const replay = await post(source, body, { ...signed, 'Idempotency-Key': `fresh-${randomUUID()}` });
    expect(replay.status).toBe(200);
    expect(await json(replay)).toMatchObject({ signal_id: original.signal_id, status: 'duplicate' });
    expect(await ordersOf(instrument)).toBe(1);
  }

  test('standard-webhooks: the signed webhook-id wins over the header: 200 duplicate, one order', async () => {
    const { body, instrument } = signal(false);
    const id = `msg_${randomUUID().replaceAll('-', '')}`;
    const at = new Date();
    const signed = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(SW_SECRET).sign(id, at, body) };
    await expectResendIsDuplicate('sw', body, instrument, signed);
  });

  test('stripe: the body id (signed with the body) wins over the header: 200 duplicate, one order', async () => {
    const { body, instrument } = signal(true);
    const signed = { 'Stripe-Signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret: STRIPE_SECRET, timestamp: unix() }) };
    await expectResendIsDuplicate('st', body, instrument, signed);
  });

  test('github: the same body under a new X-GitHub-Delivery within the window: 200 duplicate, one order', async () => {
    const { body, instrument } = signal(false);
    const signature = await githubSign(GITHUB_SECRET, body);
    const first = await post('gh', body, { 'X-Hub-Signature-256': signature, 'X-GitHub-Delivery': randomUUID() });
    expect(first.status).toBe(200);
    const original = await json(first);
    const replay = await post('gh', body, { 'X-Hub-Signature-256': signature, 'X-GitHub-Delivery': randomUUID(), 'Idempotency-Key': `fresh-${randomUUID()}` });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await json(replay)).toMatchObject({ signal_id: original.signal_id, status: 'duplicate' });
    expect(await ordersOf(instrument)).toBe(1);
  });

  test('github: another body is its own delivery', async () => {
    const a = signal(false);
    const b = signal(false);
    for (const { body } of [a, b]) {
      const res = await post('gh', body, { 'X-Hub-Signature-256': await githubSign(GITHUB_SECRET, body), 'X-GitHub-Delivery': randomUUID() });
      expect(res.status).toBe(200);
    }
    expect([await ordersOf(a.instrument), await ordersOf(b.instrument)]).toEqual([1, 1]);
  });

  test('hmac: a true replay of an accepted request is 401, with a fresh Idempotency-Key too', async () => {
    const { body, instrument } = signal(false);
    const headers = signHmac(body);
    expect((await post('hm', body, { ...headers, 'Idempotency-Key': 'k1' })).status).toBe(200);
    const replay = await post('hm', body, { ...headers, 'Idempotency-Key': `fresh-${randomUUID()}` });
    expect(replay.status).toBe(401);
    expect(await ordersOf(instrument)).toBe(1);
  });
});

describe('hmac nonces are burned only with a recorded signal', () => {
  test('a request refused 429 and resent as it was after Retry-After is accepted; replaying that is 401', async () => {
    // Distinct requests until the bucket is empty: the one refused is the one sent again.
    let refused: { body: string; instrument: string; headers: Record<string, string>; res: Response } | undefined;
    for (let i = 0; i < 3 * RATE_PER_MINUTE && refused === undefined; i += 1) {
      const { body, instrument } = signal(true);
      const headers = signHmac(body);
      const res = await fetch(`${s.url}/webhooks/limited`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      if (res.status === 429) refused = { body, instrument, headers, res };
      else expect(res.status).toBe(202);
    }
    if (refused === undefined) throw new Error('the rate limit never refused');
    const { body, instrument, headers, res: limited } = refused;
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);

    // The sender honours Retry-After and sends the very same signed request again.
    await sleep(retryAfter * 1000 + 100);
    const resent = await post('limited', body, headers);
    expect(resent.status).toBe(200);
    expect(await json(resent)).toMatchObject({ status: 'executed' });
    expect(await ordersOf(instrument)).toBe(1);

    const replay = await post('limited', body, headers);
    expect(replay.status).toBe(401);
  });
});
