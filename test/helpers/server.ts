/**
 * Test harness: a real sluice on 127.0.0.1 (free port) with a real SQLite file in a temp dir,
 * in this process (`startTestServer`) or as a child process of the built CLI (`spawnSluice`),
 * for the tests that kill, signal or restart it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { startSluice, type Running } from '../../src/main.js';

export const ADMIN_TOKEN = 'test-admin-token';
export const WEBHOOK_SECRET = 'test-webhook-secret';

export function tempDir(prefix = 'sluice-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface TestServer extends Running {
  dir: string;
  logs: string[];
  /** POST a JSON body to /webhooks/<source> with the default token. */
  send: (body: unknown, opts?: { source?: string; headers?: Record<string, string> }) => Promise<Response>;
  admin: (path: string, init?: { method?: string; body?: unknown }) => Promise<Response>;
  close: () => Promise<void>;
}

/** A policy with every limit off, for tests about durability and order rather than guardrails. */
export const NO_LIMITS = { max_orders_per_minute: null, max_order_notional: null, max_position_notional: { default: null }, max_gross_exposure: null, max_daily_loss: null };

/**
 * Writes the config of a durability test into `dir`: the `default` source with the test token,
 * no limits, no periodic position check, the spool in `dir`; `extra` sections win.
 */
export function durabilityConfig(dir: string, extra: Record<string, unknown> = {}): string {
  return writeConfig(dir, {
    sources: { default: { auth: { scheme: 'token', secrets: [WEBHOOK_SECRET] } } },
    policy: NO_LIMITS,
    degraded: { on_database_down: 'spool', spool_dir: join(dir, 'spool') },
    execution: { reconcile_interval_seconds: 3600 },
    ...extra,
  });
}

/** Writes `config` as YAML into `dir` and returns its path. */
export function writeConfig(dir: string, config: Record<string, unknown>): string {
  const path = join(dir, 'sluice.yaml');
  writeFileSync(path, stringify(config));
  return path;
}

export async function startTestServer(
  opts: { dir?: string; config?: Record<string, unknown>; env?: Record<string, string> } = {},
): Promise<TestServer> {
  const dir = opts.dir ?? tempDir();
  const logs: string[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(chunk.toString());
        cb();
      },
    }),
  );
  const env: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: `file:${join(dir, 'sluice.db')}`,
    SLUICE_ADMIN_TOKEN: ADMIN_TOKEN,
    SLUICE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    ...opts.env,
  };
  const configPath = opts.config === undefined ? undefined : writeConfig(dir, opts.config);
  const running = await startSluice({ env, logger, ...(configPath === undefined ? {} : { configPath }) });
  return {
    ...running,
    dir,
    logs,
    send: (body, o = {}) =>
      fetch(`${running.url}/webhooks/${o.source ?? 'default'}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${WEBHOOK_SECRET}`, 'content-type': 'application/json', ...o.headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    admin: (path, init = {}) =>
      fetch(`${running.url}/admin${path}`, {
        method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      }),
    close: () => running.shutdown('test'),
  };
}

/** Polls `fn` until it returns a value other than undefined (bounded; throws after `ms`). */
export async function eventually<T>(fn: () => Promise<T | undefined>, ms = 10_000, what = 'condition'): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface Child {
  proc: ChildProcess;
  url: string;
  output: string[];
  exited: Promise<number | null>;
}

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

/**
 * Starts the built CLI (`npm test` builds first) and resolves once it logged "sluice ready".
 * `wrap` turns its argv into the one actually spawned (a shell that limits it, say).
 */
export async function spawnSluice(opts: {
  dir: string;
  env?: Record<string, string>;
  configPath?: string;
  wrap?: (argv: string[]) => { command: string; args: string[] };
}): Promise<Child> {
  const argv = [process.execPath, CLI, 'start', ...(opts.configPath === undefined ? [] : ['--config', opts.configPath])];
  const { command, args } = opts.wrap?.(argv) ?? { command: process.execPath, args: argv.slice(1) };
  const proc = spawn(command, args, {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: `file:${join(opts.dir, 'sluice.db')}`,
      SLUICE_ADMIN_TOKEN: ADMIN_TOKEN,
      SLUICE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      LOG_LEVEL: 'info',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`sluice did not start:\n${output.join('')}`)), 20_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output.push(text);
      buffer += text;
      const match = buffer.match(/"url":"(http:\/\/[^"]+)"[^\n]*"msg":"sluice ready"/);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`sluice exited with ${code} before ready:\n${output.join('')}`));
    });
  });
  return { proc, url, output, exited };
}

export function adminFetch(url: string, path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  return fetch(`${url}/admin${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

export function sendTo(url: string, body: unknown, headers: Record<string, string> = {}, source = 'default'): Promise<Response> {
  return fetch(`${url}/webhooks/${source}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${WEBHOOK_SECRET}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** SIGKILLs a child that is still running and waits for it to exit. */
export async function killChild(child: Child | null): Promise<void> {
  if (child === null || child.proc.exitCode !== null) return;
  child.proc.kill('SIGKILL');
  await child.exited;
}
