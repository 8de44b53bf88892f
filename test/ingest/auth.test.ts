/**
 * Every authentication scheme (docs/http-api.md#sender-authentication), built through createVerifier as ingest builds
 * them, fed deliveries signed by the senders' own libraries where they exist (standardwebhooks,
 * stripe, @octokit/webhooks-methods). One shared table of cases runs against each scheme; the
 * scheme-specific rules follow.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { sign as githubSign } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { describe, expect, test } from 'vitest';
import type { AuthConfig, SecretConfig } from '../../src/config/schema.js';
import { createVerifier } from '../../src/ingest/auth/index.js';
import type { AuthInput, AuthOutcome, NonceStore, Verifier } from '../../src/ingest/auth/verifier.js';

const NOW = new Date('2026-11-22T10:30:00Z');
const PAST = '2026-11-01T00:00:00Z';
const FUTURE = '2026-12-01T00:00:00Z';
const PAYLOAD = JSON.stringify({ id: 'sig-1', action: 'buy', instrument: 'AAPL', quantity: 10 });
const TAMPERED = JSON.stringify({ id: 'sig-1', action: 'buy', instrument: 'AAPL', quantity: 1000 });

const whsec = (label: string): string => `whsec_${Buffer.from(`${label}-key-0123456789abcdef`).toString('base64')}`;
const plain = (label: string): string => `${label}-secret-0123456789`;

/** A faithful in-memory NonceStore: true the first time; a nonce counts until its expiry passes. */
/** Nonces as the store keeps them: `keep` is what recording the signal does; the verifier only asks. */
class MemoryNonceStore implements NonceStore {
  readonly kept = new Map<string, Date>();
  asked = 0;
  async seen(source: string, nonce: string, now: Date): Promise<boolean> {
    this.asked += 1;
    const expires = this.kept.get(`${source}\u0000${nonce}`);
    return expires !== undefined && expires.getTime() > now.getTime();
  }
  /** Records the nonce of an accepted outcome, as ingest does with the signal. */
  keep(source: string, outcome: AuthOutcome): void {
    if (!outcome.ok || outcome.nonce === undefined) throw new Error(`no nonce to keep: ${JSON.stringify(outcome)}`);
    this.kept.set(`${source}\u0000${outcome.nonce.nonce}`, outcome.nonce.expires_at);
  }
}

interface Delivery {
  headers: Record<string, string>;
  payload: string;
}

function input(delivery: Delivery, now: Date = NOW, source = 'src'): AuthInput {
  let body: unknown;
  try {
    body = JSON.parse(delivery.payload);
  } catch {
    body = undefined;
  }
  return { source, headers: new Headers(delivery.headers), rawBody: new TextEncoder().encode(delivery.payload), body, now };
}

async function check(verifier: Verifier, delivery: Delivery, now: Date = NOW, source = 'src'): Promise<AuthOutcome> {
  return verifier.verify(input(delivery, now, source));
}

const unix = (d: Date): number => Math.floor(d.getTime() / 1000);
const stripe = new Stripe('sk_test_x');

interface Harness {
  scheme: string;
  config(secrets: SecretConfig[]): AuthConfig;
  secret(label: string): string;
  /** What the sender sends for `payload` at `at`, signed with `secret` by the sender's own means. */
  deliver(secret: string, payload: string, at: Date): Promise<Delivery>;
  /** Headers whose absence alone must refuse the delivery. */
  required: string[];
  bodySigned: boolean;
  timestamped: boolean;
}

