/**
 * The single executable (`npm run package` → dist/sluice, README "Single executable"): what a
 * checkout reads from files beside the code, the executable carries as assets of its own
 * (node:sea). `isPackaged()` is false under `npm start` and the tests, and nothing else here runs then.
 *
 * `manifest.json` (written by bin/package.js) names every asset with its sha256 and the version.
 * Assets that a library insists on reading from a path are extracted once, all together, into
 * `<tmpdir>/sluice-<version>-<hash of the manifest>/`: the migrations (drizzle's migrator reads a
 * folder) and better-sqlite3's addon (the operating system loads a shared object from a file
 * only: dlopen has no from-memory form). The folder is this user's own (0700), filled under a
 * temporary name and renamed into place whole, and reused by later runs of the same executable
 * when it is still this user's and every file's sha256 matches the manifest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

type Sea = typeof import('node:sea');

/** The asset bin/package.js writes: every other asset's name and sha256, and the version. */
export const MANIFEST_ASSET = 'manifest.json';

export interface Manifest {
  version: string;
  /** Asset name (a relative path, `/`-separated) → sha256 of its bytes, hex. */
  assets: Record<string, string>;
}

/** The manifest's JSON, checked: a name that could leave the extraction folder is refused. */
export function parseManifest(text: string): Manifest {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null) throw new Error('the manifest is not an object');
  const { version, assets } = value as Record<string, unknown>;
  if (typeof version !== 'string' || version === '') throw new Error('the manifest has no version');
  if (typeof assets !== 'object' || assets === null) throw new Error('the manifest has no assets');
  const checked: Record<string, string> = {};
  for (const [name, sha] of Object.entries(assets)) {
    if (typeof sha !== 'string' || !/^[0-9a-f]{64}$/.test(sha)) throw new Error(`the manifest's hash of ${name} is not a sha256`);
    if (!/^[\w.-]+(\/[\w.-]+)*$/.test(name) || name.split('/').some((part) => part === '..' || part === '.')) throw new Error(`the manifest names an unsafe asset ${JSON.stringify(name)}`);
    checked[name] = sha;
  }
  return { version, assets: checked };
}

/** The extraction folder's name: the version and a hash of every asset's name and hash. */
export function extractionName(manifest: Manifest): string {
  const hash = createHash('sha256');
  for (const name of Object.keys(manifest.assets).sort()) hash.update(`${name}\0${manifest.assets[name] ?? ''}\n`);
  return `sluice-${manifest.version}-${hash.digest('hex').slice(0, 16)}`;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

let sea: Sea | null | undefined;
function packaged(): Sea | null {
  if (sea === undefined) {
    try {
      const candidate = createRequire(import.meta.url)('node:sea') as Sea;
      sea = candidate.isSea() ? candidate : null;
    } catch {
      sea = null; // a Node.js without node:sea (before 20.12) runs no executable of ours
    }
  }
  return sea;
}

/** True when this process is dist/sluice, the single executable. */
export function isPackaged(): boolean {
  return packaged() !== null;
}

/** The bytes of one asset of the executable. */
export function assetBytes(name: string): Buffer {
  const s = packaged();
  if (s === null) throw new Error(`asset ${name}: not running as the single executable`);
  return Buffer.from(s.getAsset(name));
}

let manifest: Manifest | undefined;
export function packagedManifest(): Manifest {
  manifest ??= parseManifest(assetBytes(MANIFEST_ASSET).toString('utf8'));
  return manifest;
}

/** Names of the assets under a folder (`dashboard/`), sorted, the folder cut off. */
export function assetsUnder(folder: string): string[] {
  const prefix = folder.endsWith('/') ? folder : `${folder}/`;
  return Object.keys(packagedManifest().assets)
    .filter((name) => name.startsWith(prefix))
    .map((name) => name.slice(prefix.length))
    .sort();
}

/** Whether `root` is this user's private folder holding exactly the manifest's bytes. */
function intact(root: string, m: Manifest): boolean {
  try {
    const stat = lstatSync(root);
    if (!stat.isDirectory() || stat.uid !== process.getuid?.() || (stat.mode & 0o077) !== 0) return false;
    return Object.entries(m.assets).every(([name, sha]) => sha256(readFileSync(join(root, name))) === sha);
  } catch {
    return false;
  }
}

/** Reads one asset's bytes (assetBytes in the executable). */
export type AssetReader = (name: string) => Uint8Array;

function fill(dir: string, m: Manifest, read: AssetReader): void {
  for (const [name, sha] of Object.entries(m.assets)) {
    const bytes = read(name);
    if (sha256(bytes) !== sha) throw new Error(`the executable's asset ${name} does not match its manifest: the file is damaged`);
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, bytes, { mode: 0o600 });
  }
}

const isNameTaken = (err: unknown): boolean => ['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '');

/** Extracts every asset into the folder the manifest names (see the header) and returns it. */
export function extractAssets(m: Manifest, read: AssetReader, base: string = tmpdir()): string {
  const root = join(base, extractionName(m));
  if (intact(root, m)) return root;
  const staging = `${root}.${process.pid}.${randomBytes(4).toString('hex')}`;
  mkdirSync(staging, { mode: 0o700 });
  try {
    fill(staging, m, read);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      renameSync(staging, root);
      return root;
    } catch (err) {
      if (!isNameTaken(err)) {
        rmSync(staging, { recursive: true, force: true });
        throw err;
      }
    }
    // Another run of the same executable put its copy in place first.
    if (intact(root, m)) {
      rmSync(staging, { recursive: true, force: true });
      return root;
    }
    // A damaged copy of this user's is moved aside (a rename: a run reading it keeps its files)
    // and removed; another user's folder is never touched.
    const existing = lstatSync(root, { throwIfNoEntry: false });
    if (existing === undefined || !existing.isDirectory() || existing.uid !== process.getuid?.()) break;
    const aside = `${root}.damaged.${randomBytes(4).toString('hex')}`;
    try {
      renameSync(root, aside);
      rmSync(aside, { recursive: true, force: true });
    } catch {
      break;
    }
  }
  // The name is taken by something that is not ours: this run keeps its own private copy.
  return staging;
}

let extracted: string | undefined;
/** Path of an extracted asset or folder of assets (`drizzle/sqlite`); extracts on first use. */
export function extractedPath(name: string): string {
  if (extracted === undefined) {
    try {
      extracted = extractAssets(packagedManifest(), assetBytes);
    } catch (err) {
      throw new Error(`cannot write the executable's SQLite addon and migrations under ${tmpdir()} (${(err as Error).message}): set TMPDIR to a writable directory`);
    }
  }
  return join(extracted, name);
}

const addons = new Map<string, object>();
/** A native addon among the assets, loaded from its extracted file (once per process). */
export function loadAddon(name: string): object {
  let exports = addons.get(name);
  if (exports === undefined) {
    const module: { exports: object } = { exports: {} };
    const path = extractedPath(name);
    try {
      process.dlopen(module, path);
    } catch (err) {
      // A file system mounted noexec refuses to map the shared object.
      throw new Error(`cannot load ${path} (${(err as Error).message}): if ${tmpdir()} is mounted noexec, set TMPDIR to a directory that is not`);
    }
    exports = module.exports;
    addons.set(name, exports);
  }
  return exports;
}
