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

export type Env = Record<string, string | undefined>;

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
  const expanded = expandVars(raw, env, '');
  const problems: string[] = [];

  const merged = applyEnv(expanded, env, problems);
  const production = env.NODE_ENV === 'production';
  const adminTokenSet = env.SLUICE_ADMIN_TOKEN !== undefined && env.SLUICE_ADMIN_TOKEN !== '';
  // Environment problems are listed after the file's.
  const envProblems: string[] = [];
  if (production && !adminTokenSet) envProblems.push('SLUICE_ADMIN_TOKEN: expected a token when NODE_ENV=production, got nothing');
  const testMode = env.SLUICE_TEST_MODE ?? '0';
  if (testMode !== '0' && testMode !== '1') envProblems.push(`SLUICE_TEST_MODE: expected 0 or 1, got ${JSON.stringify(testMode)}`);

  const parsed = v.safeParse(configSchema, merged);
  if (!parsed.success) {
    // Every problem at once: the file's and the environment's.
    throw new ConfigError([...problems, ...parsed.issues.map(formatIssue), ...envProblems]);
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
    file.connectors.mock = { type: 'mock', latency_ms: 0, failure_rate: 0, timeout_rate: 0 };
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
    }
  }

  let adminToken = env.SLUICE_ADMIN_TOKEN;
  if (adminToken === undefined || adminToken === '') {
    adminToken = `adm_${randomBytes(24).toString('base64url')}`;
    generated.admin_token = adminToken;
  }
  problems.push(...envProblems);
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    ...file,
    admin_token: adminToken,
    read_token: env.SLUICE_READ_TOKEN === undefined || env.SLUICE_READ_TOKEN === '' ? null : env.SLUICE_READ_TOKEN,
    test_mode: testMode === '1',
    log_level: env.LOG_LEVEL ?? 'info',
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

/** Replaces `${VAR}` in every string with the environment's value (empty when unset). */
export function expandVars(value: unknown, env: Env, path: string): unknown {
  if (typeof value === 'string') return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => env[name] ?? '');
  if (Array.isArray(value)) return value.map((item, i) => expandVars(item, env, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, item]) => [k, expandVars(item, env, path ? `${path}.${k}` : k)]));
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

function formatIssue(issue: v.BaseIssue<unknown>): string {
  const path = v.getDotPath(issue) ?? '(root)';
  if (issue.type === 'strict_object' && issue.expected === 'never') return `${path}: unknown key`;
  return `${path}: ${issue.message}`;
}
