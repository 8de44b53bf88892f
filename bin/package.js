#!/usr/bin/env node
/**
 * `npm run package`: builds dist/sluice, sluice as one executable file (README "Single
 * executable", ARCHITECTURE.md "The single executable"). Node's single executable applications:
 *   1. esbuild bundles src/cli.ts and every dependency into one CommonJS file (Node 20's SEA
 *      main script must be one CommonJS script);
 *   2. the assets: the dashboard's files, both dialects' migrations, better-sqlite3's addon, and
 *      manifest.json naming each with its sha256 and the version (src/lib/embedded.ts reads them);
 *   3. `node --experimental-sea-config` writes the blob; a copy of this Node.js binary gets it
 *      injected by postject.
 * The result runs without Node.js or node_modules on Linux of the architecture of the Node.js
 * that runs this script (x86_64 where it is tested). It reads src/, never dist/: `npm run build` (which empties dist/,
 * dist/sluice included) and this do not depend on each other; package after building.
 *
 *   node bin/package.js [--out PATH]     (default dist/sluice)
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(ROOT, 'package.json'));
/** The fuse the official Node.js binaries carry; postject flips it to say a blob is inside. */
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

class PackageError extends Error {}

function fail(message) {
  throw new PackageError(message);
}

/** Every file under `dir`, as `/`-separated paths relative to it. */
function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath ?? entry.path, entry.name)).split('\\').join('/'))
    .sort();
}

/** What this Node.js must be for the result to work: Linux, SEA-capable, able to load the addon. */
function checkToolchain() {
  // Other systems need more steps (macOS: signing; Windows: another fuse handling): not done here.
  if (process.platform !== 'linux') fail(`the single executable is built on and for Linux; this Node.js is ${process.platform}/${process.arch}`);
  if (!readFileSync(process.execPath).includes(FUSE)) {
    fail(`${process.execPath} (Node.js ${process.version}) has no single-executable support (no ${FUSE} in it): build with an official Node.js binary`);
  }
  // The addon in node_modules is what goes in: it must be built for this Node.js (its ABI).
  try {
    const Database = require('better-sqlite3');
    new Database(':memory:').close();
  } catch (err) {
    fail(`better-sqlite3 does not load in this Node.js ${process.version} (${err.message}): run \`npm rebuild better-sqlite3\` or \`npm ci\` with it`);
  }
}

/** name → source file of every asset; the manifest is added by the caller. */
function collectAssets() {
  const assets = new Map();
  for (const name of filesUnder(join(ROOT, 'src', 'dashboard'))) assets.set(`dashboard/${name}`, join(ROOT, 'src', 'dashboard', name));
  for (const dialect of ['sqlite', 'postgres']) {
    const dir = join(ROOT, 'drizzle', dialect);
    const names = filesUnder(dir);
    if (!names.includes('meta/_journal.json')) fail(`drizzle/${dialect}/meta/_journal.json is missing`);
    for (const name of names) assets.set(`drizzle/${dialect}/${name}`, join(dir, name));
  }
  const addon = join(dirname(require.resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
  statSync(addon);
  assets.set('better_sqlite3.node', addon);
  return assets;
}

async function bundle(outfile) {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [join(ROOT, 'src', 'cli.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // ws's optional native speed-ups are not installed: left out, and switched off with ws's own
    // switches so it never tries to require them (which the executable's require would warn about).
    external: ['bufferutil', 'utf-8-validate'],
    define: {
      'process.env.WS_NO_BUFFER_UTIL': '"1"',
      'process.env.WS_NO_UTF_8_VALIDATE': '"1"',
      // ESM's import.meta.url in a CommonJS bundle: the executable's own path (lib/embedded.ts
      // resolves node:sea through it; the checkout's paths built on it are never read when packaged).
      'import.meta.url': '__sluice_import_meta_url',
    },
    banner: { js: "const __sluice_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
    legalComments: 'none',
    logLevel: 'warning',
  });
  if (result.errors.length > 0) fail('the bundle failed (see above)');
}

function run(args, what) {
  const result = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) fail(`${what} failed (exit ${result.status}):\n${result.stdout}${result.stderr}`);
}

export async function packageSluice(out) {
  const started = Date.now();
  checkToolchain();
  const work = mkdtempSync(join(tmpdir(), 'sluice-package-'));
  try {
    const main = join(work, 'sluice.cjs');
    await bundle(main);

    const assets = collectAssets();
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const hashes = {};
    for (const [name, file] of assets) hashes[name] = createHash('sha256').update(readFileSync(file)).digest('hex');
    const manifest = join(work, 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ version, assets: hashes }));

    const blob = join(work, 'sea-prep.blob');
    const config = {
      main,
      output: blob,
      disableExperimentalSEAWarning: true,
      // No useCodeCache: it starts ~0.1 s sooner, but on Node 20 the main script compiled from it
      // has no dynamic import(), which module connectors need (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING).
      assets: { 'manifest.json': manifest, ...Object.fromEntries(assets) },
    };
    writeFileSync(join(work, 'sea-config.json'), JSON.stringify(config, null, 2));
    run(['--experimental-sea-config', join(work, 'sea-config.json')], 'node --experimental-sea-config');

    const exe = join(work, 'sluice');
    copyFileSync(process.execPath, exe);
    chmodSync(exe, 0o755);
    // postject prints LIEF's notes about the ELF file on success: shown only when it fails.
    run([require.resolve('postject/dist/cli.js'), exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE], 'postject');

    mkdirSync(dirname(out), { recursive: true });
    // Into place whole (a rename on the same file system), so a half-written file never runs.
    const staged = `${out}.${process.pid}.tmp`;
    copyFileSync(exe, staged);
    chmodSync(staged, 0o755);
    renameSync(staged, out);
    const size = statSync(out).size;
    process.stdout.write(`${out.startsWith(`${process.cwd()}/`) ? relative(process.cwd(), out) : out}: sluice ${version}, ${(size / 1024 / 1024).toFixed(1)} MiB, built in ${((Date.now() - started) / 1000).toFixed(1)} s (Node.js ${process.version}, linux-${process.arch})\n`);
    return { path: out, size };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--out');
  const out = at === -1 ? join(ROOT, 'dist', 'sluice') : args[at + 1];
  if ((at !== -1 && out === undefined) || args.length !== (at === -1 ? 0 : 2)) {
    process.stderr.write('usage: node bin/package.js [--out PATH]\n');
    process.exitCode = 2;
  } else {
    packageSluice(resolve(out)).catch((err) => {
      process.stderr.write(`sluice package: ${err instanceof PackageError ? err.message : err.stack}\n`);
      process.exitCode = 1;
    });
  }
}
