/**
 * The single executable's assets (src/lib/embedded.ts) outside the executable: the manifest is
 * checked when read, and the extraction folder is private, content-addressed, reused when intact,
 * replaced when damaged or not private, safe against a concurrent run, and never another user's.
 * test/package/package.test.ts runs the same code inside the real executable.
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { extractAssets, extractionName, isPackaged, parseManifest, type Manifest } from '../../src/lib/embedded.js';
import { tempDir } from '../helpers/server.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const FILES: Record<string, string> = { 'better_sqlite3.node': 'addon bytes', 'drizzle/sqlite/0000_init.sql': 'create table x (a int);', 'drizzle/sqlite/meta/_journal.json': '{"entries":[]}' };
const MANIFEST: Manifest = { version: '1.2.3', assets: Object.fromEntries(Object.entries(FILES).map(([name, text]) => [name, sha(text)])) };

/** A reader over FILES that counts its calls. */
function reader(files: Record<string, string> = FILES): { read: (name: string) => Uint8Array; calls: () => number } {
  let calls = 0;
  return {
    read: (name) => {
      calls += 1;
      const text = files[name];
      if (text === undefined) throw new Error(`no asset ${name}`);
      return Buffer.from(text);
    },
    calls: () => calls,
  };
}

describe('parseManifest', () => {
  const hash = 'a'.repeat(64);
  const cases: Array<{ what: string; json: unknown; error?: RegExp }> = [
    { what: 'a valid manifest', json: { version: '0.1.0', assets: { 'dashboard/app.js': hash, 'better_sqlite3.node': hash } } },
    { what: 'not an object', json: [1], error: /no version/ },
    { what: 'null', json: null, error: /not an object/ },
    { what: 'no version', json: { assets: {} }, error: /no version/ },
    { what: 'no assets', json: { version: '1' }, error: /no assets/ },
    { what: 'a hash that is not a sha256', json: { version: '1', assets: { a: 'abc' } }, error: /hash of a is not a sha256/ },
    { what: 'a parent-folder name', json: { version: '1', assets: { '../x': hash } }, error: /unsafe asset "\.\.\/x"/ },
    { what: 'a parent folder inside a name', json: { version: '1', assets: { 'a/../../b': hash } }, error: /unsafe asset/ },
    { what: 'an absolute name', json: { version: '1', assets: { '/etc/passwd': hash } }, error: /unsafe asset/ },
    { what: 'an empty segment', json: { version: '1', assets: { 'a//b': hash } }, error: /unsafe asset/ },
  ];
  test.each(cases)('$what', ({ json, error }) => {
    const parse = () => parseManifest(JSON.stringify(json));
    if (error === undefined) expect(parse()).toEqual(json);
    else expect(parse).toThrow(error);
  });
});

describe('extractionName', () => {
  test('the version and a hash of every name and hash: the same for the same assets in any order, another for any change', () => {
    const name = extractionName(MANIFEST);
    expect(name).toMatch(/^sluice-1\.2\.3-[0-9a-f]{16}$/);
    const reversed: Manifest = { version: '1.2.3', assets: Object.fromEntries(Object.entries(MANIFEST.assets).reverse()) };
    expect(extractionName(reversed)).toBe(name);
    expect(extractionName({ ...MANIFEST, assets: { ...MANIFEST.assets, 'better_sqlite3.node': sha('other') } })).not.toBe(name);
    expect(extractionName({ ...MANIFEST, version: '1.2.4' })).toMatch(/^sluice-1\.2\.4-/);
  });
});

describe('extractAssets', () => {
  test('writes every asset into a private folder named by the manifest, then reuses it without reading an asset', () => {
    const base = tempDir();
    const root = extractAssets(MANIFEST, reader().read, base);
    expect(root).toBe(join(base, extractionName(MANIFEST)));
    expect(statSync(root).mode & 0o777).toBe(0o700);
    for (const [name, text] of Object.entries(FILES)) expect(readFileSync(join(root, name), 'utf8')).toBe(text);
    expect(readdirSync(base)).toEqual([extractionName(MANIFEST)]);

    const again = reader();
    expect(extractAssets(MANIFEST, again.read, base)).toBe(root);
    expect(again.calls()).toBe(0);
  });

  test('a damaged file is written anew; so is a copy that is not private (0755)', () => {
    const base = tempDir();
    const root = extractAssets(MANIFEST, reader().read, base);
    writeFileSync(join(root, 'better_sqlite3.node'), 'tampered');
    expect(extractAssets(MANIFEST, reader().read, base)).toBe(root);
    expect(readFileSync(join(root, 'better_sqlite3.node'), 'utf8')).toBe('addon bytes');

    chmodSync(root, 0o755);
    const fresh = reader();
    expect(extractAssets(MANIFEST, fresh.read, base)).toBe(root);
    expect(fresh.calls()).toBe(3);
    expect(statSync(root).mode & 0o777).toBe(0o700);
    expect(readdirSync(base)).toEqual([extractionName(MANIFEST)]);
  });

  test('an asset whose bytes do not match the manifest stops the extraction and leaves nothing behind', () => {
    const base = tempDir();
    expect(() => extractAssets(MANIFEST, reader({ ...FILES, 'drizzle/sqlite/0000_init.sql': 'drop table x;' }).read, base)).toThrow(
      /asset drizzle\/sqlite\/0000_init\.sql does not match its manifest/,
    );
    expect(readdirSync(base)).toEqual([]);
  });

  test('another run that puts its copy in place first wins: its folder is used and ours is removed', () => {
    const base = tempDir();
    let other: string | null = null;
    const racing = (name: string): Uint8Array => {
      // The other run finishes while this one is still writing its copy.
      other ??= extractAssets(MANIFEST, reader().read, base);
      return reader().read(name);
    };
    const root = extractAssets(MANIFEST, racing, base);
    expect(root).toBe(other);
    expect(readdirSync(base)).toEqual([extractionName(MANIFEST)]);
  });

  test.skipIf(process.getuid?.() !== 0)('a folder of that name owned by another user is left alone: this run uses a private copy of its own (needs root to chown)', () => {
    const base = tempDir();
    const foreign = join(base, extractionName(MANIFEST));
    mkdirSync(foreign, { mode: 0o700 });
    writeFileSync(join(foreign, 'better_sqlite3.node'), 'planted');
    chownSync(foreign, 65534, 65534);
    const root = extractAssets(MANIFEST, reader().read, base);
    expect(root).not.toBe(foreign);
    expect(readFileSync(join(root, 'better_sqlite3.node'), 'utf8')).toBe('addon bytes');
    expect(statSync(root).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(foreign, 'better_sqlite3.node'), 'utf8')).toBe('planted');
    expect(existsSync(root)).toBe(true);
  });
});

test('under vitest (as under npm start) the process is not the single executable', () => {
  expect(isPackaged()).toBe(false);
});
