/**
 * The `sinks:` section (docs/configuration.md#sinks): defaults, and every bad value named by its
 * key with what was expected — an unknown key with a near miss, a type that does not exist, a
 * stream or prefix NATS would refuse, fields that go together, two sinks on one offset — without
 * ever echoing a password, a token or credentials written into a URL. `sluice start` with such a
 * file exits 2 naming the key.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { isNatsServerUrl, showServerUrl } from '../../src/config/sinks.js';
import { tempDir } from '../helpers/server.js';

const dir = tempDir('sluice-sinks-config-');
let files = 0;

function load(sinks: string, env: Record<string, string> = {}) {
  files += 1;
  const path = join(dir, `c${files}.yaml`);
  writeFileSync(path, `sinks: ${sinks}\n`);
  return loadConfig(env, { configPath: path });
}

function problemsOf(sinks: string, env: Record<string, string> = {}): string[] {
  try {
    load(sinks, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}

describe('sinks', () => {
  test('none by default; a nats sink with every default', () => {
    expect(loadConfig({}).sinks).toEqual([]);
    expect(load('[{ type: nats }]').sinks).toEqual([
      {
        type: 'nats',
        url: 'nats://127.0.0.1:4222',
        stream: 'SLUICE',
        subject_prefix: 'sluice',
        timeout_ms: 5_000,
        backoff: { base_ms: 500, cap_ms: 30_000 },
        max_age_seconds: 604_800,
        max_bytes: 1_073_741_824,
        duplicate_window_seconds: 120,
      },
    ]);
    expect(load('[{ type: nats, url: [nats://a:4222, tls://b:4222], user: u, password: p, stream: S2 }]').sinks[0]).toMatchObject({ url: ['nats://a:4222', 'tls://b:4222'], user: 'u', password: 'p' });
  });

  test.each([
    ['{ type: nats }', 'sinks: expected a list of sinks, got {"type":"nats"}'],
    ['[{ type: kafka }]', 'sinks.0.type: expected a sink type: nats, got "kafka"'],
    ['[{ type: nats, subjet_prefix: x }]', 'sinks.0.subjet_prefix: unknown key (did you mean "subject_prefix"?)'],
    ['[{ type: nats, backoff: { bse_ms: 1 } }]', 'sinks.0.backoff.bse_ms: unknown key (did you mean "base_ms"?)'],
    ['[{ type: nats, stream: "a.b" }]', 'sinks.0.stream: expected a stream name of 1-255 letters, digits, "_" or "-", got "a.b"'],
    ['[{ type: nats, subject_prefix: "sluice.>" }]', 'sinks.0.subject_prefix: expected a subject prefix of dot-separated tokens of letters, digits, "_" or "-" (no wildcards), got "sluice.>"'],
    ['[{ type: nats, timeout_ms: 0 }]', 'sinks.0.timeout_ms: expected a positive integer, got 0'],
    ['[{ type: nats, url: "http://x:4222" }]', 'sinks.0.url: expected a nats:// or tls:// URL of host and port, without credentials (set user and password, or token), got "http://x:4222"'],
    ['[{ type: nats, url: [] }]', 'sinks.0.url: expected at least one server URL, got []'],
    ['[{ type: nats, url: 4222 }]', 'sinks.0.url: expected a nats:// or tls:// URL of host and port, without credentials (set user and password, or token), or a list of them, got 4222'],
    ['[{ type: nats, user: u }]', 'sinks.0.password: expected user and password together, got only user'],
    ['[{ type: nats, token: t, user: u, password: p }]', 'sinks.0.token: expected either token or user and password, got both'],
    ['[{ type: nats, max_age_seconds: 60 }]', 'sinks.0.duplicate_window_seconds: expected at most max_age_seconds (60), got 120'],
    ['[{ type: nats }, { type: nats, url: "nats://other:4222" }]', 'sinks.1.stream: expected a stream no other sink uses (sinks.0 publishes to "SLUICE"), got "SLUICE"'],
  ])('%s → %s', (sinks, problem) => {
    expect(problemsOf(sinks)).toEqual([problem]);
  });

  test('credentials are never echoed: in a URL, a bad password or token, or from ${VAR}', () => {
    const problems = [
      ...problemsOf('[{ type: nats, url: "nats://alice:pw-Secret-1@host:4222" }]'),
      ...problemsOf('[{ type: nats, url: ["nats://ok:4222", "nats://tok-Secret-2@host:4222"] }]'),
      ...problemsOf('[{ type: nats, user: u, password: 12345678 }]'),
      ...problemsOf('[{ type: nats, token: [tok-Secret-3] }]'),
      ...problemsOf('[{ type: nats, url: "${NATS_URL}" }]', { NATS_URL: 'nats://bob:pw-Secret-4@host' }),
    ];
    const url = 'sinks.0.url: expected a nats:// or tls:// URL of host and port, without credentials (set user and password, or token)';
    expect(problems).toEqual([
      `${url}, got "nats://***@host:4222"`,
      `${url.replace('sinks.0.url', 'sinks.0.url.1')}, got "nats://***@host:4222"`,
      'sinks.0.password: expected a non-empty string, got a number (not shown: it may be a secret)',
      'sinks.0.token: expected a non-empty string, got a list (not shown: it may be a secret)',
      `${url}, got a string (not shown: it may be a secret)`,
    ]);
    expect(problems.join('\n')).not.toMatch(/Secret|12345678|alice|bob/);
  });

  test.each([
    ['nats://alice:pw@host:4222', '"nats://***@host:4222"'],
    ['tok@host:4222', '"***@host:4222"'],
    ['nats://host:4222', '"nats://host:4222"'],
    [42, '42'],
  ])('showServerUrl(%j) is %s', (input, shown) => {
    expect(showServerUrl(input)).toBe(shown);
  });

  test.each([
    ['nats://127.0.0.1:4222', true],
    ['tls://nats.example.com:4222', true],
    ['nats://[::1]:4222', true],
    ['nats://host', true],
    ['nats://u:p@host:4222', false],
    ['nats://token@host:4222', false],
    ['nats://host:4222/path', false],
    ['ws://host:4222', false],
    ['host:4222', false],
    ['', false],
  ])('isNatsServerUrl(%j) is %s', (url, ok) => {
    expect(isNatsServerUrl(url)).toBe(ok);
  });

  test('sluice start with a bad sink exits 2 naming the key, never the password', () => {
    const path = join(dir, 'start.yaml');
    writeFileSync(path, 'sinks:\n  - type: nats\n    stream: "no spaces allowed"\n    user: u\n    password: [pw-Secret-5]\n');
    const cli = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');
    const out = spawnSync(process.execPath, [cli, 'start', '--config', path], { env: { PATH: process.env.PATH ?? '', PORT: '0' }, encoding: 'utf8', timeout: 20_000 });
    expect(out.status).toBe(2);
    expect(out.stderr).toContain('sinks.0.stream: expected a stream name of 1-255 letters, digits, "_" or "-", got "no spaces allowed"');
    expect(out.stderr).toContain('sinks.0.password: expected a non-empty string, got a list (not shown: it may be a secret)');
    expect(out.stderr + out.stdout).not.toContain('pw-Secret-5');
  });
});
