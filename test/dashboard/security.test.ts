/**
 * The dashboard's security (docs/http-api.md#dashboard): the page and its assets carry a strict
 * Content-Security-Policy and the framing, referrer and sniffing headers; the page has no inline
 * script or style; assets are fingerprinted and immutable, the page never cached. And in real
 * Chromium, markup inside a signal (its `strategy` and `meta`) and inside a refused delivery's body
 * is shown as text: nothing runs, no dialog opens, no console error.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { opsConfig } from '../ops/helpers.js';
import { HAS_CHROMIUM, MISSING, launch, screenshot, signIn, watch } from './browser.js';

const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const SCRIPT = '<script>window.__xss=1</script>';
const IMG = '<img src=x onerror="window.__xss=1">';

let s: TestServer;

function expectSecurityHeaders(res: Response, what: string): void {
  expect(res.headers.get('content-security-policy'), what).toBe(CSP);
  expect(res.headers.get('x-frame-options'), what).toBe('DENY');
  expect(res.headers.get('referrer-policy'), what).toBe('no-referrer');
  expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
}

beforeAll(async () => {
  s = await startTestServer({ config: opsConfig() });
});
afterAll(async () => {
  await s?.close();
});

describe('GET / and its assets', () => {
  test('security headers everywhere, no token needed, no inline script or style, fingerprinted immutable assets', async () => {
    const page = await fetch(`${s.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expectSecurityHeaders(page, 'GET /');
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(html).not.toMatch(/<style|\sstyle=|\son\w+=/i);
    const assets = [...html.matchAll(/(?:href|src)="(\/assets\/[0-9a-f]{8}\/[\w.-]+)"/g)].map((m) => m[1] ?? '');
    expect(assets.map((a) => a.replace(/\/[0-9a-f]{8}\//, '/V/')).sort()).toEqual(['/assets/V/app.css', '/assets/V/app.js']);

    const script = assets.find((a) => a.endsWith('.js')) ?? '';
    const version = script.split('/')[2] ?? '';
    // The entry module and the modules it imports (same folder).
    for (const path of [...assets, `/assets/${version}/api.js`, `/assets/${version}/dom.js`]) {
      const res = await fetch(`${s.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control'), path).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-type'), path).toMatch(path.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
      expectSecurityHeaders(res, path);
      const text = await res.text();
      // Data never becomes markup.
      if (path.endsWith('.js')) expect(text, path).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    }
    // Another version, or a file that is not an asset, is a JSON 404.
    for (const path of [`/assets/00000000/app.js`, `/assets/${version}/index.html`, `/assets/${version}/nope.js`]) {
      const res = await fetch(`${s.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
    }
  });
});

if (!HAS_CHROMIUM) {
  test.skip(MISSING, () => {});
} else {
  describe('markup in signals and deliveries', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launch();
    });
    afterAll(async () => {
      await browser?.close();
    });

    test('is shown as text in the signal detail and the refused deliveries; nothing runs, no dialog, no console error', async () => {
      const accepted = await s.send({ action: 'buy', instrument: 'XSS', quantity: 1, price: 10, strategy: SCRIPT, meta: { note: IMG, [IMG]: SCRIPT } }, { headers: { prefer: 'wait=10' } });
      expect(accepted.status, await accepted.clone().text()).toBe(200);
      const { signal_id: signalId } = (await accepted.json()) as { signal_id: string };
      const refused = await s.send({ action: 'buy', instrument: 'XSS', quantity: -1, strategy: SCRIPT, meta: { note: IMG } });
      expect(refused.status).toBe(400);

      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.setDefaultTimeout(10_000);
      const seen = watch(page);
      await signIn(page, s.url, ADMIN_TOKEN);
      await page.locator('#link', { hasText: 'live' }).waitFor();

      await page.locator('nav.tabs button[data-view="signals"]').click();
      await page.locator(`button[data-signal="${signalId}"]`).click();
      const detail = page.locator('#signal-detail');
      await detail.locator('h3', { hasText: signalId }).waitFor();
      const detailText = (await detail.innerText()).replaceAll('\\"', '"');
      expect(detailText).toContain(SCRIPT);
      expect(detailText).toContain(IMG);
      expect(await page.locator('#signal-detail img, #signal-detail script').count()).toBe(0);

      await page.locator('nav.tabs button[data-view="deliveries"]').click();
      const excerpt = page.locator('#deliveries code.excerpt').first();
      await excerpt.waitFor();
      expect(await excerpt.innerText()).toContain('window.__xss=1');
      expect((await page.locator('#deliveries').innerText()).replaceAll('\\"', '"')).toContain(SCRIPT);
      await screenshot(page, 'xss-deliveries-1280');

      expect(await page.locator('main img, main script').count()).toBe(0);
      expect(await page.evaluate<string>('typeof window.__xss')).toBe('undefined');
      expect(seen).toEqual({ errors: [], dialogs: [] });
      await page.close();
    });
  });
}