const harnesses: Harness[] = [
  {
    scheme: 'standard-webhooks',
    config: (secrets) => ({ scheme: 'standard-webhooks', secrets }),
    secret: whsec,
    async deliver(secret, payload, at) {
      const id = `msg_${randomBytes(8).toString('hex')}`;
      return {
        payload,
        headers: {
          'webhook-id': id,
          'webhook-timestamp': String(unix(at)),
          'webhook-signature': new Webhook(secret).sign(id, at, payload),
        },
      };
    },
    required: ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
    bodySigned: true,
    timestamped: true,
  },
  {
    scheme: 'hmac',
    config: (secrets) => ({ scheme: 'hmac', secrets }),
    secret: plain,
    // No sender library exists for this scheme: signed here from the documented formula.
    async deliver(secret, payload, at) {
      const ts = String(unix(at));
      const nonce = randomBytes(12).toString('hex');
      const signature = createHmac('sha256', secret).update(`${ts}.${nonce}.${payload}`).digest('hex');
      return { payload, headers: { 'X-Timestamp': ts, 'X-Nonce': nonce, 'X-Signature': signature } };
    },
    required: ['X-Timestamp', 'X-Nonce', 'X-Signature'],
    bodySigned: true,
    timestamped: true,
  },
  {
    scheme: 'stripe',
    config: (secrets) => ({ scheme: 'stripe', secrets }),
    secret: (label) => `whsec_${label}StripeSecret`,
    async deliver(secret, payload, at) {
      const header = stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: unix(at) });
      return { payload, headers: { 'Stripe-Signature': header } };
    },
    required: ['Stripe-Signature'],
    bodySigned: true,
    timestamped: true,
  },
  {
    scheme: 'github',
    config: (secrets) => ({ scheme: 'github', secrets }),
    secret: plain,
    async deliver(secret, payload) {
      return {
        payload,
        headers: { 'X-Hub-Signature-256': await githubSign(secret, payload), 'X-GitHub-Delivery': 'b7c5e6a0-0000-4000-8000-000000000001' },
      };
    },
    required: ['X-Hub-Signature-256'],
    bodySigned: true,
    timestamped: false,
  },
  {
    scheme: 'token',
    config: (secrets) => ({ scheme: 'token', secrets }),
    secret: plain,
    async deliver(secret, payload) {
      return { payload, headers: { Authorization: `Bearer ${secret}` } };
    },
    required: ['Authorization'],
    bodySigned: false,
    timestamped: false,
  },
  {
    scheme: 'passphrase',
    config: (secrets) => ({ scheme: 'passphrase', field: 'passphrase', secrets }),
    secret: plain,
    async deliver(secret, payload) {
      return { payload: JSON.stringify({ ...(JSON.parse(payload) as object), passphrase: secret }), headers: {} };
    },
    required: [],
    bodySigned: false,
    timestamped: false,
  },
];

describe.each(harnesses)('$scheme', (h) => {
  const current = h.secret('current');
  const old = h.secret('old');
  const verifier = (secrets: SecretConfig[] = [current]): Verifier =>
    createVerifier(h.config(secrets), { nonces: new MemoryNonceStore() });

  test('accepts a delivery signed with the right secret', async () => {
    expect(await check(verifier(), await h.deliver(current, PAYLOAD, NOW))).toMatchObject({ ok: true });
  });

  test('refuses a delivery signed with a wrong secret', async () => {
    const outcome = await check(verifier(), await h.deliver(h.secret('wrong'), PAYLOAD, NOW));
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.reason).toMatch(/does not match/);
  });

  // Only the schemes where it applies are registered, so nothing shows up as skipped.
  if (h.bodySigned) {
    test('refuses a tampered body', async () => {
      const delivery = await h.deliver(current, PAYLOAD, NOW);
      expect(await check(verifier(), { ...delivery, payload: TAMPERED })).toMatchObject({ ok: false });
    });
  }

  for (const name of h.required) {
    test(`refuses a delivery without ${name}`, async () => {
      const delivery = await h.deliver(current, PAYLOAD, NOW);
      const headers = Object.fromEntries(Object.entries(delivery.headers).filter(([k]) => k !== name));
      const outcome = await check(verifier(), { ...delivery, headers });
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) expect(outcome.reason).not.toBe('');
    });
  }

  const times = [
    { name: 'refuses a stale timestamp (301 s old)', offset: -301, ok: false, reason: /301 s old/ },
    { name: 'refuses a future timestamp (301 s ahead)', offset: 301, ok: false, reason: /301 s in the future/ },
    { name: 'accepts a timestamp 300 s old', offset: -300, ok: true },
    { name: 'accepts a timestamp 300 s ahead', offset: 300, ok: true },
  ];
  if (h.timestamped) {
    test.each(times)('$name', async ({ offset, ok, reason }) => {
      const outcome = await check(verifier(), await h.deliver(current, PAYLOAD, new Date(NOW.getTime() + offset * 1000)));
      expect(outcome.ok).toBe(ok);
      if (!outcome.ok && reason !== undefined) expect(outcome.reason).toMatch(reason);
    });
  }

  const rotation = [
    { name: 'an expired old secret is refused', secrets: [current, { value: old, expires_at: PAST }], signWith: old, ok: false },
    { name: 'the current secret is accepted beside an expired one', secrets: [current, { value: old, expires_at: PAST }], signWith: current, ok: true },
    { name: 'a not-yet-expired old secret is accepted', secrets: [current, { value: old, expires_at: FUTURE }], signWith: old, ok: true },
    { name: 'an old secret with expires_at null is accepted', secrets: [current, { value: old, expires_at: null }], signWith: old, ok: true },
  ];
  test.each(rotation)('rotation: $name', async ({ secrets, signWith, ok }) => {
    expect((await check(verifier(secrets), await h.deliver(signWith, PAYLOAD, NOW))).ok).toBe(ok);
  });
});

