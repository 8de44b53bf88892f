/**
 * Configuration is read here, once, at the composition root: environment + optional YAML/JSON
 * file, `${VAR}` expanded from the environment, environment variables winning over the file,
 * everything validated by `configSchema`. Nothing else in sluice reads `process.env`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { parse as parseYaml } from 'yaml';
import { configSchema, type FileConfig, type SourceConfig } from './schema.js';
import { sinkProblems } from './sinks.js';
import { findUnknownKeys, formatUnknownKey } from './unknown-keys.js';

export type Env = Record<string, string | undefined>;

/** pino's levels; anything else in LOG_LEVEL stops the start with this list. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export interface Config extends FileConfig {
  admin_token: string;
  read_token: string | null;
  test_mode: boolean;
  log_level: string;
  /** SLUICE_INSTANCE_ID: this instance's name in execution leases (generated when unset). */
  instance_id: string | null;
  /** Secrets generated at this start; printed once so that a first-time user can use them. */
  generated: { admin_token?: string; webhook_secret?: string };
}

/** A configuration problem found at start; `problems` name each key and what was expected. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: Env, opts: { configPath?: string | undefined } = {}): Config {
  const configPath = opts.configPath ?? env.SLUICE_CONFIG ?? null;
  const raw = configPath === null ? {} : readConfigFile(configPath);
  const expansions: Expansion[] = [];
  const expanded = expandVars(raw, env, '', expansions);
  const problems: string[] = [];
  const unset = expansions.filter((x) => x.unset.length > 0);
  for (const x of unset) problems.push(`${x.path}: ${x.unset.map((name) => `\${${name}}`).join(', ')} ${x.unset.length === 1 ? 'is' : 'are'} not set in the environment`);

  const merged = applyEnv(expanded, env, problems);
  const production = env.NODE_ENV === 'production';
  const adminTokenSet = env.SLUICE_ADMIN_TOKEN !== undefined && env.SLUICE_ADMIN_TOKEN !== '';
  // Environment problems are listed after the file's.
  const envProblems: string[] = [];
  if (production && !adminTokenSet) envProblems.push('SLUICE_ADMIN_TOKEN: expected a token when NODE_ENV=production, got nothing');
  const testMode = env.SLUICE_TEST_MODE ?? '0';
  if (testMode !== '0' && testMode !== '1') envProblems.push(`SLUICE_TEST_MODE: expected 0 or 1, got ${JSON.stringify(testMode)}`);
  const logLevel = env.LOG_LEVEL === undefined || env.LOG_LEVEL === '' ? 'info' : env.LOG_LEVEL;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) envProblems.push(`LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);

  // valibot names the first unknown key of an object; this names every one, with a near miss.
  const unknownKeys = findUnknownKeys(configSchema, merged);
  const parsed = v.safeParse(configSchema, merged);
  if (!parsed.success || unknownKeys.length > 0) {
    // Every problem at once: the file's and the environment's. An unset ${VAR} was named above,
    // so the empty value it left is not reported again.
    const unsetPaths = unset.map((x) => x.path);
    const issues = (parsed.issues ?? [])
      .filter((issue) => !isUnknownKeyIssue(issue))
      .filter((issue) => !unsetPaths.some((p) => isAtOrUnder(issuePath(issue), p) || (issue.type === 'union' && isAtOrUnder(p, issuePath(issue)))))
      .map((issue) => formatIssue(issue, expansions));
    throw new ConfigError([...problems, ...issues, ...unknownKeys.map(formatUnknownKey), ...envProblems].map(hidePasswordsInUrls));
  }
  const file = parsed.output;
  const generated: Config['generated'] = {};

  if (configPath === null) {
    let secret = env.SLUICE_WEBHOOK_SECRET;
    if (secret === undefined || secret === '') {
      secret = `whk_${randomBytes(24).toString('base64url')}`;
      generated.webhook_secret = secret;
    }
    const defaultSource: SourceConfig = {
      auth: { scheme: 'token', secrets: [secret] },
      format: 'native',
      connector: 'mock',
      allow_ips: [],
      trust_proxy: false,
      rate_limit_per_minute: null,
      body_hash_window_seconds: 60,
      require_idempotency_key: false,
    };
    file.sources = { default: defaultSource };
  }
  // The mock always exists: it is the test-mode target and the default connector.
  if (file.connectors.mock === undefined) {
    file.connectors.mock = { type: 'mock', latency_ms: 0, failure_rate: 0, timeout_rate: 0, fill_delay_ms: 0, partial_fills: 1, resting_orders: false };
  }
  for (const [name, source] of Object.entries(file.sources)) {
    if (file.connectors[source.connector] === undefined) {
      problems.push(`sources.${name}.connector: expected one of ${Object.keys(file.connectors).join(', ')}, got ${JSON.stringify(source.connector)}`);
    }
  }
  for (const [name, c] of Object.entries(file.connectors)) {
    if (c.type === 'alpaca') {
      // The live trading host, exactly: anything else is not real money.
      const isLive = new URL(c.base_url).hostname === 'api.alpaca.markets';
      if (!c.live && isLive) {
        problems.push(`connectors.${name}.base_url: expected a paper URL with live: false, got ${JSON.stringify(c.base_url)}`);
      }
      if (c.live && !isLive) {
        problems.push(`connectors.${name}.base_url: expected the live URL https://api.alpaca.markets with live: true, got ${JSON.stringify(c.base_url)}`);
      }
      // The stream reports one account's orders: Alpaca's paper stream for a live account (or the
      // reverse) would report none of them, and sluice would poll for ever without knowing why.
      const streamHost = c.stream_url === undefined ? undefined : new URL(c.stream_url).hostname;
      if (streamHost === 'api.alpaca.markets' && !c.live) {
        problems.push(`connectors.${name}.stream_url: expected a paper stream with live: false, got ${JSON.stringify(c.stream_url)}`);
      }
      if (streamHost === 'paper-api.alpaca.markets' && c.live) {
        problems.push(`connectors.${name}.stream_url: expected the live stream wss://api.alpaca.markets/stream with live: true, got ${JSON.stringify(c.stream_url)}`);
      }
    }
  }

  problems.push(...sinkProblems(file.sinks));

  let adminToken = env.SLUICE_ADMIN_TOKEN;
  if (adminToken === undefined || adminToken === '') {
    adminToken = `adm_${randomBytes(24).toString('base64url')}`;
    generated.admin_token = adminToken;
  }
  problems.push(...envProblems);
  if (problems.length > 0) throw new ConfigError(problems.map(hidePasswordsInUrls));

  return {
    ...file,
    admin_token: adminToken,
    read_token: env.SLUICE_READ_TOKEN === undefined || env.SLUICE_READ_TOKEN === '' ? null : env.SLUICE_READ_TOKEN,
    test_mode: testMode === '1',
    log_level: logLevel,
    instance_id: env.SLUICE_INSTANCE_ID === undefined || env.SLUICE_INSTANCE_ID === '' ? null : env.SLUICE_INSTANCE_ID,
    generated,
  };
}

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`SLUICE_CONFIG: expected a readable file, got ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  try {
    // YAML is a superset of JSON: one parser reads both.
    return parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError([`${path}: expected YAML or JSON, got a parse error: ${(err as Error).message.split('\n')[0]}`]);
  }
}

/** A string of the file that held `${VAR}`s: where it is, and which of them are unset. */
export interface Expansion {
  path: string;
  unset: string[];
}

