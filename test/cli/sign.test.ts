/**
 * `sluice sign` (docs/configuration.md#commands): the headers it prints must verify with sluice's own verifiers
 * and, for standard-webhooks, with the official library.
 */
import { Webhook } from 'standardwebhooks';
import { describe, expect, test } from 'vitest';
import { signHeaders } from '../../src/cli/sign.js';
import { createVerifier } from '../../src/ingest/auth/index.js';
import type { AuthInput, AuthOutcome, NonceStore } from '../../src/ingest/auth/verifier.js';

const BODY = new TextEncoder().encode(JSON.stringify({ id: 'sig-1', action: 'buy', instrument: 'AAPL', quantity: 10 }));
const WHSEC = `whsec_${Buffer.from('sign-test-key-0123456789abcdef').toString('base64')}`;
const HMAC_SECRET = 'hmac-secret-0123456789';

/** An in-memory NonceStore; `keep` does what recording the signal does with its nonce. */
function memoryNonces(): NonceStore & { keep: (outcome: AuthOutcome) => void } {
  const kept = new Map<string, Date>();
  return {
    async seen(source, nonce, now) {
      const expires = kept.get(`${source}\u0000${nonce}`);
      return expires !== undefined && expires.getTime() > now.getTime();
    },
    keep(outcome) {
      if (outcome.ok && outcome.nonce !== undefined) kept.set(`src\u0000${outcome.nonce.nonce}`, outcome.nonce.expires_at);
    },
  };
}

const input = (headers: Record<string, string>, now: Date): AuthInput => ({
  source: 'src',
  headers: new Headers(headers),
  rawBody: BODY,
  body: JSON.parse(new TextDecoder().decode(BODY)),
  now,
});

describe('signHeaders standard-webhooks', () => {
  test('returns exactly the three headers, with the given id', () => {
    const headers = signHeaders('standard-webhooks', WHSEC, BODY, new Date('2026-11-22T10:30:00Z'), 'msg_fixed');
    expect(Object.keys(headers).sort()).toEqual(['webhook-id', 'webhook-signature', 'webhook-timestamp']);
    expect(headers['webhook-id']).toBe('msg_fixed');
    expect(headers['webhook-timestamp']).toBe('1795343400');
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
  });

  test('verifies with the official standardwebhooks library', () => {
    // The official verify reads the real clock, so sign at the real now.
    const headers = signHeaders('standard-webhooks', WHSEC, BODY, new Date());
    const payload = Buffer.from(BODY);
    expect(new Webhook(WHSEC).verify(payload, headers)).toEqual(JSON.parse(payload.toString()));
  });

  test('matches the official library signature byte for byte', () => {
    const at = new Date('2026-11-22T10:30:00Z');
    const headers = signHeaders('standard-webhooks', WHSEC, BODY, at, 'msg_1');
    expect(headers['webhook-signature']).toBe(new Webhook(WHSEC).sign('msg_1', at, Buffer.from(BODY).toString()));
  });

  test('verifies with sluice’s verifier, which returns the id as the key', async () => {
    const now = new Date('2026-11-22T10:30:00Z');
    const verifier = createVerifier({ scheme: 'standard-webhooks', secrets: [WHSEC] }, { nonces: memoryNonces() });
    const headers = signHeaders('standard-webhooks', WHSEC, BODY, now, 'msg_42');
    expect(await verifier.verify(input(headers, now))).toEqual({ ok: true, idempotency_key: 'msg_42' });
  });

  test('generates a distinct msg_ id when none is given', () => {
    const now = new Date();
    const a = signHeaders('standard-webhooks', WHSEC, BODY, now)['webhook-id'];
    const b = signHeaders('standard-webhooks', WHSEC, BODY, now)['webhook-id'];
    expect(a).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(a).not.toBe(b);
  });

  test('refuses a secret that is not base64', () => {
    expect(() => signHeaders('standard-webhooks', 'whsec_**not-base64**', BODY, new Date())).toThrow(/whsec_/);
  });
});

describe('signHeaders hmac', () => {
  test('returns exactly X-Timestamp, X-Nonce and X-Signature', () => {
    const headers = signHeaders('hmac', HMAC_SECRET, BODY, new Date('2026-11-22T10:30:00Z'));
    expect(Object.keys(headers).sort()).toEqual(['X-Nonce', 'X-Signature', 'X-Timestamp']);
    expect(headers['X-Timestamp']).toBe('1795343400');
    expect(headers['X-Signature']).toMatch(/^[0-9a-f]{64}$/);
  });

  test('verifies with sluice’s verifier, once: the nonce is random and single-use', async () => {
    const now = new Date('2026-11-22T10:30:00Z');
    const nonces = memoryNonces();
    const verifier = createVerifier({ scheme: 'hmac', secrets: [HMAC_SECRET] }, { nonces });
    const first = signHeaders('hmac', HMAC_SECRET, BODY, now);
    const second = signHeaders('hmac', HMAC_SECRET, BODY, now);
    expect(first['X-Nonce']).not.toBe(second['X-Nonce']);
    const accepted = await verifier.verify(input(first, now));
    expect(accepted).toMatchObject({ ok: true, nonce: { nonce: first['X-Nonce'] } });
    nonces.keep(accepted);
    expect(await verifier.verify(input(second, now))).toMatchObject({ ok: true });
    expect(await verifier.verify(input(first, now))).toMatchObject({ ok: false });
  });

  test('does not verify under another secret', async () => {
    const now = new Date('2026-11-22T10:30:00Z');
    const verifier = createVerifier({ scheme: 'hmac', secrets: ['another-secret'] }, { nonces: memoryNonces() });
    expect(await verifier.verify(input(signHeaders('hmac', HMAC_SECRET, BODY, now), now))).toMatchObject({ ok: false });
  });
});
