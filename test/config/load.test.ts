/**
 * loadConfig (docs/configuration.md#config-file): the no-file default, generated secrets, YAML and JSON files, `${VAR}`
 * expansion, the environment winning over the file, and every bad value named with its path and
 * what was expected, all of them in one error. Config files are written to a temp dir.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError, loadConfig, type Config, type Env } from '../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** Writes a config file and returns its path; the extension only names it (one parser reads both). */
function configFile(text: string, ext: 'yaml' | 'json' = 'yaml'): string {
  files += 1;
  const path = join(dir, `config-${files}.${ext}`);
  writeFileSync(path, text);
  return path;
}

/** The problems of the ConfigError that loading throws; fails the test when it loads. */
function problemsOf(env: Env, file?: string): string[] {
  try {
    loadConfig(env, { configPath: file });
  } catch (err) {
    if (err instanceof ConfigError) {
      expect(err.message).toContain(err.problems[0] ?? '');
      return err.problems;
    }
    throw err;
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}

const TOKEN_SOURCE = 'auth: { scheme: token, secrets: [s3cret] }';

describe('without a config file', () => {
  test('one default source with token auth, the mock connector and a generated webhook secret', () => {
    const config = loadConfig({});
    expect(Object.keys(config.sources)).toEqual(['default']);
    const source = config.sources.default;
    if (source === undefined) throw new Error('no default source');
    expect(source.auth.scheme).toBe('token');
    expect(source.format).toBe('native');
    expect(source.connector).toBe('mock');
    const secret = source.auth.scheme === 'token' ? source.auth.secrets[0] : undefined;
    expect(typeof secret).toBe('string');
    expect(String(secret).length).toBeGreaterThanOrEqual(24);
    expect(config.generated.webhook_secret).toBe(secret);
    // Generated afresh at every start.
    expect(loadConfig({}).generated.webhook_secret).not.toBe(secret);
  });

  test('SLUICE_WEBHOOK_SECRET is the default source’s token and is not reported as generated', () => {
    const config = loadConfig({ SLUICE_WEBHOOK_SECRET: 'whk_mine' });
    const auth = config.sources.default?.auth;
    expect(auth).toEqual({ scheme: 'token', secrets: ['whk_mine'] });
    expect(config.generated.webhook_secret).toBeUndefined();
  });

  const adminCases: { name: string; env: Env; token: 'generated' | string }[] = [
    { name: 'outside production an admin token is generated', env: {}, token: 'generated' },
    { name: 'NODE_ENV=development generates one too', env: { NODE_ENV: 'development' }, token: 'generated' },
    { name: 'SLUICE_ADMIN_TOKEN is used as given', env: { SLUICE_ADMIN_TOKEN: 'adm_given' }, token: 'adm_given' },
    { name: 'production with SLUICE_ADMIN_TOKEN starts', env: { NODE_ENV: 'production', SLUICE_ADMIN_TOKEN: 'adm_prod' }, token: 'adm_prod' },
  ];
  for (const c of adminCases) {
    test(c.name, () => {
      const config = loadConfig(c.env);
      if (c.token === 'generated') {
        expect(config.admin_token.length).toBeGreaterThanOrEqual(24);
        expect(config.generated.admin_token).toBe(config.admin_token);
      } else {
        expect(config.admin_token).toBe(c.token);
        expect(config.generated.admin_token).toBeUndefined();
      }
    });
  }

  test('NODE_ENV=production without SLUICE_ADMIN_TOKEN is a ConfigError naming SLUICE_ADMIN_TOKEN', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^SLUICE_ADMIN_TOKEN: expected /);
    expect(problemsOf({ NODE_ENV: 'production', SLUICE_ADMIN_TOKEN: '' })[0]).toMatch(/^SLUICE_ADMIN_TOKEN: /);
  });

  test('read token, test mode and log level come from the environment', () => {
    const config = loadConfig({ SLUICE_READ_TOKEN: 'rd', SLUICE_TEST_MODE: '1', LOG_LEVEL: 'debug' });
    expect([config.read_token, config.test_mode, config.log_level]).toEqual(['rd', true, 'debug']);
    const plain = loadConfig({});
    expect([plain.read_token, plain.test_mode, plain.log_level]).toEqual([null, false, 'info']);
  });
});

