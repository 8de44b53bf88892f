/**
 * The build's clean step (bin/build.js cleanDist: the first step of `npm run build` and of
 * `npm start`'s rebuild) empties dist/ but keeps dist/sluice, the single executable, which the
 * TypeScript build does not make. Run on a copy of a dist/ in a temp directory, in a child process
 * (bin/ is plain JavaScript outside the TypeScript project).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, test } from 'vitest';
import { tempDir } from '../helpers/server.js';

const BUILD = pathToFileURL(join(import.meta.dirname, '..', '..', 'bin', 'build.js')).href;

test('cleanDist removes every compiled file and folder and keeps dist/sluice', () => {
  const dist = join(tempDir(), 'dist');
  mkdirSync(join(dist, 'store', 'sqlite'), { recursive: true });
  writeFileSync(join(dist, 'cli.js'), '');
  writeFileSync(join(dist, 'removed-source.js'), '');
  writeFileSync(join(dist, 'store', 'sqlite', 'store.js'), '');
  writeFileSync(join(dist, 'sluice'), 'the executable');
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', `import { cleanDist } from ${JSON.stringify(BUILD)}; cleanDist(${JSON.stringify(dist)});`], { encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  expect(readdirSync(dist)).toEqual(['sluice']);
  expect(readFileSync(join(dist, 'sluice'), 'utf8')).toBe('the executable');
});
