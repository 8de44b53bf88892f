/**
 * The operator dashboard (docs/http-api.md#dashboard): `GET /` serves one HTML page and
 * `GET /assets/<version>/<file>` its stylesheet and ES modules, all from `src/dashboard/` (copied
 * to `dist/dashboard/` by the build; in the single executable, its `dashboard/` assets), read
 * once when the app is built. The page needs no token; every call it makes is an ordinary admin
 * API call with the operator's bearer token.
 *
 * `<version>` is the first 8 hex of a sha256 over every asset, so the assets are cached forever
 * (`immutable`) and the page, never cached, always names the current ones. A directory rather
 * than a per-file hash: the modules import each other by relative path, which keeps working.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import { assetBytes, assetsUnder, isPackaged } from '../lib/embedded.js';
import type { AppEnv } from './context.js';
import { AppError } from './errors.js';

/** From src/http/ and from dist/http/ alike: the folder beside this one. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** On the page and every asset: no inline script or style, nothing from elsewhere, no framing. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
};

export interface DashboardFiles {
  version: string;
  html: string;
  assets: ReadonlyMap<string, { body: Uint8Array<ArrayBuffer>; type: string }>;
}

/** Reads the page and its assets from `dir`; the page's `{{version}}` becomes the assets' version. */
export function loadDashboard(dir: string = DASHBOARD_DIR): DashboardFiles {
  return dashboardFrom(readdirSync(dir), (name) => readFileSync(join(dir, name)));
}

/** The page and its assets out of the single executable's `dashboard/` assets (lib/embedded.ts). */
export function loadPackagedDashboard(): DashboardFiles {
  return dashboardFrom(assetsUnder('dashboard'), (name) => assetBytes(`dashboard/${name}`));
}

function dashboardFrom(files: readonly string[], read: (name: string) => Buffer): DashboardFiles {
  const names = files.filter((name) => TYPES[extname(name)] !== undefined).sort();
  const hash = createHash('sha256');
  const assets = new Map<string, { body: Uint8Array<ArrayBuffer>; type: string }>();
  for (const name of names) {
    const body = read(name);
    hash.update(name).update('\0').update(body).update('\0');
    assets.set(name, { body: Uint8Array.from(body), type: TYPES[extname(name)] ?? 'application/octet-stream' });
  }
  const version = hash.digest('hex').slice(0, 8);
  const html = read('index.html').toString('utf8').replaceAll('{{version}}', version);
  return { version, html, assets };
}

export function dashboardRoutes(opts: { logger: Logger; dir?: string }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  let files: DashboardFiles | null = null;
  try {
    files = opts.dir === undefined && isPackaged() ? loadPackagedDashboard() : loadDashboard(opts.dir);
  } catch (err) {
    // A dist/ built without its assets still serves the API; `/` says what is missing.
    opts.logger.warn({ err, dir: opts.dir ?? DASHBOARD_DIR }, 'the dashboard files cannot be read: GET / answers 404');
  }
  // Per route, not a `*` middleware: mounted at `/`, that would reach every route of the app.
  const secure = (c: Context<AppEnv>) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.header(name, value);
  };

  app.get('/', (c) => {
    if (files === null) throw new AppError('not_found', 'the dashboard files are not installed (rebuild with `npm run build`)');
    secure(c);
    c.header('Cache-Control', 'no-cache');
    return c.html(files.html);
  });

  app.get('/assets/:version/:name', (c) => {
    const asset = files !== null && c.req.param('version') === files.version ? files.assets.get(c.req.param('name')) : undefined;
    if (asset === undefined) throw new AppError('not_found', `no asset ${c.req.path}`);
    secure(c);
    c.header('Content-Type', asset.type);
    c.header('Cache-Control', 'public, max-age=31536000, immutable');
    return c.body(asset.body);
  });
  return app;
}
