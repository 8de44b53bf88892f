/**
 * The single executable (README "Single executable"): `node bin/package.js` builds it, and the
 * file alone, copied into an empty directory and run with a PATH where no `node` exists, does
 * what `sluice` does: --version, migrate (SQLite; PostgreSQL when SLUICE_TEST_POSTGRES_URL is
 * set), start with the default config (a signal executed by the mock, the dashboard and one of
 * its assets), audit verify and replay, and a start with a config file whose connector is an ES
 * module beside it and whose source checks Standard Webhooks signatures made by `sluice sign`.
 * Its assets are extracted once into a private folder under TMPDIR, reused, and repaired when
 * damaged.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import postgres from 'postgres';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestDatabase, POSTGRES_URL } from '../helpers/postgres.js';
import { eventually, tempDir } from '../helpers/server.js';

const ROOT = join(import.meta.dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const ADMIN = 'pkg-admin-token';
const TOKEN = 'pkg-webhook-token';
const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

let build = '';
let dir = '';
let exe = '';
const children: ChildProcess[] = [];

/** The executable's environment: no node on PATH, HOME and TMPDIR inside the directory. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: '/nonexistent', HOME: dir, TMPDIR: join(dir, 'tmp'), SLUICE_ADMIN_TOKEN: ADMIN, SLUICE_WEBHOOK_SECRET: TOKEN, ...extra };
}

function run(args: string[], extra: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(exe, args, { cwd: dir, env: env(extra), encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `sluice start` in the directory; resolves with its URL once its log says ready. */
async function start(extra: Record<string, string> = {}): Promise<{ url: string; proc: ChildProcess; exited: Promise<number | null> }> {
  const proc = spawn(exe, ['start'], { cwd: dir, env: env({ PORT: '0', ...extra }), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let out = '';
  proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const ready = /"url":"(http:\/\/[^"]+)".*"msg":"sluice ready"/.exec(out);
      if (ready?.[1] !== undefined) resolve(ready[1]);
    });
    void exited.then((code) => reject(new Error(`sluice start exited ${code} before it was ready:\n${out}`)));
  });
  return { url, proc, exited };
}

