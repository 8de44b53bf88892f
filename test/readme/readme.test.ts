/**
 * Every example in README.md runs as written, against a real sluice started the way the README
 * starts it, so that the README cannot drift from what sluice does. The README is read here,
 * block by block, in order:
 *
 * - a ```sh block holding `npm start` (re)starts sluice with the variables and arguments it names
 *   (`npm ci` is what the harness already did; the port is a free one instead of 8080);
 * - any other ```sh block runs through bash in a scratch directory, with 127.0.0.1:8080 pointed at
 *   that sluice and `sig_…` replaced by the last signal id answered (as the README tells the
 *   reader); every curl in it must answer 2xx unless the block documents another status, and
 *   each documented `# HTTP/1.1 NNN`, `"status":"…"` and `# Header:` line must show in its output;
 * - `<!-- file: NAME -->` saves the next block as NAME for the commands after it;
 * - `<!-- check: config -->` loads the next block as a config file (every ${VAR} set);
 * - `<!-- tradingview-alert: SOURCE -->` renders the alert's {{placeholders}} as TradingView does
 *   and posts it to that source;
 * - `<!-- not-run: reason -->` leaves the next block out, as a skipped test naming the reason.
 *
 * Any other block fails the test: nothing is left out silently.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { startTestServer, tempDir } from '../helpers/server.js';

const ROOT = join(import.meta.dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const HAS_TOOLS = ['bash', 'curl'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);

interface Block {
  line: number;
  lang: string;
  content: string;
  marker: { kind: string; arg: string } | null;
}

/** Fenced blocks with the `<!-- kind: arg -->` comment on the line before the fence, if any. */
function readBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const open = /^```(\S*)\s*$/.exec(lines[i] ?? '');
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i += 1; i < lines.length && lines[i] !== '```'; i += 1) body.push(lines[i] ?? '');
    const markerLine = /^<!--\s*([a-z-]+):?\s*(.*?)\s*-->$/.exec(lines[start - 1] ?? '');
    blocks.push({ line: start + 1, lang: open[1] ?? '', content: body.join('\n'), marker: markerLine === null ? null : { kind: markerLine[1] ?? '', arg: markerLine[2] ?? '' } });
  }
  return blocks;
}

const blocks = readBlocks(README);
const work = tempDir('sluice-readme-');
const shims = join(work, '.shims');
mkdirSync(shims);
// curl as written, plus one line with the status of every transfer (stripped before matching).
writeFileSync(join(shims, 'curl'), `#!/bin/sh\nexec "${spawnSync('sh', ['-c', 'command -v curl']).stdout.toString().trim() || '/usr/bin/curl'}" "$@" -w '\\n[[curl %{http_code}]]\\n'\n`);
// `npx sluice …` in this repository runs its bin, as npx does after `npm ci`.
writeFileSync(join(shims, 'npx'), `#!/bin/sh\nif [ "$1" = sluice ]; then shift; exec "${process.execPath}" "${join(ROOT, 'bin', 'sluice.js')}" "$@"; fi\necho "README test: only npx sluice is known here" >&2; exit 127\n`);
chmodSync(join(shims, 'curl'), 0o755);
chmodSync(join(shims, 'npx'), 0o755);

let server: { proc: ChildProcess; url: string; port: number; output: string[]; adminToken: string | null } | null = null;
let lastSignalId: string | null = null;

async function stopServer(): Promise<void> {
  if (server === null) return;
  const { proc } = server;
  server = null;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  await exited;
}

async function startServer(env: Record<string, string>, args: string[]): Promise<void> {
  await stopServer();
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'sluice.js'), 'start', ...args], {
    cwd: work,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sluice did not start:\n${output.join('')}`)), 30_000);
    proc.stdout?.on('data', (chunk: Buffer) => {
      output.push(chunk.toString());
      const match = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"sluice ready"/.exec(output.join(''));
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    proc.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sluice exited with ${code} before ready:\n${output.join('')}`));
    });
  });
  server = { proc, url, port: Number(new URL(url).port), output, adminToken: env.SLUICE_ADMIN_TOKEN ?? null };
}

afterAll(async () => {
  await stopServer();
});

/** `A=1 B=2 npm start -- --config x` → its variables and arguments; null for another command. */
function parseStart(command: string): { env: Record<string, string>; args: string[] } | null {
  const match = /^((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)npm start(?:\s+--\s+(.*))?$/.exec(command.trim());
  if (match === null) return null;
  const env = Object.fromEntries((match[1] ?? '').trim().split(/\s+/).filter((x) => x !== '').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return { env, args: (match[2] ?? '').split(/\s+/).filter((x) => x !== '') };
}

const commandsOf = (content: string): string[] =>
  content
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));

interface Expectations {
  statuses: number[];
  words: string[];
  headers: string[];
}