describe('defaults equal the documented ones', () => {
  test('server, database, policy, execution, degraded, retention, alerts', () => {
    const config = loadConfig({});
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080, body_limit_bytes: 65_536 });
    expect(config.database).toEqual({ url: 'file:./data/sluice.db', connect_timeout_seconds: 60 });
    expect(config.policy).toEqual({
      initial_mode: 'enabled',
      instruments: [],
      max_signal_age_seconds: 300,
      trading_windows: [],
      max_orders_per_minute: 30,
      max_order_quantity: { default: null },
      max_order_notional: 10_000,
      max_position_notional: { default: 25_000 },
      max_gross_exposure: 100_000,
      max_daily_loss: 2_000,
      trading_day_tz: 'UTC',
      exit_only_trim: true,
    });
    expect(config.execution).toMatchObject({
      max_attempts: 5,
      backoff: { base_ms: 250, cap_ms: 30_000 },
      breaker: { failure_threshold: 5, half_open_after_seconds: null },
      wait_ms: 0,
      reconcile_interval_seconds: 30,
    });
    expect(config.degraded).toMatchObject({ on_database_down: 'spool', spool_dir: './data/spool' });
    expect(config.retention).toEqual({ signals_days: 7 });
    expect(config.alerts).toEqual({ webhook_url: null, backoff: { base_ms: 1000, cap_ms: 60_000 }, timeout_ms: 10_000 });
    expect(config.connectors).toEqual({ mock: { type: 'mock', latency_ms: 0, failure_rate: 0, timeout_rate: 0, fill_delay_ms: 0, partial_fills: 1, resting_orders: false } });
  });

  test('a source’s defaults', () => {
    const config = loadConfig({}, { configPath: configFile(`sources:\n  tv: { ${TOKEN_SOURCE} }\n`) });
    expect(config.sources.tv).toEqual({
      auth: { scheme: 'token', secrets: ['s3cret'] },
      format: 'native',
      connector: 'mock',
      allow_ips: [],
      trust_proxy: false,
      rate_limit_per_minute: null,
      body_hash_window_seconds: 60,
      require_idempotency_key: false,
    });
  });
});

