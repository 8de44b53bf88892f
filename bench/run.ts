/**
 * `npm run bench` (docs/configuration.md#benchmark): sluice (SQLite, mock connector, a standard-webhooks source)
 * against a bare Hono server answering the same request (the ceiling), over loopback with
 * autocannon. Scenarios: unique signed signals; a duplicate storm (one key, 50 connections);
 * mixed 80 % unique / 20 % duplicate. Several rounds; medians and min–max. It prints figures
 * and asserts nothing. `--soak` pushes 1 M unique signals and reports RSS and bytes per signal.
 *
 * Flags: --rounds N (3), --seconds S (6), --connections C (50), --soak, --soak-count N.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

/** Compiled to build/bench/ (tsconfig.bench.json); sluice itself runs from the shipped dist/. */
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const CEILING = fileURLToPath(new URL('./ceiling.js', import.meta.url));
const ADMIN = 'bench-admin-token';
const KEY = randomBytes(24);
const SECRET = `whsec_${KEY.toString('base64')}`;

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '6' },
    connections: { type: 'string', default: '50' },
    soak: { type: 'boolean', default: false },
    'soak-count': { type: 'string', default: '1000000' },
  },
});
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);

interface Proc {
  child: ChildProcess;
  url: string;
  output: string[];
}

function start(args: string[], env: Record<string, string>, ready: RegExp): Promise<Proc> {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`did not start: ${output.join('')}`)), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      if (output.length < 200) output.push(d.toString());
      const m = buf.match(ready);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve({ child, url: m[1], output });
        buf = '';
      }
      if (buf.length > 1e6) buf = buf.slice(-1e4);
    });
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${output.join('')}`)));
  });
}

async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null) return;
  const exited = new Promise((resolve) => p.child.once('exit', resolve));
  p.child.kill('SIGTERM');
  await exited;
}

/** Peak resident set of a process (Linux VmHWM), in MB. */
function peakRssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
    return m?.[1] === undefined ? 0 : Number(m[1]) / 1024;
  } catch {
    return 0;
  }
}
function rssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m?.[1] === undefined ? 0 : Number(m[1]) / 1024;
  } catch {
    return 0;
  }
}

let counter = 0;
function signal(id: string): string {
  return JSON.stringify({ id, action: 'buy', instrument: `BM${counter % 64}`, quantity: 1, price: 100 });
}
function signed(body: string, id: string): Record<string, string> {
  const ts = Math.floor(Date.now() / 1000);
  const sig = createHmac('sha256', KEY).update(`${id}.${ts}.${body}`).digest('base64');
  return { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${sig}` };
}

type Scenario = 'unique' | 'duplicate storm' | 'mixed 80/20';
const RUN = randomBytes(4).toString('hex');

function request(scenario: Scenario): { body: string; headers: Record<string, string> } {
  counter += 1;
  const duplicate = scenario === 'duplicate storm' || (scenario === 'mixed 80/20' && counter % 5 === 0);
  const id = duplicate ? `dup-${RUN}-${scenario === 'duplicate storm' ? 'storm' : 'mix'}` : `u-${RUN}-${counter}`;
  const body = duplicate ? JSON.stringify({ id, action: 'buy', instrument: 'DUP', quantity: 1, price: 100 }) : signal(id);
  return { body, headers: signed(body, id) };
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function load(url: string, scenario: Scenario, seconds: number, connections: number): Promise<Figures> {
  const result = await autocannon({
    url: `${url}/webhooks/bench`,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => {
          const { body, headers } = request(scenario);
          return { ...req, method: 'POST', body, headers };
        },
      },
    ],
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) total += Number(line.split(' ').pop());
  return total;
}