function expectationsOf(content: string): Expectations {
  const comments = content.split('\n').filter((l) => l.trim().startsWith('#'));
  return {
    statuses: comments.flatMap((l) => [...l.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]))),
    words: comments.flatMap((l) => [...l.matchAll(/"status":"([a-z_]+)"/g)].map((m) => m[1] ?? '')),
    headers: comments.flatMap((l) => (/^#\s*([A-Za-z][A-Za-z-]*): /.exec(l.trim()) === null ? [] : [/^#\s*([A-Za-z][A-Za-z-]*): /.exec(l.trim())?.[1] ?? ''])),
  };
}

/**
 * A GET, tried again when the connection drops: between two README blocks the pooled keep-alive
 * connection may be closed by the server just as it is reused (a GET can safely be resent).
 */
async function getJson(url: string, token: string): Promise<unknown> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).json();
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

/**
 * A signal the README sends is meant to execute (a 202 alone would hide a stale timestamp or a
 * refused order): its final status must be `executed`.
 */
async function expectExecuted(signalIds: string[], where: string): Promise<void> {
  if (server === null || server.adminToken === null) throw new Error(`${where}: signals sent without an admin token to check them`);
  const { url, adminToken } = server;
  for (const id of signalIds) {
    let detail: { status?: string; decision?: unknown } = {};
    for (let i = 0; i < 100; i += 1) {
      detail = (await getJson(`${url}/admin/signals/${id}`, adminToken)) as typeof detail;
      if (detail.status === 'executed' || detail.status === 'rejected' || detail.status === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(detail.status, `${where}: signal ${id} ${JSON.stringify(detail.decision)}`).toBe('executed');
  }
}

/**
 * Runs a README block in bash. Asynchronously: a blocked event loop would keep the test's own
 * keep-alive sockets from seeing the server close them, and the next fetch would use a dead one.
 */
async function runShell(script: string): Promise<{ code: number | null; out: string; curls: number[] }> {
  const result = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd: work, env: { PATH: `${shims}:${process.env.PATH ?? ''}` }, timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  const raw = `${result.stdout}${result.stderr}`;
  const curls = [...raw.matchAll(/\[\[curl (\d{3})\]\]/g)].map((m) => Number(m[1]));
  const out = raw.replace(/\n?\[\[curl \d{3}\]\]\n?/g, '\n');
  const ids = [...out.matchAll(/"signal_id":"(sig_[0-9a-f]+)"/g)];
  if (ids.length > 0) lastSignalId = ids.at(-1)?.[1] ?? lastSignalId;
  return { code: result.status, out, curls };
}

function checkOutcome(ran: { code: number | null; out: string; curls: number[] }, want: Expectations): string[] {
  const problems: string[] = [];
  if (ran.code !== 0) problems.push(`bash exited ${ran.code}`);
  if (want.statuses.some((s) => s < 200 || s > 299)) {
    if (JSON.stringify(ran.curls) !== JSON.stringify(want.statuses)) problems.push(`curl statuses ${JSON.stringify(ran.curls)}, documented ${JSON.stringify(want.statuses)}`);
  } else if (ran.curls.some((s) => s < 200 || s > 299)) {
    problems.push(`a curl answered ${JSON.stringify(ran.curls)}`);
  }
  for (const s of want.statuses) if (!ran.out.includes(`HTTP/1.1 ${s}`)) problems.push(`no "HTTP/1.1 ${s}"`);
  for (const w of want.words) if (!ran.out.includes(`"status":"${w}"`)) problems.push(`no "status":"${w}"`);
  for (const h of want.headers) if (!new RegExp(`^${h}: `, 'm').test(ran.out)) problems.push(`no "${h}:" line`);
  return problems;
}

async function runShellBlock(block: Block): Promise<void> {
  const commands = commandsOf(block.content);
  const starts = commands.map(parseStart);
  if (starts.some((s) => s !== null)) {
    for (const [i, command] of commands.entries()) {
      if (command.trim() === 'npm ci') continue; // the harness is that install
      const start = starts[i];
      if (start === null || start === undefined) throw new Error(`README:${block.line}: a block that starts sluice may only hold npm ci / npm start, got ${JSON.stringify(command)}`);
      await startServer(start.env, start.args);
    }
    return;
  }
  if (server === null) throw new Error(`README:${block.line}: a command before any npm start`);
  const port = server.port;
  const script = block.content.replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`).replaceAll('sig_…', lastSignalId ?? 'sig_none');
  const want = expectationsOf(block.content);
  // Reads may be retried while the signal executes; a block that sends runs once.
  const readOnly = !/(^|\s)(-d|--data\S*|-X|--request)\s/m.test(block.content);
  for (let attempt = 1; ; attempt += 1) {
    const ran = await runShell(script);
    const problems = checkOutcome(ran, want);
    if (problems.length === 0) {
      await expectExecuted([...new Set([...ran.out.matchAll(/"signal_id":"(sig_[0-9a-f]+)"/g)].map((m) => m[1] ?? ''))], `README:${block.line}`);
      return;
    }
    if (!readOnly || attempt >= 40) {
      throw new Error(`README:${block.line}: ${problems.join('; ')}\n--- output ---\n${ran.out}\n--- sluice ---\n${server?.output.join('').slice(-3000) ?? ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One POST as TradingView sends it (text/plain) on a connection of its own: never a pooled one the server may just have closed. */
function postOnce(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

/** TradingView's rendering of the alert's placeholders (https://www.tradingview.com/support/solutions/43000531021). */
function renderAlert(template: string): string {
  const values: Record<string, string> = {
    ticker: 'AAPL',
    'strategy.order.action': 'buy',
    'strategy.order.contracts': '1',
    'strategy.position_size': '1',
    'strategy.market_position': 'long',
    close: '150.25',
    timenow: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'strategy.order.id': 'Entry', // not the curl example's "Long": both are sent within one second
  };
  return template.replace(/\{\{([^}]+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`the alert uses a placeholder this test does not render: {{${name}}}`);
    return value;
  });
}

describe.skipIf(!HAS_TOOLS)('README.md examples, in order', () => {
  test('the README has examples, and every block is run or marked', () => {
    expect(blocks.filter((b) => b.marker === null && (b.lang === 'sh' || b.lang === 'bash')).length).toBeGreaterThan(5);
    const unrunnable = blocks.filter((b) => b.marker === null && b.lang !== 'sh' && b.lang !== 'bash');
    expect(unrunnable.map((b) => `README:${b.line} (${b.lang || 'no language'})`), 'blocks neither run nor marked <!-- not-run: reason -->').toEqual([]);
    const kinds = new Set(['not-run', 'file', 'check', 'tradingview-alert']);
    expect(blocks.filter((b) => b.marker !== null && !kinds.has(b.marker.kind)).map((b) => `README:${b.line} ${b.marker?.kind ?? ''}`)).toEqual([]);
    expect(blocks.filter((b) => b.marker?.kind === 'not-run' && b.marker.arg === '').map((b) => `README:${b.line}`), 'not-run without a reason').toEqual([]);
  });

  for (const block of blocks) {
    const first = block.content.split('\n').find((l) => l.trim() !== '') ?? '';
    const name = `README:${block.line} ${first.slice(0, 70)}`;
    switch (block.marker?.kind) {
      case 'not-run':
        test.skip(`${name} — not run: ${block.marker.arg}`, () => undefined);
        break;
      case 'file':
        test(`${name} — saved as ${block.marker.arg}`, () => {
          const path = join(work, block.marker?.arg ?? '');
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(path, `${block.content}\n`);
        });
        break;
      case 'check':
        test(`${name} — loads as a config file`, () => {
          const path = join(work, `check-${block.line}.yaml`);
          writeFileSync(path, block.content);
          const names = [...block.content.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1] ?? '');
          const env = Object.fromEntries(names.map((n) => [n, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']));
          expect(() => loadConfig(env, { configPath: path })).not.toThrow();
        });
        break;
      case 'tradingview-alert':
        test(`${name} — rendered as TradingView does and sent to /webhooks/${block.marker.arg}`, async () => {
          if (server === null) throw new Error('no sluice running');
          const res = await postOnce(`${server.url}/webhooks/${block.marker?.arg ?? ''}`, renderAlert(block.content));
          const body = JSON.parse(res.text) as { status?: string; signal_id?: string };
          expect({ http: res.status, status: body.status }, res.text).toEqual({ http: 202, status: 'accepted' });
          await expectExecuted([body.signal_id ?? ''], `README:${block.line}`);
        });
        break;
      default:
        if (block.lang === 'sh' || block.lang === 'bash') test(`${name} — runs`, () => runShellBlock(block), 60_000);
    }
  }

  test("the README's module connector template executes orders and keeps the position book", async () => {
    const path = join(work, 'connectors', 'my-broker.js');
    expect(existsSync(path), 'the README saves connectors/my-broker.js').toBe(true);
    const s = await startTestServer({
      config: {
        sources: { default: { auth: { scheme: 'token', secrets: ['test-webhook-secret'] }, connector: 'custom' } },
        connectors: { custom: { type: 'module', path } },
        execution: { reconcile_interval_seconds: 0.05 },
      },
    });
    try {
      const res = await s.send({ id: 'readme-module-1', action: 'buy', instrument: 'AAPL', quantity: 3, price: 150 }, { headers: { prefer: 'wait=10' } });
      expect(((await res.json()) as { status: string }).status).toBe('executed');
      // Several position checks later, sluice's book still holds the fill.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const book = (await (await s.admin('/positions')).json()) as { connectors: Record<string, { positions: Array<{ instrument: string; quantity: number }> }> };
      expect(book.connectors.custom?.positions).toEqual([expect.objectContaining({ instrument: 'AAPL', quantity: 3 })]);
    } finally {
      await s.close();
    }
  });
});

test.skipIf(HAS_TOOLS)('README.md examples — SKIPPED: bash or curl is not installed (apt-get install bash curl)', () => undefined);