describe('config files', () => {
  const yaml = `
server: { host: 0.0.0.0, port: 9000 }
database: { url: "file:/var/lib/sluice/sluice.db" }
sources:
  tv:
    auth: { scheme: passphrase, field: passphrase, secrets: ["\${TV_PASSPHRASE}"] }
    format: tradingview
    connector: alpaca
    allow_ips: [52.89.214.238, 10.0.0.0/8, "2001:db8::/32"]
    rate_limit_per_minute: 120
  internal:
    auth: { scheme: standard-webhooks, secrets: ["\${WHSEC_CURRENT}", { value: "\${WHSEC_OLD}", expires_at: "2026-12-01T00:00:00Z" }] }
policy:
  instruments: [aapl, MSFT]
  max_order_notional: 5000
  max_position_notional: { default: 20000, AAPL: 50000 }
  trading_windows: [{ days: [mon, tue, wed, thu, fri], from: "09:30", to: "16:00", tz: America/New_York }]
connectors:
  alpaca: { type: alpaca, base_url: "https://paper-api.alpaca.markets", key_id: "\${APCA_API_KEY_ID}", secret_key: "\${APCA_API_SECRET_KEY}", live: false }
execution: { max_attempts: 3, breaker: { failure_threshold: 2, half_open_after_seconds: 30 } }
`;
  const json = JSON.stringify({
    server: { host: '0.0.0.0', port: 9000 },
    database: { url: 'file:/var/lib/sluice/sluice.db' },
    sources: {
      tv: {
        auth: { scheme: 'passphrase', field: 'passphrase', secrets: ['${TV_PASSPHRASE}'] },
        format: 'tradingview',
        connector: 'alpaca',
        allow_ips: ['52.89.214.238', '10.0.0.0/8', '2001:db8::/32'],
        rate_limit_per_minute: 120,
      },
      internal: { auth: { scheme: 'standard-webhooks', secrets: ['${WHSEC_CURRENT}', { value: '${WHSEC_OLD}', expires_at: '2026-12-01T00:00:00Z' }] } },
    },
    policy: {
      instruments: ['aapl', 'MSFT'],
      max_order_notional: 5000,
      max_position_notional: { default: 20000, AAPL: 50000 },
      trading_windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:30', to: '16:00', tz: 'America/New_York' }],
    },
    connectors: {
      alpaca: { type: 'alpaca', base_url: 'https://paper-api.alpaca.markets', key_id: '${APCA_API_KEY_ID}', secret_key: '${APCA_API_SECRET_KEY}', live: false },
    },
    execution: { max_attempts: 3, breaker: { failure_threshold: 2, half_open_after_seconds: 30 } },
  });
  const env: Env = { TV_PASSPHRASE: 'pass-1', WHSEC_CURRENT: 'whsec_Y3VycmVudA==', WHSEC_OLD: 'whsec_b2xk', APCA_API_KEY_ID: 'AK1', APCA_API_SECRET_KEY: 'SK1' };

  function check(config: Config): void {
    expect(Object.keys(config.sources).sort()).toEqual(['internal', 'tv']);
    expect(config.sources.tv).toMatchObject({
      auth: { scheme: 'passphrase', field: 'passphrase', secrets: ['pass-1'] },
      format: 'tradingview',
      connector: 'alpaca',
      allow_ips: ['52.89.214.238', '10.0.0.0/8', '2001:db8::/32'],
      rate_limit_per_minute: 120,
    });
    expect(config.sources.internal?.auth).toEqual({
      scheme: 'standard-webhooks',
      secrets: ['whsec_Y3VycmVudA==', { value: 'whsec_b2xk', expires_at: '2026-12-01T00:00:00Z' }],
    });
    expect(config.connectors.alpaca).toMatchObject({ type: 'alpaca', key_id: 'AK1', secret_key: 'SK1', live: false });
    expect(config.policy.instruments).toEqual(['AAPL', 'MSFT']);
    expect(config.policy.max_order_notional).toBe(5000);
    expect(config.policy.max_position_notional).toEqual({ default: 20000, AAPL: 50000 });
    expect(config.policy.max_daily_loss).toBe(2000);
    expect(config.policy.trading_windows).toEqual([{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:30', to: '16:00', tz: 'America/New_York' }]);
    expect(config.execution).toMatchObject({ max_attempts: 3, backoff: { base_ms: 250, cap_ms: 30_000 }, breaker: { failure_threshold: 2, half_open_after_seconds: 30 } });
    expect(config.server).toMatchObject({ host: '0.0.0.0', port: 9000 });
    expect(config.database.url).toBe('file:/var/lib/sluice/sluice.db');
    // With a config file nothing is generated for sources.
    expect(config.generated.webhook_secret).toBeUndefined();
  }

  test('a YAML file loads, with ${VAR} expanded from the environment', () => {
    const path = configFile(yaml, 'yaml');
    const config = loadConfig(env, { configPath: path });
    check(config);
  });

  test('a JSON file loads to the same configuration', () => {
    const fromJson = loadConfig(env, { configPath: configFile(json, 'json') });
    check(fromJson);
    const fromYaml = loadConfig({ ...env, SLUICE_ADMIN_TOKEN: 'a' }, { configPath: configFile(yaml) });
    const { generated: _b, admin_token: _c, ...restJson } = { ...fromJson, admin_token: 'a' };
    const { generated: _e, admin_token: _f, ...restYaml } = fromYaml;
    expect(restJson).toEqual(restYaml);
  });

  test('SLUICE_CONFIG names the file when no path is passed', () => {
    const path = configFile(`sources:\n  only: { ${TOKEN_SOURCE} }\n`);
    const config = loadConfig({ SLUICE_CONFIG: path });
    expect(Object.keys(config.sources)).toEqual(['only']);
  });

  test('an unset ${VAR} is named as unset in the environment, at its path, and not also as an empty value', () => {
    const problems = problemsOf({}, configFile(`sources:\n  tv: { auth: { scheme: token, secrets: ["\${NOT_SET}"] } }\n`));
    expect(problems).toEqual(['sources.tv.auth.secrets.0: ${NOT_SET} is not set in the environment']);
  });

  test('every unset ${VAR} is named, also inside longer strings, in { value } secrets and where an empty string would pass', () => {
    const problems = problemsOf(
      { SET: 'x' },
      configFile(
        [
          'sources:',
          '  tv: { auth: { scheme: passphrase, secrets: ["${TV_PASSPHRASE}"] }, format: tradingview }',
          '  sw: { auth: { scheme: standard-webhooks, secrets: [{ value: "${WHSEC_OLD}", expires_at: "2030-01-01T00:00:00Z" }] } }',
          'connectors:',
          '  relay: { type: http, url: "https://${RELAY_HOST}:${RELAY_PORT}/orders", signing_secret: "${SET}" }',
          '  custom: { type: module, path: ./x.js, options: { token: "${BROKER_TOKEN}" } }',
        ].join('\n'),
      ),
    );
    expect(problems).toEqual([
      'sources.tv.auth.secrets.0: ${TV_PASSPHRASE} is not set in the environment',
      'sources.sw.auth.secrets.0.value: ${WHSEC_OLD} is not set in the environment',
      'connectors.relay.url: ${RELAY_HOST}, ${RELAY_PORT} are not set in the environment',
      'connectors.custom.options.token: ${BROKER_TOKEN} is not set in the environment',
    ]);
  });

  test('a ${VAR} set to an empty string is not "unset": the key says what it expected', () => {
    const problems = problemsOf({ EMPTY: '' }, configFile(`sources:\n  tv: { auth: { scheme: token, secrets: ["\${EMPTY}"] } }\n`));
    expect(problems).toEqual(['sources.tv.auth.secrets.0: expected a non-empty string, got ""']);
  });

  test('${VAR} is expanded inside longer strings and nested values', () => {
    const config = loadConfig(
      { HOST_PART: 'db.internal', NAME: 'relay' },
      { configPath: configFile('connectors:\n  relay: { type: http, url: "https://${HOST_PART}/orders", signing_secret: "s-${NAME}-1" }\n') },
    );
    expect(config.connectors.relay).toMatchObject({ url: 'https://db.internal/orders', signing_secret: 's-relay-1' });
  });

  const envWins: { name: string; env: Env; want: { host: string; port: number; url: string } }[] = [
    { name: 'the file alone', env: {}, want: { host: '0.0.0.0', port: 9000, url: 'file:/srv/file.db' } },
    { name: 'HOST wins', env: { HOST: '10.1.2.3' }, want: { host: '10.1.2.3', port: 9000, url: 'file:/srv/file.db' } },
    { name: 'PORT wins', env: { PORT: '9100' }, want: { host: '0.0.0.0', port: 9100, url: 'file:/srv/file.db' } },
    { name: 'DATABASE_URL wins', env: { DATABASE_URL: 'postgres://u:p@db/sluice' }, want: { host: '0.0.0.0', port: 9000, url: 'postgres://u:p@db/sluice' } },
    { name: 'all three', env: { HOST: '::', PORT: '0', DATABASE_URL: 'file:/tmp/x.db' }, want: { host: '::', port: 0, url: 'file:/tmp/x.db' } },
  ];
  for (const c of envWins) {
    test(`environment wins over the file: ${c.name}`, () => {
      const config = loadConfig(c.env, { configPath: configFile('server: { host: 0.0.0.0, port: 9000 }\ndatabase: { url: "file:/srv/file.db" }\n') });
      expect({ host: config.server.host, port: config.server.port, url: config.database.url }).toEqual(c.want);
    });
  }

  test('HOST, PORT and DATABASE_URL apply without a file too', () => {
    const config = loadConfig({ HOST: '0.0.0.0', PORT: '8181', DATABASE_URL: 'file:/data/s.db' });
    expect([config.server.host, config.server.port, config.database.url]).toEqual(['0.0.0.0', 8181, 'file:/data/s.db']);
  });

  test('with a config file exactly its sources exist', () => {
    const config = loadConfig({ SLUICE_WEBHOOK_SECRET: 'ignored' }, { configPath: configFile(`sources:\n  a: { ${TOKEN_SOURCE} }\n  b: { ${TOKEN_SOURCE} }\n`) });
    expect(Object.keys(config.sources).sort()).toEqual(['a', 'b']);
    expect(loadConfig({}, { configPath: configFile('policy: {}\n') }).sources).toEqual({});
  });

  test('the mock connector is always present; a configured one keeps its settings', () => {
    const withAlpaca = loadConfig({}, { configPath: configFile('connectors:\n  alpaca: { type: alpaca, key_id: k, secret_key: s }\n') });
    expect(Object.keys(withAlpaca.connectors).sort()).toEqual(['alpaca', 'mock']);
    expect(withAlpaca.connectors.mock).toEqual({ type: 'mock', latency_ms: 0, failure_rate: 0, timeout_rate: 0, fill_delay_ms: 0, partial_fills: 1, resting_orders: false });
    expect(withAlpaca.connectors.alpaca).toMatchObject({ base_url: 'https://paper-api.alpaca.markets', live: false });

    const tuned = loadConfig({}, { configPath: configFile('connectors:\n  mock: { type: mock, latency_ms: 25, failure_rate: 0.5 }\n') });
    expect(tuned.connectors.mock).toEqual({ type: 'mock', latency_ms: 25, failure_rate: 0.5, timeout_rate: 0, fill_delay_ms: 0, partial_fills: 1, resting_orders: false });

    const filling = loadConfig({}, { configPath: configFile('connectors:\n  mock: { type: mock, fill_delay_ms: 250, partial_fills: 3, resting_orders: true }\n') });
    expect(filling.connectors.mock).toMatchObject({ fill_delay_ms: 250, partial_fills: 3, resting_orders: true });
  });

  const alpacaOk: { name: string; yaml: string }[] = [
    { name: 'live:false with the paper URL', yaml: '{ type: alpaca, key_id: k, secret_key: s, live: false, base_url: "https://paper-api.alpaca.markets" }' },
    { name: 'live:true with the live URL', yaml: '{ type: alpaca, key_id: k, secret_key: s, live: true, base_url: "https://api.alpaca.markets" }' },
    { name: 'live:false with a local fake', yaml: '{ type: alpaca, key_id: k, secret_key: s, base_url: "http://127.0.0.1:4010" }' },
    { name: 'a stream_url on ws://', yaml: '{ type: alpaca, key_id: k, secret_key: s, base_url: "http://127.0.0.1:4010", stream_url: "ws://127.0.0.1:4011/stream" }' },
    { name: 'live:true with the live stream_url', yaml: '{ type: alpaca, key_id: k, secret_key: s, live: true, base_url: "https://api.alpaca.markets", stream_url: "wss://api.alpaca.markets/stream" }' },
  ];
  for (const c of alpacaOk) {
    test(`alpaca ${c.name} loads`, () => {
      const config = loadConfig({}, { configPath: configFile(`connectors:\n  alpaca: ${c.yaml}\n`) });
      expect(config.connectors.alpaca?.type).toBe('alpaca');
    });
  }
});

describe('bad values are named with their path and expectation', () => {
  const cases: { name: string; yaml?: string; env?: Env; problems: Array<string | RegExp> }[] = [
    {
      name: 'a string where a positive number belongs',
      yaml: 'policy: { max_order_notional: ten }',
      problems: ['policy.max_order_notional: expected a positive number, got "ten"'],
    },
    { name: 'a negative limit', yaml: 'policy: { max_daily_loss: -5 }', problems: ['policy.max_daily_loss: expected a positive number, got -5'] },
    { name: 'an unknown key at top level', yaml: 'polcy: { max_order_notional: 5 }', problems: ['polcy: unknown key (did you mean "policy"?)'] },
    { name: 'an unknown key nested', yaml: 'policy: { max_order_notionall: 5 }', problems: ['policy.max_order_notionall: unknown key (did you mean "max_order_notional"?)'] },
    { name: 'an unknown key deep in a source', yaml: `sources:\n  tv: { auth: { scheme: token, secrets: [x], extra: 1 } }`, problems: ['sources.tv.auth.extra: unknown key'] },
    {
      name: 'a bad auth scheme',
      yaml: 'sources:\n  tv: { auth: { scheme: basic, secrets: [x] } }',
      problems: [/^sources\.tv\.auth\.scheme: expected an auth scheme: one of .*token.*, got "basic"$/],
    },
    {
      name: 'a source pointing at an unknown connector',
      yaml: `sources:\n  tv: { ${TOKEN_SOURCE}, connector: ibkr }`,
      problems: [/^sources\.tv\.connector: expected one of .*\bmock\b.*, got "ibkr"$/],
    },
    {
      name: 'a bad CIDR in allow_ips',
      yaml: `sources:\n  tv: { ${TOKEN_SOURCE}, allow_ips: [1.2.3.4, 10.0.0.0/33] }`,
      problems: ['sources.tv.allow_ips.1: expected an IP address or CIDR, got "10.0.0.0/33"'],
    },
    {
      name: 'a host name in allow_ips',
      yaml: `sources:\n  tv: { ${TOKEN_SOURCE}, allow_ips: [example.com] }`,
      problems: ['sources.tv.allow_ips.0: expected an IP address or CIDR, got "example.com"'],
    },
    {
      name: 'a bad trading-day time zone',
      yaml: 'policy: { trading_day_tz: Mars/Olympus }',
      problems: ['policy.trading_day_tz: expected an IANA time zone such as "America/New_York", got "Mars/Olympus"'],
    },
    {
      name: 'a bad trading-window time zone',
      yaml: 'policy: { trading_windows: [{ from: "09:30", to: "16:00", tz: Nowhere/City }] }',
      problems: ['policy.trading_windows.0.tz: expected an IANA time zone such as "America/New_York", got "Nowhere/City"'],
    },
    { name: 'a bad time of day', yaml: 'policy: { trading_windows: [{ from: "9:30", to: "16:00" }] }', problems: ['policy.trading_windows.0.from: expected a time "HH:MM", got "9:30"'] },
    { name: 'a bad mode', yaml: 'policy: { initial_mode: off }', problems: ['policy.initial_mode: expected one of enabled, exit_only, paused, got "off"'] },
    { name: 'a list where a list belongs, named by path', yaml: 'policy: { instruments: AAPL }', problems: [/^policy\.instruments: .*array.*"AAPL"/i] },
    { name: 'a rate above 1', yaml: 'connectors:\n  mock: { type: mock, failure_rate: 1.5 }', problems: ['connectors.mock.failure_rate: expected a number from 0 to 1, got 1.5'] },
    { name: 'an order rate past a million', yaml: 'policy: { max_orders_per_minute: 1000001 }', problems: ['policy.max_orders_per_minute: expected a positive integer at most 1000000, got 1000001'] },
    { name: 'zero partial fills', yaml: 'connectors:\n  mock: { type: mock, partial_fills: 0 }', problems: ['connectors.mock.partial_fills: expected a positive integer, got 0'] },
    { name: 'too many partial fills', yaml: 'connectors:\n  mock: { type: mock, partial_fills: 101 }', problems: ['connectors.mock.partial_fills: expected a positive integer at most 100, got 101'] },
    { name: 'a fill delay past a day', yaml: 'connectors:\n  mock: { type: mock, fill_delay_ms: 86400001 }', problems: ['connectors.mock.fill_delay_ms: expected an integer ≥ 0 and at most 86400000, got 86400001'] },
    { name: 'resting_orders not a boolean', yaml: 'connectors:\n  mock: { type: mock, resting_orders: "yes" }', problems: ['connectors.mock.resting_orders: expected true or false, got "yes"'] },
    { name: 'an unknown connector type', yaml: 'connectors:\n  x: { type: ftp }', problems: [/^connectors\.x\.type: expected a connector type: one of mock, alpaca, http, module, got "ftp"$/] },
    { name: 'a bad PORT in the environment', env: { PORT: 'eighty' }, problems: ['PORT: expected a port 0-65535, got "eighty"'] },
    { name: 'a PORT out of range', env: { PORT: '70000' }, problems: ['PORT: expected a port 0-65535, got "70000"'] },
    { name: 'a bad port in the file', yaml: 'server: { port: 70000 }', problems: ['server.port: expected a port 0-65535, got 70000'] },
    { name: 'a bad SLUICE_TEST_MODE', env: { SLUICE_TEST_MODE: 'yes' }, problems: ['SLUICE_TEST_MODE: expected 0 or 1, got "yes"'] },
    {
      name: 'alpaca live:false with the live URL is refused',
      yaml: 'connectors:\n  alpaca: { type: alpaca, key_id: k, secret_key: s, live: false, base_url: "https://api.alpaca.markets" }',
      problems: [/^connectors\.alpaca\.base_url: expected a paper URL with live: false, got "https:\/\/api\.alpaca\.markets"$/],
    },
    {
      name: 'alpaca live:true with the paper URL is refused',
      yaml: 'connectors:\n  alpaca: { type: alpaca, key_id: k, secret_key: s, live: true, base_url: "https://paper-api.alpaca.markets" }',
      problems: [/^connectors\.alpaca\.base_url: expected the live URL .*, got "https:\/\/paper-api\.alpaca\.markets"$/],
    },
    {
      name: 'alpaca live:true with the default (paper) URL is refused',
      yaml: 'connectors:\n  alpaca: { type: alpaca, key_id: k, secret_key: s, live: true }',
      problems: [/^connectors\.alpaca\.base_url: expected the live URL/],
    },
    {
      name: 'an alpaca stream_url that is not ws:// or wss:// names the key',
      yaml: 'connectors:\n  alpaca: { type: alpaca, key_id: k, secret_key: s, stream_url: "https://paper-api.alpaca.markets/stream" }',
      problems: ['connectors.alpaca.stream_url: expected a ws:// or wss:// URL, got "https://paper-api.alpaca.markets/stream"'],
    },
    {
      name: 'an alpaca stream_url that is not a URL',
      yaml: 'connectors:\n  alpaca: { type: alpaca, key_id: k, secret_key: s, stream_url: "stream" }',
      problems: ['connectors.alpaca.stream_url: expected a ws:// or wss:// URL, got "stream"'],
    },
    {
      name: 'alpaca live:false with the live stream is refused',
      yaml: 'connectors:\n  alpaca: { type: alpaca, key_id: k, secret_key: s, live: false, stream_url: "wss://api.alpaca.markets/stream" }',
      problems: ['connectors.alpaca.stream_url: expected a paper stream with live: false, got "wss://api.alpaca.markets/stream"'],
    },
    {
      name: 'alpaca live:true with the paper stream is refused',
      yaml: 'connectors:\n  alpaca: { type: alpaca, key_id: k, secret_key: s, live: true, base_url: "https://api.alpaca.markets", stream_url: "wss://paper-api.alpaca.markets/stream" }',
      problems: [/^connectors\.alpaca\.stream_url: expected the live stream wss:\/\/api\.alpaca\.markets\/stream with live: true, got "wss:\/\/paper-api\.alpaca\.markets\/stream"$/],
    },
    { name: 'a missing config file', env: { SLUICE_CONFIG: join(dir, 'does-not-exist.yaml') }, problems: [/^SLUICE_CONFIG: expected a readable file, got ".*does-not-exist\.yaml"/] },
    { name: 'a file that is not YAML or JSON', yaml: 'policy: { max_order_notional: [1, }', problems: [/: expected YAML or JSON, got a parse error/] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const problems = problemsOf(c.env ?? {}, c.yaml === undefined ? undefined : configFile(c.yaml));
      expect(problems).toHaveLength(c.problems.length);
      c.problems.forEach((want, i) => {
        if (typeof want === 'string') expect(problems[i]).toBe(want);
        else expect(problems[i]).toMatch(want);
      });
    });
  }

  test('several problems are all listed in one error', () => {
    const problems = problemsOf(
      { PORT: 'abc' },
      configFile('policy: { max_order_notional: ten, trading_day_tz: Mars/Olympus, bogus: 1 }\nsources:\n  tv: { auth: { scheme: basic } }\n'),
    );
    expect(problems).toHaveLength(5);
    expect(problems).toEqual(
      expect.arrayContaining([
        'PORT: expected a port 0-65535, got "abc"',
        'policy.max_order_notional: expected a positive number, got "ten"',
        'policy.trading_day_tz: expected an IANA time zone such as "America/New_York", got "Mars/Olympus"',
        'policy.bogus: unknown key',
        expect.stringMatching(/^sources\.tv\.auth\.scheme: expected an auth scheme/),
      ]),
    );
  });

  test('cross-reference problems are listed together too', () => {
    const problems = problemsOf(
      { NODE_ENV: 'production', SLUICE_TEST_MODE: '2' },
      configFile(
        `sources:\n  a: { ${TOKEN_SOURCE}, connector: nope }\n  b: { ${TOKEN_SOURCE}, connector: other }\nconnectors:\n  alpaca: { type: alpaca, key_id: k, secret_key: s, live: true }\n`,
      ),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^sources\.a\.connector: expected one of .*, got "nope"$/),
      expect.stringMatching(/^sources\.b\.connector: expected one of .*, got "other"$/),
      expect.stringMatching(/^connectors\.alpaca\.base_url: expected the live URL/),
      expect.stringMatching(/^SLUICE_ADMIN_TOKEN: /),
      'SLUICE_TEST_MODE: expected 0 or 1, got "2"',
    ]);
  });

  // BUG (src/config/load.ts): when the file has a schema problem, loadConfig throws right after
  // the schema check, so the environment problems found later (SLUICE_ADMIN_TOKEN in production,
  // SLUICE_TEST_MODE) are not listed: the operator fixes one and meets the next at the next start.
  test('a schema problem and a missing production admin token are listed in one error', () => {
    const problems = problemsOf({ NODE_ENV: 'production' }, configFile('policy: { max_order_notional: ten }'));
    expect(problems).toEqual(['policy.max_order_notional: expected a positive number, got "ten"', expect.stringMatching(/^SLUICE_ADMIN_TOKEN: /)]);
  });
});

