/**
 * `sluice sign` end to end (docs/configuration.md#commands): the built CLI prints the headers for a body file, and
 * a running sluice whose sources use those schemes accepts the body sent with them. Bad usage
 * exits 2. Needs `npm run build` first (as `npm test` does).
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');
const WHSEC = `whsec_${randomBytes(32).toString('base64')}`;
const HMAC_SECRET = `hmac-${randomUUID()}`;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 15_000, env: { PATH: process.env.PATH ?? '' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `Name: value` lines → headers; anything else on stdout fails the parse. */
function parseHeaders(stdout: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const match = /^([A-Za-z0-9-]+): (.+)$/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined) throw new Error(`not a header line: ${JSON.stringify(line)}`);
    headers[match[1]] = match[2];
  }
  return headers;
}

let s: TestServer;
let dir: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  dir = tempDir('sluice-sign-cli-');
  s = await startTestServer({
    dir,
    config: {
      sources: {
        sw: { auth: { scheme: 'standard-webhooks', secrets: [WHSEC] } },
        hm: { auth: { scheme: 'hmac', secrets: [HMAC_SECRET] } },
      },
    },
  });
});
afterAll(async () => {
  await s.close();
});

/** Writes a fresh signal body to a file; returns its path and exact bytes. */
function bodyFile(): { path: string; body: Buffer } {
  const body = Buffer.from(JSON.stringify({ id: `cli-${randomUUID()}`, action: 'buy', instrument: 'AAPL', quantity: 1, price: 100 }));
  const path = join(dir, `body-${randomUUID()}.json`);
  writeFileSync(path, body);
  return { path, body };
}

function post(source: string, body: Buffer, headers: Record<string, string>): Promise<Response> {
  return fetch(`${s.url}/webhooks/${source}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: new Uint8Array(body) });
}

describe('sluice sign → POST', () => {
  test('standard-webhooks: the printed headers get a 202, webhook-id is the key', async () => {
    const { path, body } = bodyFile();
    const out = await runCli(['sign', '--scheme', 'standard-webhooks', '--secret', WHSEC, '--body', path]);
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const headers = parseHeaders(out.stdout);
    expect(Object.keys(headers).sort()).toEqual(['webhook-id', 'webhook-signature', 'webhook-timestamp']);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);

    const res = await post('sw', body, headers);
    expect(res.status).toBe(202);
    const accepted: unknown = await res.json();
    expect(accepted).toMatchObject({ status: 'accepted', idempotency_key: headers['webhook-id'] });

    // Sending the same signed delivery again is a redelivery: a duplicate, not a new signal.
    const again = await post('sw', body, headers);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });

  test('hmac: the printed headers get a 202; replaying them is refused (nonce)', async () => {
    const { path, body } = bodyFile();
    const out = await runCli(['sign', '--scheme', 'hmac', '--secret', HMAC_SECRET, '--body', path]);
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const headers = parseHeaders(out.stdout);
    expect(Object.keys(headers).sort()).toEqual(['X-Nonce', 'X-Signature', 'X-Timestamp']);
    expect(headers['X-Signature']).toMatch(/^[0-9a-f]{64}$/);

    expect((await post('hm', body, headers)).status).toBe(202);
    expect((await post('hm', body, headers)).status).toBe(401);
  });

  test('headers signed for one body do not verify another', async () => {
    const { path } = bodyFile();
    const other = bodyFile();
    const out = await runCli(['sign', '--scheme', 'hmac', '--secret', HMAC_SECRET, '--body', path]);
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect((await post('hm', other.body, parseHeaders(out.stdout))).status).toBe(401);
  });

  test('signed with another secret: 401', async () => {
    const { path, body } = bodyFile();
    const out = await runCli(['sign', '--scheme', 'standard-webhooks', '--secret', `whsec_${randomBytes(32).toString('base64')}`, '--body', path]);
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect((await post('sw', body, parseHeaders(out.stdout))).status).toBe(401);
  });
});

describe('sluice sign: bad usage exits 2 and prints no headers', () => {
  const cases: Array<{ name: string; args: () => string[] }> = [
    { name: 'unknown scheme', args: () => ['sign', '--scheme', 'stripe', '--secret', 'x', '--body', bodyFile().path] },
    { name: 'no --scheme', args: () => ['sign', '--secret', HMAC_SECRET, '--body', bodyFile().path] },
    { name: 'no --secret', args: () => ['sign', '--scheme', 'hmac', '--body', bodyFile().path] },
    { name: 'no --body', args: () => ['sign', '--scheme', 'hmac', '--secret', HMAC_SECRET] },
    { name: 'unknown option', args: () => ['sign', '--scheme', 'hmac', '--secret', HMAC_SECRET, '--body', bodyFile().path, '--bogus'] },
    { name: 'a standard-webhooks secret that is not whsec_<base64>', args: () => ['sign', '--scheme', 'standard-webhooks', '--secret', 'not base64!', '--body', bodyFile().path] },
    { name: 'a body file that does not exist', args: () => ['sign', '--scheme', 'hmac', '--secret', HMAC_SECRET, '--body', join(dir, 'missing.json')] },
    { name: 'no command at all', args: () => [] },
  ];
  test.each(cases)('$name', async ({ args }) => {
    const out = await runCli(args());
    expect(out.code).toBe(2);
    expect(out.stdout).not.toMatch(/^(webhook-|X-)/m);
    expect(out.stderr.length + out.stdout.length).toBeGreaterThan(0);
  });
});