/**
 * Replaces `${VAR}` in every string with the environment's value (empty when unset) and notes in
 * `expansions` each string that held one, with the variables that were unset; paths are dotted
 * as valibot names them (`sources.tv.auth.secrets.0`).
 */
export function expandVars(value: unknown, env: Env, path: string, expansions: Expansion[] = []): unknown {
  if (typeof value === 'string') {
    const unset: string[] = [];
    let found = false;
    const out = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      found = true;
      const v = env[name];
      if (v === undefined) unset.push(name);
      return v ?? '';
    });
    if (found) expansions.push({ path, unset });
    return out;
  }
  const at = (key: string | number) => (path === '' ? String(key) : `${path}.${key}`);
  if (Array.isArray(value)) return value.map((item, i) => expandVars(item, env, at(i), expansions));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, item]) => [k, expandVars(item, env, at(k), expansions)]));
  }
  return value;
}

/** Environment variables win over the file for the keys they name. */
function applyEnv(raw: unknown, env: Env, problems: string[]): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const out: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  const section = (key: string): Record<string, unknown> => {
    const current = out[key];
    const copy = current !== null && typeof current === 'object' && !Array.isArray(current) ? { ...(current as Record<string, unknown>) } : {};
    out[key] = copy;
    return copy;
  };
  if (env.HOST) section('server').host = env.HOST;
  if (env.PORT) {
    const port = Number(env.PORT);
    if (!/^\d+$/.test(env.PORT) || port > 65_535) problems.push(`PORT: expected a port 0-65535, got ${JSON.stringify(env.PORT)}`);
    else section('server').port = port;
  }
  if (env.DATABASE_URL) section('database').url = env.DATABASE_URL;
  return out;
}

const issuePath = (issue: v.BaseIssue<unknown>): string => v.getDotPath(issue) ?? '';
const isAtOrUnder = (path: string, prefix: string): boolean => path === prefix || path.startsWith(`${prefix}.`);
export const isUnknownKeyIssue = (issue: v.BaseIssue<unknown>): boolean => issue.type === 'strict_object' && issue.expected === 'never';

/** Keys whose values are secrets: an error names the key and the value's kind, never the value. */
const SECRET_KEYS = new Set(['secrets', 'secret', 'passphrase', 'signing_secret', 'key_id', 'secret_key', 'token', 'password', 'api_key']);

/** Whether a problem at `path` may show the value: not under a secret key, not built from `${VAR}`s. */
export function mayShowValue(path: string, expansions: readonly Expansion[] = []): boolean {
  if (path.split('.').some((segment) => SECRET_KEYS.has(segment))) return false;
  return !expansions.some((x) => isAtOrUnder(path, x.path) || isAtOrUnder(x.path, path));
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** `user:password@` anywhere in a message (a URL, or what was meant to be one) becomes `user:***@`. */
export function hidePasswordsInUrls(message: string): string {
  return message.replace(/([^\s/@:"]*):[^\s/@"]*@/g, '$1:***@');
}

export function formatIssue(issue: v.BaseIssue<unknown>, expansions: readonly Expansion[] = []): string {
  const path = issuePath(issue) || '(root)';
  // An empty or missing value reveals nothing.
  if (issue.input === '' || issue.input === undefined || mayShowValue(path, expansions)) return `${path}: ${issue.message}`;
  const got = issue.message.indexOf(', got ');
  const what = got < 0 ? 'an invalid value' : issue.message.slice(0, got);
  return `${path}: ${what}, got ${kindOf(issue.input)} (not shown: it may be a secret)`;
}