async function queueDepth(url: string): Promise<number> {
  const s = (await (await fetch(`${url}/admin/status`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { queue: { accepted: number; executing: number } };
  return s.queue.accepted + s.queue.executing;
}

function sluiceConfig(dir: string): string {
  const path = join(dir, 'bench.json');
  writeFileSync(
    path,
    JSON.stringify({
      sources: { bench: { auth: { scheme: 'standard-webhooks', secrets: [SECRET] } } },
      policy: {
        max_signal_age_seconds: null,
        max_orders_per_minute: null,
        max_order_notional: null,
        max_position_notional: { default: null },
        max_gross_exposure: null,
        max_daily_loss: null,
      },
      execution: { reconcile_interval_seconds: 3600 },
    }),
  );
  return path;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts sluice with warn-level logs (logging is not what is measured) and waits for /readyz. */
async function startSluice(dir: string): Promise<Proc & { readyMs: number }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(DIST, 'cli.js'), 'start', '--config', sluiceConfig(dir)], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), DATABASE_URL: `file:${join(dir, 'sluice.db')}`, SLUICE_ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 3000; i += 1) {
    if (child.exitCode !== null) throw new Error(`sluice exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { child, url, output: [], readyMs: performance.now() - t0 };
    } catch {
      // not listening yet
    }
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error('sluice did not become ready');
}

/** Bytes of the SQLite database and its WAL. */
function databaseBytes(dir: string): number {
  return ['sluice.db', 'sluice.db-wal'].reduce((sum, f) => {
    try {
      return sum + statSync(join(dir, f)).size;
    } catch {
      return sum;
    }
  }, 0);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const fmt = (xs: number[], digits = 0) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

async function bench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  console.log(`sluice benchmark — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  console.log(`${ROUNDS} rounds × ${SECONDS} s per scenario, ${CONNECTIONS} connections (duplicate storm: 50), loopback\n`);
  const ceiling = await start([CEILING], {}, /"url":"(http:\/\/[^"]+)"/);
  const sluice = await startSluice(dir);
  const scenarios: Scenario[] = ['unique', 'duplicate storm', 'mixed 80/20'];
  const rows: Array<{ scenario: Scenario; s: Figures[]; c: Figures[]; executedPerSec: number[]; queueEnd: number[] }> = [];
  try {
    // Warm both up (JIT, first pages of the database).
    await load(sluice.url, 'unique', 2, CONNECTIONS);
    await load(ceiling.url, 'unique', 2, CONNECTIONS);
    for (const scenario of scenarios) {
      const row = { scenario, s: [] as Figures[], c: [] as Figures[], executedPerSec: [] as number[], queueEnd: [] as number[] };
      const connections = scenario === 'duplicate storm' ? 50 : CONNECTIONS;
      for (let r = 0; r < ROUNDS; r += 1) {
        row.c.push(await load(ceiling.url, scenario, SECONDS, connections));
        const before = await metric(sluice.url, 'sluice_signals_total{status="executed"}');
        const t0 = performance.now();
        row.s.push(await load(sluice.url, scenario, SECONDS, connections));
        const after = await metric(sluice.url, 'sluice_signals_total{status="executed"}');
        row.executedPerSec.push((after - before) / ((performance.now() - t0) / 1000));
        row.queueEnd.push(await queueDepth(sluice.url));
        // Let the executor drain before the next round so rounds do not bleed into each other.
        for (let i = 0; i < 600 && (await queueDepth(sluice.url)) > 0; i += 1) await new Promise((res) => setTimeout(res, 100));
      }
      rows.push(row);
    }
    const peak = peakRssMb(sluice.child.pid);
    const signals = await metric(sluice.url, 'sluice_signals_total{status="accepted"}');
    await stop(sluice);
    const dbBytes = databaseBytes(dir);
    // Start to ready on the now existing database.
    const again = await startSluice(dir);
    const readyMs = again.readyMs;
    await stop(again);

    console.log('| scenario | sluice req/s | ceiling req/s | ratio | sluice p50 / p99 ms | ceiling p50 / p99 ms | executed/s | queue after | non-2xx |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const row of rows) {
      const ratio = row.s.map((f, i) => f.rps / (row.c[i]?.rps ?? 1));
      console.log(
        `| ${row.scenario} | ${fmt(row.s.map((f) => f.rps))} | ${fmt(row.c.map((f) => f.rps))} | ${fmt(ratio.map((x) => x * 100))} % | ` +
          `${median(row.s.map((f) => f.p50)).toFixed(1)} / ${median(row.s.map((f) => f.p99)).toFixed(1)} | ` +
          `${median(row.c.map((f) => f.p50)).toFixed(1)} / ${median(row.c.map((f) => f.p99)).toFixed(1)} | ` +
          `${row.scenario === 'duplicate storm' ? '—' : fmt(row.executedPerSec)} | ${Math.max(...row.queueEnd)} | ${row.s.reduce((n, f) => n + f.non2xx + f.errors, 0)} |`,
      );
    }
    console.log('');
    console.log(`sluice peak RSS: ${peak.toFixed(0)} MB`);
    console.log(`database: ${(dbBytes / 1024 / 1024).toFixed(1)} MB for ${signals} signals = ${(dbBytes / Math.max(1, signals)).toFixed(0)} bytes/signal`);
    console.log(`start to ready on an existing database: ${readyMs.toFixed(0)} ms (process spawn included)`);
    console.log('\nOnly the ratios compare across machines; absolute figures depend on the machine.');
  } finally {
    await stop(sluice);
    await stop(ceiling);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function soak(): Promise<void> {
  const total = Number(args['soak-count']);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-soak-'));
  const sluice = await startSluice(dir);
  const samples: Array<{ sent: number; rss: number }> = [];
  let sent = 0;
  try {
    console.log(`soak: ${total} unique signed signals, ${CONNECTIONS} connections`);
    const t0 = performance.now();
    samples.push({ sent: 0, rss: rssMb(sluice.child.pid) });
    const sampler = setInterval(() => samples.push({ sent, rss: rssMb(sluice.child.pid) }), 1000);
    const result = await autocannon({
      url: `${sluice.url}/webhooks/bench`,
      connections: CONNECTIONS,
      amount: total,
      requests: [
        {
          method: 'POST',
          setupRequest: (req) => {
            sent += 1;
            return { ...req, method: 'POST', ...request('unique') };
          },
        },
      ],
    });
    clearInterval(sampler);
    for (let i = 0; i < 3000 && (await queueDepth(sluice.url)) > 0; i += 1) await new Promise((res) => setTimeout(res, 100));
    const seconds = (performance.now() - t0) / 1000;
    const executed = await metric(sluice.url, 'sluice_signals_total{status="executed"}');
    const at = (fraction: number) => samples.find((x) => x.sent >= total * fraction) ?? samples[samples.length - 1];
    await stop(sluice);
    const dbBytes = databaseBytes(dir);
    console.log(`sent ${result.requests.total} (${result.requests.average.toFixed(0)} req/s average), non-2xx ${result.non2xx}, errors ${result.errors}`);
    console.log(`executed ${executed} in ${seconds.toFixed(0)} s: ${(executed / seconds).toFixed(0)} executed/s`);
    console.log(`RSS at start ${samples[0]?.rss.toFixed(0)} MB, middle ${at(0.5)?.rss.toFixed(0)} MB, end ${at(1)?.rss.toFixed(0)} MB; peak ${Math.max(...samples.map((x) => x.rss)).toFixed(0)} MB`);
    console.log(`database: ${(dbBytes / 2 ** 20).toFixed(0)} MB = ${(dbBytes / Math.max(1, executed)).toFixed(0)} bytes/signal`);
  } finally {
    await stop(sluice);
    rmSync(dir, { recursive: true, force: true });
  }
}

await (args.soak ? soak() : bench());
