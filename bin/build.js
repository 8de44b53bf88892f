#!/usr/bin/env node
/**
 * Builds dist/ from src/ when it is missing or older than the sources, and does nothing
 * otherwise: `npm ci` runs it once (the `prepare` script), and `sluice` / `npm start` run it
 * before starting, so a start after an edit or a checkout never runs stale code and a start
 * with a fresh build costs a few stat calls instead of a TypeScript compile.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyAssets } from './assets.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli.js');
/** What the build reads: a change to any of them makes dist/ stale. */
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json'].map((p) => join(ROOT, p));

/** Newest modification time under `path` (a directory's own time changes when a file is added or removed). */
function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let time = stat.mtimeMs;
  for (const entry of readdirSync(path)) time = Math.max(time, newest(join(path, entry)));
  return time;
}

/** 'fresh', 'stale' (or missing), or 'no-sources' (an image that ships dist/ alone). */
export function buildState() {
  if (!existsSync(join(ROOT, 'src'))) return 'no-sources';
  if (!existsSync(CLI)) return 'stale';
  const built = statSync(CLI).mtimeMs;
  return INPUTS.some((p) => existsSync(p) && newest(p) > built) ? 'stale' : 'fresh';
}

/**
 * Empties dist/ before a build, so that a removed source leaves no compiled file behind; keeps
 * dist/sluice, the single executable (`npm run package`), which the TypeScript build does not make.
 */
export function cleanDist(dist = join(ROOT, 'dist')) {
  if (!existsSync(dist)) return;
  for (const entry of readdirSync(dist)) if (entry !== 'sluice') rmSync(join(dist, entry), { recursive: true, force: true });
}

/** Builds when stale; returns false (with the reason on stderr) when it cannot. */
export function buildIfStale() {
  if (buildState() !== 'stale') return true;
  let tsc;
  try {
    tsc = createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc');
  } catch {
    process.stderr.write('sluice: dist/ is missing or older than src/, and TypeScript is not installed to build it: run `npm ci`\n');
    return false;
  }
  process.stderr.write('sluice: building dist/ from src/ (it is missing or older than the sources)…\n');
  // As `npm run build`: a removed source must not leave its compiled file behind.
  cleanDist();
  const result = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) {
    process.stderr.write('sluice: the TypeScript build failed (see above)\n');
    return false;
  }
  copyAssets();
  return true;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  // `--clean`: the first step of `npm run build`.
  if (process.argv[2] === '--clean') cleanDist();
  else process.exitCode = buildIfStale() ? 0 : 1;
}