const admin = (url: string, path: string) => fetch(`${url}/admin${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });

async function executed(url: string, signalId: string): Promise<{ status: string; result: { connector: string; status: string; order_id: string } }> {
  return eventually(async () => {
    const res = await admin(url, `/signals/${signalId}`);
    const body = (await res.json()) as { status: string; result: { connector: string; status: string; order_id: string } };
    return body.status === 'executed' ? body : undefined;
  }, 20_000, `${signalId} executed`);
}

function extractionFolders(): string[] {
  return readdirSync(join(dir, 'tmp')).filter((name) => name.startsWith(`sluice-${VERSION}-`));
}

beforeAll(() => {
  build = tempDir('sluice-package-build-');
  const built = spawnSync(process.execPath, [join(ROOT, 'bin', 'package.js'), '--out', join(build, 'sluice')], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  expect(built.stderr).toBe('');
  expect(built.status).toBe(0);
  expect(built.stdout).toMatch(/sluice: sluice \d+\.\d+\.\d+, [\d.]+ MiB, built in/);
  // The file alone in an empty directory.
  dir = tempDir('sluice-package-run-');
  exe = join(dir, 'sluice');
  copyFileSync(join(build, 'sluice'), exe);
  mkdirSync(join(dir, 'tmp'), { recursive: true });
}, 600_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  // Two copies of a ~100 MB file: not left in the temp directory.
  for (const path of [build, dir]) if (path !== '') rmSync(path, { recursive: true, force: true });
});

describe('dist/sluice, alone, without Node.js', () => {
  test('no node on its PATH; --version and --help answer from the file itself, with no warning', () => {
    expect(spawnSync('/bin/sh', ['-c', 'command -v node'], { env: env() }).status).not.toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['sluice', 'tmp']);
    expect(run(['--version'])).toEqual({ code: 0, stdout: `sluice ${VERSION}\n`, stderr: '' });
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('sluice start [--config FILE]');
    expect(help.stderr).toBe('');
  });

  test('migrate applies every SQLite migration it carries; the assets go to one private folder, reused, and a damaged addon is replaced', () => {
    expect(run(['migrate'])).toEqual({ code: 0, stdout: 'migrations applied\n', stderr: '' });
    const journal = JSON.parse(readFileSync(join(ROOT, 'drizzle', 'sqlite', 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
    const db = new Database(join(dir, 'data', 'sluice.db'), { readonly: true });
    try {
      expect((db.prepare('select count(*) as n from __drizzle_migrations').get() as { n: number }).n).toBe(journal.entries.length);
    } finally {
      db.close();
    }

    const [folder, ...others] = extractionFolders();
    expect(others).toEqual([]);
    if (folder === undefined) throw new Error('no extraction folder');
    const root = join(dir, 'tmp', folder);
    expect(statSync(root).mode & 0o777).toBe(0o700);
    const addon = join(root, 'better_sqlite3.node');
    const original = readFileSync(addon);
    const builtAddon = readFileSync(join(ROOT, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'));
    expect(createHash('sha256').update(original).digest('hex')).toBe(createHash('sha256').update(builtAddon).digest('hex'));
    const firstWrite = statSync(addon).mtimeMs;

    // A second run reuses the folder as it is.
    expect(run(['migrate']).code).toBe(0);
    expect(extractionFolders()).toEqual([folder]);
    expect(statSync(addon).mtimeMs).toBe(firstWrite);

    // A damaged addon would not load: the next run sees the hash differ and extracts anew.
    writeFileSync(addon, 'not a shared object');
    expect(run(['migrate'])).toEqual({ code: 0, stdout: 'migrations applied\n', stderr: '' });
    expect(readFileSync(join(dir, 'tmp', folder, 'better_sqlite3.node')).equals(original)).toBe(true);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([folder]);
  });

  test('a TMPDIR it cannot write to is named, with the fix', () => {
    const refused = run(['migrate'], { TMPDIR: join(dir, 'missing') });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`cannot write the executable's SQLite addon and migrations under ${join(dir, 'missing')}`);
    expect(refused.stderr).toContain('set TMPDIR to a writable directory');
  });

  test('start with the default config: a signal from the default source is executed by the mock; the dashboard and its assets are served; audit verify is ok and replay finds the signal', async () => {
    const { url, proc, exited } = await start();
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const res = await fetch(`${url}/webhooks/default`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'pkg-1', action: 'buy', instrument: 'AAPL', quantity: 10, price: 150.25 }),
    });
    expect(res.status).toBe(202);
    const { signal_id } = (await res.json()) as { signal_id: string };
    const signal = await executed(url, signal_id);
    expect(signal.result).toMatchObject({ connector: 'mock', status: 'filled' });

    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const css = /href="(\/assets\/[0-9a-f]{8}\/app\.css)"/.exec(html)?.[1];
    if (css === undefined) throw new Error(`no stylesheet link in the page:\n${html}`);
    const asset = await fetch(`${url}${css}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(Buffer.from(await asset.arrayBuffer()).equals(readFileSync(join(ROOT, 'src', 'dashboard', 'app.css')))).toBe(true);

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    const audit = run(['audit', 'verify']);
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(/^ok \d+ entries, head [0-9a-f]+\n$/);
    const day = 24 * 3600 * 1000;
    const replay = run(['replay', '--from', new Date(Date.now() - day).toISOString(), '--to', new Date(Date.now() + day).toISOString(), '--json']);
    expect(replay.code).toBe(0);
    const report = JSON.parse(replay.stdout) as { signals: number; rows: Array<{ signal_id: string; current: { allowed: boolean } }> };
    expect(report.signals).toBe(1);
    expect(report.rows[0]).toMatchObject({ signal_id, current: { allowed: true } });
  }, 60_000);

  test('a config file with a module connector beside the file and a standard-webhooks source: `sluice sign` headers are accepted and the module places the order', async () => {
    writeFileSync(
      join(dir, 'my-broker.mjs'),
      `export default function create() {
        const orders = new Map();
        return {
          capabilities: { order_types: ['market', 'limit'], brackets: false, fractional: false, short: true, lookup: true, positions: false },
          async place(o) {
            const placed = { client_order_id: o.client_order_id, order_id: 'my-' + (orders.size + 1), instrument: o.instrument, side: o.side, quantity: o.quantity,
              order_type: o.order_type, limit_price: o.limit_price ?? null, status: 'filled', filled_quantity: o.quantity, fill_price: o.reference_price ?? null };
            orders.set(o.client_order_id, placed);
            return { ok: true, value: placed };
          },
          async cancel() { return { ok: true, value: { cancelled: 0 } }; },
          async getOrder(id) { return { ok: true, value: orders.get(id) ?? null }; },
        };
      }\n`,
    );
    writeFileSync(
      join(dir, 'sluice.yaml'),
      `sources:\n  internal:\n    auth: { scheme: standard-webhooks, secrets: ["${WHSEC}"] }\n    connector: custom\nconnectors:\n  custom: { type: module, path: ./my-broker.mjs }\n`,
    );
    const body = JSON.stringify({ id: 'pkg-sw-1', action: 'buy', instrument: 'MSFT', quantity: 2, price: 400 });
    writeFileSync(join(dir, 'signal.json'), body);
    const signed = run(['sign', '--scheme', 'standard-webhooks', '--secret', WHSEC, '--body', 'signal.json']);
    expect(signed.code).toBe(0);
    expect(signed.stderr).toBe('');
    const headers = Object.fromEntries(
      signed.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(': ') as [string, string]),
    );
    expect(Object.keys(headers)).toEqual(['webhook-id', 'webhook-timestamp', 'webhook-signature']);
    // What the executable signed verifies with the Standard Webhooks reference library.
    expect(() => new Webhook(WHSEC).verify(body, headers)).not.toThrow();

    const { url, proc, exited } = await start({ SLUICE_CONFIG: 'sluice.yaml' });
    const res = await fetch(`${url}/webhooks/internal`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
    expect(res.status).toBe(202);
    const { signal_id } = (await res.json()) as { signal_id: string };
    const signal = await executed(url, signal_id);
    expect(signal.result).toMatchObject({ connector: 'custom', status: 'filled', order_id: 'my-1' });
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);

  describe.skipIf(POSTGRES_URL === undefined)('PostgreSQL (SLUICE_TEST_POSTGRES_URL)', () => {
    test('migrate applies every PostgreSQL migration it carries', async () => {
      const database = await createTestDatabase('sluice_pkg');
      try {
        expect(run(['migrate'], { DATABASE_URL: database.url })).toEqual({ code: 0, stdout: 'migrations applied\n', stderr: '' });
        const journal = JSON.parse(readFileSync(join(ROOT, 'drizzle', 'postgres', 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
        const sql = postgres(database.url, { max: 1, onnotice: () => undefined });
        try {
          const [row] = await sql<Array<{ n: number }>>`select count(*)::int as n from drizzle.__drizzle_migrations`;
          expect(row?.n).toBe(journal.entries.length);
          const [signals] = await sql<Array<{ n: number }>>`select count(*)::int as n from signals`;
          expect(signals?.n).toBe(0);
        } finally {
          await sql.end();
        }
      } finally {
        await database.drop();
      }
    });
  });
});