describe('errors that name the fix', () => {
  test('every unknown key is named, several per object and in every block, with "did you mean" for near misses', () => {
    const problems = problemsOf(
      {},
      configFile(
        [
          'sources:',
          '  tv: { auth: { scheme: token, secrets: [x], secrts: [y] }, conector: mock, formatt: native, colour: red }',
          'policy: { max_order_notionall: 5, max_daily_los: 10, colour: blue }',
          'connectors:',
          '  m: { type: mock, latency: 5, failure_rat: 0.1 }',
          'execution: { backof: { base_ms: 1 }, breaker: { failure_treshold: 3 } }',
          'sourcess: {}',
        ].join('\n'),
      ),
    );
    expect(problems).toEqual([
      'sources.tv.auth.secrts: unknown key (did you mean "secrets"?)',
      'sources.tv.conector: unknown key (did you mean "connector"?)',
      'sources.tv.formatt: unknown key (did you mean "format"?)',
      'sources.tv.colour: unknown key',
      'policy.max_order_notionall: unknown key (did you mean "max_order_notional"?)',
      'policy.max_daily_los: unknown key (did you mean "max_daily_loss"?)',
      'policy.colour: unknown key',
      'connectors.m.latency: unknown key',
      'connectors.m.failure_rat: unknown key (did you mean "failure_rate"?)',
      'execution.backof: unknown key (did you mean "backoff"?)',
      'execution.breaker.failure_treshold: unknown key (did you mean "failure_threshold"?)',
      'sourcess: unknown key (did you mean "sources"?)',
    ]);
  });

  test('unknown keys are listed together with bad values', () => {
    const problems = problemsOf({}, configFile('policy: { max_order_notional: ten, colour: red, flavour: sweet }'));
    expect(problems).toEqual(['policy.max_order_notional: expected a positive number, got "ten"', 'policy.colour: unknown key', 'policy.flavour: unknown key']);
  });

  test('an invalid LOG_LEVEL lists the valid ones', () => {
    expect(problemsOf({ LOG_LEVEL: 'verbose' })).toEqual(['LOG_LEVEL: expected one of trace, debug, info, warn, error, fatal, silent, got "verbose"']);
    expect(loadConfig({ LOG_LEVEL: 'warn' }).log_level).toBe('warn');
    expect(loadConfig({ LOG_LEVEL: '' }).log_level).toBe('info');
  });

  // A secret typed in the wrong shape (a number, a list) must not end up in a terminal, a CI log
  // or a support ticket: the problem names the key and the kind of value only.
  const SECRET = '8675309';
  const secretCases: { name: string; yaml: string; env?: Env }[] = [
    { name: 'a token secret that YAML read as a number', yaml: `sources:\n  a: { auth: { scheme: token, secrets: [${SECRET}] } }` },
    { name: 'a passphrase secret as a { value } with a number', yaml: `sources:\n  a: { auth: { scheme: passphrase, secrets: [{ value: ${SECRET} }] } }` },
    { name: 'a list where the secrets belong', yaml: `sources:\n  a: { auth: { scheme: hmac, secrets: ${SECRET} } }` },
    { name: "an http connector's signing_secret", yaml: `connectors:\n  r: { type: http, url: "https://x.example/o", signing_secret: ${SECRET} }` },
    { name: "an alpaca key_id and secret_key", yaml: `connectors:\n  a: { type: alpaca, key_id: ${SECRET}, secret_key: [${SECRET}] }` },
    { name: 'a URL with a password that is not a valid URL', yaml: `connectors:\n  r: { type: http, url: "https://user:${SECRET}@ bad host/o", signing_secret: whsec_x }` },
    { name: 'an alerts webhook URL with a password', yaml: `alerts: { webhook_url: "ftp//user:${SECRET}@hooks.example" }` },
    { name: 'a value built from a ${VAR}', yaml: 'server: { port: "${PORT_FROM_ENV}" }', env: { PORT_FROM_ENV: SECRET } },
    { name: 'an alpaca base_url with a password that does not match live', yaml: `connectors:\n  a: { type: alpaca, key_id: k, secret_key: s, live: true, base_url: "https://u:${SECRET}@paper-api.alpaca.markets" }` },
  ];
  test.each(secretCases)('$name: named, never echoed', ({ yaml, env }) => {
    const problems = problemsOf(env ?? {}, configFile(yaml));
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p).not.toContain(SECRET);
    const err = (() => {
      try {
        loadConfig(env ?? {}, { configPath: configFile(yaml) });
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    expect(err?.message).not.toContain(SECRET);
  });

  test('the kind of a hidden value is still named', () => {
    const problems = problemsOf({}, configFile(`sources:\n  a: { auth: { scheme: token, secrets: [${SECRET}] } }`));
    expect(problems).toEqual([`sources.a.auth.secrets.0: expected a non-empty secret string or { value, expires_at }, got a number (not shown: it may be a secret)`]);
  });
});