describe('verifiers never throw on malformed input', () => {
  const cases: { scheme: string; headers: Record<string, string>; payload?: string }[] = [
    { scheme: 'standard-webhooks', headers: { 'webhook-id': 'x', 'webhook-timestamp': 'abc', 'webhook-signature': 'v1,zzz' } },
    { scheme: 'standard-webhooks', headers: { 'webhook-id': 'x', 'webhook-timestamp': '-5', 'webhook-signature': 'v1,zzz' } },
    { scheme: 'standard-webhooks', headers: { 'webhook-id': 'x', 'webhook-timestamp': '1e9', 'webhook-signature': 'v1,zzz' } },
    { scheme: 'standard-webhooks', headers: { 'webhook-id': 'x', 'webhook-timestamp': String(unix(NOW)), 'webhook-signature': ',,, v1, v1a,abc' } },
    { scheme: 'hmac', headers: { 'X-Timestamp': '99999999999999999999', 'X-Nonce': 'n', 'X-Signature': 'zz' } },
    { scheme: 'hmac', headers: { 'X-Timestamp': String(unix(NOW)), 'X-Nonce': 'n'.repeat(1000), 'X-Signature': 'zz' } },
    { scheme: 'stripe', headers: { 'Stripe-Signature': 'garbage' } },
    { scheme: 'stripe', headers: { 'Stripe-Signature': 't=,v1=' } },
    { scheme: 'stripe', headers: { 'Stripe-Signature': '=,=,t=1,,v1' } },
    { scheme: 'github', headers: { 'X-Hub-Signature-256': 'sha1=abc' } },
    { scheme: 'github', headers: { 'X-Hub-Signature-256': 'sha256=' } },
    { scheme: 'passphrase', headers: {}, payload: 'not json' },
    { scheme: 'passphrase', headers: {}, payload: '' },
  ];
  test.each(cases)('$scheme with $headers', async ({ scheme, headers, payload }) => {
    const h = harnesses.find((x) => x.scheme === scheme);
    if (h === undefined) throw new Error(`no harness for ${scheme}`);
    const v = createVerifier(h.config([h.secret('current')]), { nonces: new MemoryNonceStore() });
    const outcome = await check(v, { headers, payload: payload ?? PAYLOAD });
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.reason.length).toBeGreaterThan(0);
  });
});

