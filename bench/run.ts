/**
 * `npm run bench` (docs/configuration.md#benchmark): sluice (SQLite, mock connector, a
 * standard-webhooks source) against a bare Hono server answering the same request (the
 * ceiling), over loopback with autocannon. Scenarios: unique signed signals; a duplicate storm
 * (one key, 50 connections); mixed 80 % unique / 20 % duplicate. Interleaved rounds; medians
 * and min–max. It prints figures and asserts nothing. `--soak` pushes 1 M unique signals and
 * reports RSS over time, bytes per signal and the start on the full database.
 *
 * Fair by construction (bench/procs.ts, bench/load.ts): each server runs pinned to core 0 and
 * this process (the load generator) to core 1; every request is signed before the clock starts.
 * sluice runs with the default log level (`info`); a second sluice at `warn` shows what the
 * default logs cost. For unique signals the sustained executed rate counts the signals the mock
 * executed from the start of the load until the queue is empty again, per second.
 *
 * `--postgres URL` also measures a third sluice, on PostgreSQL, in the same rounds (rows
 * `sluice (PostgreSQL)`): on a fresh database `sluice_bench_<hex>` created through URL (any
 * database there the user may connect to, with the right to create databases) and dropped at the
 * end. PostgreSQL's own processes are not pinned, and its figures include sluice's process only
 * (core used, peak RSS); the database size is `pg_database_size` after the run.
 *
 * Flags: --rounds N (3), --seconds S (10), --connections C (50), --postgres URL, --soak,
 * --soak-count N.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { load, pool, SECRET, type Figures, type Scenario } from './load.js';
import { createDatabase, type BenchDatabase } from './postgres.js';
import { ADMIN, cpuSeconds, databaseBytes, peakRssMb, PINNED, pinSelf, rssMb, startCeiling, startSluice, stop, type Proc } from './procs.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    soak: { type: 'boolean', default: false },
    'soak-count': { type: 'string', default: '1000000' },
    postgres: { type: 'string' },
  },
});
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) total += Number(line.split(' ').pop());
  return total;
}
const executed = (url: string) => metric(url, 'sluice_signals_total{status="executed"}');

async function queueDepth(url: string): Promise<number> {
  const s = (await (await fetch(`${url}/admin/status`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { queue: { accepted: number; executing: number } };
  return s.queue.accepted + s.queue.executing;
}

/** Waits until sluice's queue is empty (at most 10 minutes); returns when it was seen empty. */
async function drained(url: string): Promise<number> {
  for (let i = 0; i < 6000 && (await queueDepth(url)) > 0; i += 1) await new Promise((res) => setTimeout(res, 50));
  return performance.now();
}

interface Round extends Figures {
  /** Core used by the server while the load ran (CPU seconds / wall seconds). */
  core: number;
  /** Sustained executed rate, load + drain; and the rate while the load ran. */
  executedPerSec: number | null;
  executedDuringLoad: number | null;
  queueAfterLoad: number;
}

/** Requests to presign for one load: 1.5 × the last rate seen, at least 5,000/s. */
const poolSize = (last: number | undefined) => Math.ceil(Math.max(5000, (last ?? 40_000) * 1.5) * SECONDS);

