#!/usr/bin/env node
/**
 * Copies the dashboard's static files (src/dashboard/: HTML, CSS, hand-written ES modules) into
 * dist/dashboard/, where the compiled http/dashboard.js reads them: tsc compiles TypeScript only.
 * `npm run build` and bin/build.js run it after tsc.
 */
import { cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export function copyAssets() {
  cpSync(join(ROOT, 'src', 'dashboard'), join(ROOT, 'dist', 'dashboard'), { recursive: true });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) copyAssets();