describe('standard-webhooks specifics', () => {
  const secret = whsec('current');
  const verifier = createVerifier({ scheme: 'standard-webhooks', secrets: [secret] }, { nonces: new MemoryNonceStore() });
  const signed = (id = 'msg_1', at = NOW): Delivery => ({
    payload: PAYLOAD,
    headers: { 'webhook-id': id, 'webhook-timestamp': String(unix(at)), 'webhook-signature': new Webhook(secret).sign(id, at, PAYLOAD) },
  });

  test('returns the webhook-id as the idempotency key', async () => {
    expect(await check(verifier, signed('msg_2x7'))).toEqual({ ok: true, idempotency_key: 'msg_2x7' });
  });

  test('accepts the svix-* aliases', async () => {
    const { headers } = signed('msg_svix');
    const svix = { 'svix-id': headers['webhook-id'] ?? '', 'svix-timestamp': headers['webhook-timestamp'] ?? '', 'svix-signature': headers['webhook-signature'] ?? '' };
    expect(await check(verifier, { payload: PAYLOAD, headers: svix })).toEqual({ ok: true, idempotency_key: 'msg_svix' });
  });

  test('accepts when one of several signatures matches, ignoring other versions', async () => {
    const d = signed();
    const good = d.headers['webhook-signature'] ?? '';
    const headers = { ...d.headers, 'webhook-signature': `v1a,${good.slice(3)} v1,AAAA${good.slice(7)} ${good}` };
    expect((await check(verifier, { ...d, headers })).ok).toBe(true);
  });

  test('refuses a valid signature offered under another version', async () => {
    const d = signed();
    const headers = { ...d.headers, 'webhook-signature': `v2,${(d.headers['webhook-signature'] ?? '').slice(3)}` };
    expect(await check(verifier, { ...d, headers })).toEqual({ ok: false, reason: 'webhook-signature holds no v1 signature' });
  });

  test('refuses a signature made for another webhook-id', async () => {
    const d = signed('msg_a');
    expect((await check(verifier, { ...d, headers: { ...d.headers, 'webhook-id': 'msg_b' } })).ok).toBe(false);
  });

  test('accepts a secret written without the whsec_ prefix, as the official library does', async () => {
    const bare = createVerifier({ scheme: 'standard-webhooks', secrets: [secret.slice('whsec_'.length)] }, { nonces: new MemoryNonceStore() });
    expect((await check(bare, signed())).ok).toBe(true);
  });

  test('refuses to be built with a secret that is not base64', () => {
    expect(() => createVerifier({ scheme: 'standard-webhooks', secrets: ['whsec_not base64!'] }, { nonces: new MemoryNonceStore() })).toThrow(
      /auth\.secrets\[0\]/,
    );
  });
});