async function measure(server: Proc, scenario: Scenario, last: number | undefined, isSluice: boolean): Promise<Round> {
  const requests = pool(scenario, poolSize(last));
  const before = isSluice ? await executed(server.url) : 0;
  const cpu0 = cpuSeconds(server);
  const t0 = performance.now();
  const f = await load(server.url, scenario, requests, { seconds: SECONDS, connections: scenario === 'duplicate storm' ? 50 : CONNECTIONS });
  const t1 = performance.now();
  const core = (cpuSeconds(server) - cpu0) / ((t1 - t0) / 1000);
  if (!isSluice) return { ...f, core, executedPerSec: null, executedDuringLoad: null, queueAfterLoad: 0 };
  const atLoadEnd = await executed(server.url);
  const queueAfterLoad = await queueDepth(server.url);
  const t2 = await drained(server.url);
  const after = await executed(server.url);
  const unique = scenario !== 'duplicate storm';
  return {
    ...f,
    core,
    executedPerSec: unique ? (after - before) / ((t2 - t0) / 1000) : null,
    executedDuringLoad: unique ? (atLoadEnd - before) / ((t1 - t0) / 1000) : null,
    queueAfterLoad,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const fmt = (xs: number[], digits = 0) => `${median(xs).toLocaleString('en-US', { maximumFractionDigits: digits })} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

function machine(postgres = false): string {
  return `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${PINNED ? 'servers pinned to core 0, load to core 1' : 'NOT pinned (needs taskset and 2 cores)'}${postgres ? ', PostgreSQL server unpinned' : ''}`;
}

/** `pg`: the fresh PostgreSQL database of `--postgres`, or null for SQLite only. */
async function bench(pg: BenchDatabase | null): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  console.log(`sluice benchmark — ${machine(pg !== null)}`);
  console.log(`${ROUNDS} interleaved rounds × ${SECONDS} s, ${CONNECTIONS} connections (duplicate storm: 50), requests signed before the clock starts\n`);
  const ceiling = await startCeiling();
  const info = await startSluice({ dir, secret: SECRET, logLevel: 'info', db: 'info.db' });
  const warn = await startSluice({ dir, secret: SECRET, logLevel: 'warn', db: 'warn.db' });
  const onPg = pg === null ? null : await startSluice({ dir, secret: SECRET, logLevel: 'info', databaseUrl: pg.url });
  // Migrated and empty: what the per-signal size below includes besides the signals.
  const emptyPgBytes = pg === null ? 0 : await pg.bytes();
  const servers = [
    { name: 'bare Hono (ceiling)', proc: ceiling, sluice: false, scenarios: ['unique', 'duplicate storm', 'mixed 80/20'] as Scenario[] },
    { name: 'sluice', proc: info, sluice: true, scenarios: ['unique', 'duplicate storm', 'mixed 80/20'] as Scenario[] },
    { name: 'sluice, LOG_LEVEL=warn', proc: warn, sluice: true, scenarios: ['unique'] as Scenario[] },
    ...(onPg === null ? [] : [{ name: 'sluice (PostgreSQL)', proc: onPg, sluice: true, scenarios: ['unique', 'duplicate storm', 'mixed 80/20'] as Scenario[] }]),
  ];
  const results = new Map<string, Round[]>();
  const key = (server: string, scenario: Scenario) => `${scenario}|${server}`;
  try {
    // Warm up (JIT, the first pages of the database).
    for (const s of servers) await load(s.proc.url, 'unique', pool('unique', 20_000), { seconds: 2, connections: CONNECTIONS });
    for (const s of servers.filter((x) => x.sluice)) await drained(s.proc.url);
    for (let r = 0; r < ROUNDS; r += 1) {
      for (const scenario of ['unique', 'duplicate storm', 'mixed 80/20'] as Scenario[]) {
        for (const s of servers.filter((x) => x.scenarios.includes(scenario))) {
          const rounds = results.get(key(s.name, scenario)) ?? [];
          rounds.push(await measure(s.proc, scenario, rounds[rounds.length - 1]?.rps, s.sluice));
          results.set(key(s.name, scenario), rounds);
        }
      }
    }
    const peak = peakRssMb(info);
    const signals = await metric(info.url, 'sluice_signals_total{status="accepted"}');
    await stop(info);
    const dbBytes = databaseBytes(dir, 'info.db');
    const again = await startSluice({ dir, secret: SECRET, logLevel: 'info', db: 'info.db' });
    await stop(again);
    let pgLine: string | null = null;
    if (pg !== null && onPg !== null) {
      const pgPeak = peakRssMb(onPg);
      const pgSignals = await metric(onPg.url, 'sluice_signals_total{status="accepted"}');
      await stop(onPg);
      const pgBytes = await pg.bytes();
      const pgAgain = await startSluice({ dir, secret: SECRET, logLevel: 'info', databaseUrl: pg.url });
      await stop(pgAgain);
      pgLine =
        `sluice (PostgreSQL) peak RSS: ${pgPeak.toFixed(0)} MB; database (pg_database_size): ${(pgBytes / 2 ** 20).toFixed(1)} MB for ${pgSignals} signals = ` +
        `${(pgBytes / Math.max(1, pgSignals)).toFixed(0)} bytes/signal (migrated and empty: ${(emptyPgBytes / 2 ** 20).toFixed(1)} MB); ` +
        `start to ready on that database: ${pgAgain.readyMs.toFixed(0)} ms (process spawn included)`;
    }

    console.log('| scenario | server | req/s | of ceiling | p50 / p99 ms | executed/s sustained (during load) | of ceiling | queue after load | core used | non-2xx |');
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (const scenario of ['unique', 'duplicate storm', 'mixed 80/20'] as Scenario[]) {
      const c = results.get(key('bare Hono (ceiling)', scenario)) ?? [];
      for (const s of servers.filter((x) => x.scenarios.includes(scenario))) {
        const rs = results.get(key(s.name, scenario)) ?? [];
        const ratio = (xs: number[]) => `${fmt(xs.map((x, i) => (100 * x) / (c[i]?.rps ?? 1)))} %`;
        const ex = rs.map((x) => x.executedPerSec).filter((x): x is number => x !== null);
        const exLoad = rs.map((x) => x.executedDuringLoad).filter((x): x is number => x !== null);
        console.log(
          `| ${scenario} | ${s.name} | ${fmt(rs.map((x) => x.rps))} | ${s.sluice ? ratio(rs.map((x) => x.rps)) : '100 %'} | ` +
            `${median(rs.map((x) => x.p50)).toFixed(1)} / ${median(rs.map((x) => x.p99)).toFixed(1)} | ` +
            `${ex.length > 0 ? `${fmt(ex)} (${fmt(exLoad)})` : '—'} | ${ex.length > 0 ? ratio(ex) : '—'} | ` +
            `${s.sluice ? Math.max(...rs.map((x) => x.queueAfterLoad)) : '—'} | ${median(rs.map((x) => x.core)).toFixed(2)} | ` +
            `${rs.reduce((n, x) => n + x.non2xx + x.errors, 0)}${rs.some((x) => x.signedLate > 0) ? ` (signed late: ${rs.reduce((n, x) => n + x.signedLate, 0)})` : ''} |`,
        );
      }
    }
    console.log('');
    console.log(`sluice peak RSS: ${peak.toFixed(0)} MB (warn: ${peakRssMb(warn).toFixed(0)} MB); ceiling: ${peakRssMb(ceiling).toFixed(0)} MB`);
    console.log(`database after a checkpoint: ${(dbBytes / 2 ** 20).toFixed(1)} MB for ${signals} signals = ${(dbBytes / Math.max(1, signals)).toFixed(0)} bytes/signal`);
    console.log(`start to ready on that database: ${again.readyMs.toFixed(0)} ms (process spawn included)`);
    if (pgLine !== null) console.log(`${pgLine}\nPostgreSQL's rows: core used and RSS are sluice's process only, not PostgreSQL's.`);
    console.log('\nOnly the ratios compare across machines; absolute figures depend on the machine.');
  } finally {
    await Promise.all([stop(info), stop(warn), stop(ceiling), ...(onPg === null ? [] : [stop(onPg)])]);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function soak(): Promise<void> {
  pinSelf();
  const total = Number(args['soak-count']);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-soak-'));
  const sluice = await startSluice({ dir, secret: SECRET, logLevel: 'info', db: 'soak.db' });
  const samples: Array<{ sent: number; rss: number }> = [{ sent: 0, rss: rssMb(sluice) }];
  let sent = 0;
  try {
    console.log(`soak — ${machine()}\n${total} unique signed signals, ${CONNECTIONS} connections, in chunks of 100,000 signed before each chunk`);
    const t0 = performance.now();
    const sampler = setInterval(() => samples.push({ sent, rss: rssMb(sluice) }), 1000);
    let non2xx = 0;
    for (let done = 0; done < total; ) {
      const n = Math.min(100_000, total - done);
      const f = await load(sluice.url, 'unique', pool('unique', n), { amount: n, connections: CONNECTIONS, onSent: () => (sent += 1) });
      non2xx += f.non2xx + f.errors;
      done += n;
    }
    const loadSeconds = (performance.now() - t0) / 1000;
    const seconds = ((await drained(sluice.url)) - t0) / 1000;
    clearInterval(sampler);
    const done = await executed(sluice.url);
    const at = (fraction: number) => samples.find((x) => x.sent >= total * fraction) ?? samples[samples.length - 1];
    const peak = peakRssMb(sluice);
    await stop(sluice);
    const dbBytes = databaseBytes(dir, 'soak.db');
    const again = await startSluice({ dir, secret: SECRET, logLevel: 'info', db: 'soak.db' });
    await stop(again);
    console.log(`sent ${sent} in ${loadSeconds.toFixed(0)} s (${(sent / loadSeconds).toFixed(0)} req/s), non-2xx ${non2xx}`);
    console.log(`executed ${done} in ${seconds.toFixed(0)} s: ${(done / seconds).toFixed(0)} executed/s sustained`);
    console.log(`RSS at start ${samples[0]?.rss.toFixed(0)} MB, 10 % ${at(0.1)?.rss.toFixed(0)} MB, 50 % ${at(0.5)?.rss.toFixed(0)} MB, end ${at(1)?.rss.toFixed(0)} MB; peak ${peak.toFixed(0)} MB`);
    console.log(`database after a checkpoint: ${(dbBytes / 2 ** 20).toFixed(0)} MB = ${(dbBytes / Math.max(1, done)).toFixed(0)} bytes/signal`);
    console.log(`start to ready on that database: ${again.readyMs.toFixed(0)} ms (process spawn included)`);
  } finally {
    await stop(sluice);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (args.soak) return soak();
  pinSelf();
  const pg = args.postgres === undefined ? null : await createDatabase(args.postgres);
  try {
    await bench(pg);
  } finally {
    await pg?.drop();
  }
}

await main();