describe('hmac specifics', () => {
  const secret = plain('current');
  const h = harnesses.find((x) => x.scheme === 'hmac');
  if (h === undefined) throw new Error('no hmac harness');

  test('refuses a nonce kept with a recorded signal', async () => {
    const nonces = new MemoryNonceStore();
    const verifier = createVerifier({ scheme: 'hmac', secrets: [secret] }, { nonces });
    const delivery = await h.deliver(secret, PAYLOAD, NOW);
    const first = await check(verifier, delivery);
    expect(first).toEqual({ ok: true, nonce: { nonce: delivery.headers['X-Nonce'], expires_at: expect.any(Date) } });
    nonces.keep('src', first);
    expect(await check(verifier, delivery)).toEqual({ ok: false, reason: 'X-Nonce already used (replay)' });
  });

  test('verifying does not burn the nonce: until a signal is recorded with it, the same request verifies again', async () => {
    const nonces = new MemoryNonceStore();
    const verifier = createVerifier({ scheme: 'hmac', secrets: [secret] }, { nonces });
    const delivery = await h.deliver(secret, PAYLOAD, NOW);
    expect((await check(verifier, delivery)).ok).toBe(true);
    expect((await check(verifier, delivery)).ok).toBe(true);
    expect(nonces.kept.size).toBe(0);
  });

  test('a nonce is per source', async () => {
    const nonces = new MemoryNonceStore();
    const verifier = createVerifier({ scheme: 'hmac', secrets: [secret] }, { nonces });
    const delivery = await h.deliver(secret, PAYLOAD, NOW);
    nonces.keep('a', await check(verifier, delivery, NOW, 'a'));
    expect((await check(verifier, delivery, NOW, 'a')).ok).toBe(false);
    expect((await check(verifier, delivery, NOW, 'b')).ok).toBe(true);
  });

  test('a request with a bad signature never asks for its nonce', async () => {
    const nonces = new MemoryNonceStore();
    const verifier = createVerifier({ scheme: 'hmac', secrets: [secret] }, { nonces });
    const good = await h.deliver(secret, PAYLOAD, NOW);
    const forged = { ...good, headers: { ...good.headers, 'X-Signature': '0'.repeat(64) } };
    expect((await check(verifier, forged)).ok).toBe(false);
    expect(nonces.asked).toBe(0);
    expect((await check(verifier, good)).ok).toBe(true);
  });

  test('a stale request never asks either', async () => {
    const nonces = new MemoryNonceStore();
    const verifier = createVerifier({ scheme: 'hmac', secrets: [secret] }, { nonces });
    expect((await check(verifier, await h.deliver(secret, PAYLOAD, new Date(NOW.getTime() - 400_000)))).ok).toBe(false);
    expect(nonces.asked).toBe(0);
  });

  test('the nonce is kept until its signed timestamp is no longer accepted', async () => {
    const nonces = new MemoryNonceStore();
    const verifier = createVerifier({ scheme: 'hmac', secrets: [secret] }, { nonces });
    const sentAt = new Date(NOW.getTime() - 100_000);
    const delivery = await h.deliver(secret, PAYLOAD, sentAt);
    const first = await check(verifier, delivery);
    // timestamp + 300 s tolerance + 1 s, so that the last accepted second is still covered.
    expect(first).toMatchObject({ ok: true, nonce: { expires_at: new Date(sentAt.getTime() + 301_000) } });
    nonces.keep('src', first);
    const clock = new Date(sentAt.getTime() + 300_000);
    expect(await check(verifier, delivery, clock)).toEqual({ ok: false, reason: 'X-Nonce already used (replay)' });
  });

  test('accepts an upper-case hex signature', async () => {
    const verifier = createVerifier({ scheme: 'hmac', secrets: [secret] }, { nonces: new MemoryNonceStore() });
    const d = await h.deliver(secret, PAYLOAD, NOW);
    const headers = { ...d.headers, 'X-Signature': (d.headers['X-Signature'] ?? '').toUpperCase() };
    expect((await check(verifier, { ...d, headers })).ok).toBe(true);
  });
});

describe('stripe specifics', () => {
  const secret = 'whsec_currentStripeSecret';
  const verifier = createVerifier({ scheme: 'stripe', secrets: [secret] }, { nonces: new MemoryNonceStore() });

  test('accepts when one of several v1 signatures matches', async () => {
    const header = stripe.webhooks.generateTestHeaderString({ payload: PAYLOAD, secret, timestamp: unix(NOW) });
    const withDecoy = header.replace(',v1=', `,v1=${'a'.repeat(64)},v0=${'b'.repeat(64)},v1=`);
    expect(await check(verifier, { payload: PAYLOAD, headers: { 'Stripe-Signature': withDecoy } })).toEqual({ ok: true });
  });

  test('refuses a header with only a v0 signature', async () => {
    const header = stripe.webhooks.generateTestHeaderString({ payload: PAYLOAD, secret, timestamp: unix(NOW) }).replace('v1=', 'v0=');
    expect(await check(verifier, { payload: PAYLOAD, headers: { 'Stripe-Signature': header } })).toEqual({
      ok: false,
      reason: 'Stripe-Signature holds no v1 signature',
    });
  });

  test('refuses a header whose t was changed after signing', async () => {
    const header = stripe.webhooks.generateTestHeaderString({ payload: PAYLOAD, secret, timestamp: unix(NOW) });
    const moved = header.replace(`t=${unix(NOW)}`, `t=${unix(NOW) - 10}`);
    expect((await check(verifier, { payload: PAYLOAD, headers: { 'Stripe-Signature': moved } })).ok).toBe(false);
  });
});

describe('github specifics', () => {
  const secret = plain('current');
  const verifier = createVerifier({ scheme: 'github', secrets: [secret] }, { nonces: new MemoryNonceStore() });

  test('returns X-GitHub-Delivery as an unsigned key, and the body as replayable', async () => {
    const headers = { 'X-Hub-Signature-256': await githubSign(secret, PAYLOAD), 'X-GitHub-Delivery': 'delivery-42' };
    expect(await check(verifier, { payload: PAYLOAD, headers })).toEqual({ ok: true, unsigned_key: 'delivery-42', replayable_body: true });
  });

  test('carries no key when X-GitHub-Delivery is absent', async () => {
    const headers = { 'X-Hub-Signature-256': await githubSign(secret, PAYLOAD) };
    expect(await check(verifier, { payload: PAYLOAD, headers })).toEqual({ ok: true, replayable_body: true });
  });

  test('refuses the legacy sha1 header alone', async () => {
    const sha1 = `sha1=${createHmac('sha1', secret).update(PAYLOAD).digest('hex')}`;
    expect((await check(verifier, { payload: PAYLOAD, headers: { 'X-Hub-Signature': sha1 } })).ok).toBe(false);
  });
});

describe('passphrase specifics', () => {
  const secret = plain('current');
  const verifier = createVerifier({ scheme: 'passphrase', field: 'pass', secrets: [secret] }, { nonces: new MemoryNonceStore() });
  const cases: { name: string; body: unknown; outcome: AuthOutcome }[] = [
    { name: 'the configured field matches', body: { pass: secret, action: 'buy' }, outcome: { ok: true, strip_field: 'pass' } },
    { name: 'the field is missing', body: { passphrase: secret }, outcome: { ok: false, reason: 'body has no "pass" field' } },
    { name: 'the field is not a string', body: { pass: 12345 }, outcome: { ok: false, reason: 'body field "pass" is not a string' } },
    { name: 'the field does not match', body: { pass: 'nope' }, outcome: { ok: false, reason: 'body field "pass" does not match' } },
    { name: 'the body is an array', body: [secret], outcome: { ok: false, reason: 'body is not a JSON object, so it carries no passphrase' } },
    { name: 'the body is a string', body: secret, outcome: { ok: false, reason: 'body is not a JSON object, so it carries no passphrase' } },
    { name: 'the body is null', body: null, outcome: { ok: false, reason: 'body is not a JSON object, so it carries no passphrase' } },
    { name: 'the body is not JSON', body: undefined, outcome: { ok: false, reason: 'body is not a JSON object, so it carries no passphrase' } },
  ];
  test.each(cases)('$name', async ({ body, outcome }) => {
    const rawBody = new TextEncoder().encode(JSON.stringify(body) ?? 'not json');
    expect(await verifier.verify({ source: 'tv', headers: new Headers(), rawBody, body, now: NOW })).toEqual(outcome);
  });

  test('uses the field "passphrase" by default (config schema default)', async () => {
    const v = createVerifier({ scheme: 'passphrase', field: 'passphrase', secrets: [secret] }, { nonces: new MemoryNonceStore() });
    const outcome = await v.verify({ source: 'tv', headers: new Headers(), rawBody: new Uint8Array(), body: { passphrase: secret }, now: NOW });
    expect(outcome).toEqual({ ok: true, strip_field: 'passphrase' });
  });
});

describe('none', () => {
  test('accepts anything', async () => {
    const v = createVerifier({ scheme: 'none' }, { nonces: new MemoryNonceStore() });
    expect(v.scheme).toBe('none');
    expect(await check(v, { payload: 'whatever', headers: {} })).toEqual({ ok: true });
  });
});
