/**
 * The operator dashboard (docs/http-api.md#dashboard) in real headless Chromium against a real
 * sluice (SQLite, the mock connector): sign-in, the live feed, mode changes, a signal's detail, a
 * breaker reset, flatten behind its typed confirmation, the replay form, the read-only token
 * (every write disabled) and a refused token. Screenshots of each view at 1280 and 375 px are
 * written to test-output/dashboard/.
 */
// Page-side code is passed as strings: the tests compile without the DOM library.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_TOKEN, eventually, startTestServer, type TestServer } from '../helpers/server.js';
import { READ_TOKEN, opsConfig } from '../ops/helpers.js';
import { HAS_CHROMIUM, MISSING, OUTPUT, launch, screenshot, signIn, watch } from './browser.js';

const VIEWS = ['overview', 'positions', 'signals', 'deliveries', 'feed', 'actions'] as const;

interface Final {
  signal_id: string;
  status: string;
  decision: { failures: Array<{ rule: string; code?: string }> } | null;
}

let s: TestServer;
let browser: Browser;

let sent = 0;
async function sendWait(body: Record<string, unknown>): Promise<Final> {
  sent += 1;
  // A key of its own: the same body again would be a duplicate of the first.
  const res = await s.send(body, { headers: { prefer: 'wait=10', 'idempotency-key': `dash-${sent}` } });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Final;
}

async function breakerState(): Promise<string> {
  const status = (await (await s.admin('/status')).json()) as { breakers: Record<string, { state: string }> };
  return status.breakers.mock?.state ?? 'none';
}

async function show(page: Page, view: (typeof VIEWS)[number]): Promise<void> {
  await page.locator(`nav.tabs button[data-view="${view}"]`).click();
  await page.locator(`#view-${view}`).waitFor({ state: 'visible' });
}

/** Each view at 1280 and at 375 px; at 375 nothing may scroll sideways. */
async function screenshots(page: Page, prefix: string): Promise<string[]> {
  const paths: string[] = [];
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: 900 });
    for (const view of VIEWS) {
      await show(page, view);
      paths.push(await screenshot(page, `${prefix}-${view}-${width}`));
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      expect(overflow, `${view} at ${width} px scrolls sideways`).toBeLessThanOrEqual(0);
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  return paths;
}

if (!HAS_CHROMIUM) {
  test.skip(MISSING, () => {});
} else {
  beforeAll(async () => {
    s = await startTestServer({
      config: opsConfig({ execution: { max_attempts: 1, backoff: { base_ms: 5, cap_ms: 20 }, breaker: { failure_threshold: 2, half_open_after_seconds: null } } }),
      env: { SLUICE_READ_TOKEN: READ_TOKEN },
    });
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  describe('the dashboard with the admin token', () => {
    test('live feed, pause and its rejection, enable, signal detail, breaker reset, flatten; every view at 1280 and 375 px', async () => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.setDefaultTimeout(10_000);
      const seen = watch(page);
      await signIn(page, s.url, ADMIN_TOKEN);
      await page.locator('#who', { hasText: 'admin token' }).waitFor();
      await page.locator('#link', { hasText: 'live' }).waitFor();
      expect(await page.evaluate(() => sessionStorage.getItem('sluice.token'))).toBe(ADMIN_TOKEN);

      // A signal sent over HTTP appears live: in the feed and as the overview's last signal.
      const bought = await sendWait({ action: 'buy', instrument: 'DASH', quantity: 2, price: 10 });
      expect(bought.status).toBe('executed');
      await page.locator('#last-signal', { hasText: bought.signal_id }).waitFor();
      await page.locator(`#feed li[data-type="signal.executed"]`, { hasText: bought.signal_id }).waitFor({ state: 'attached' });

      // Pause with a reason: the next buy is rejected mode/paused, and the page shows both.
      await page.getByLabel('Reason for a mode change').fill('dashboard test');
      await page.getByRole('button', { name: 'Pause' }).click();
      await page.locator('#mode', { hasText: 'paused' }).waitFor();
      const refused = await sendWait({ action: 'buy', instrument: 'DASH', quantity: 1, price: 10 });
      expect(refused.status).toBe('rejected');
      expect(refused.decision?.failures.map((f) => `${f.rule}/${f.code}`)).toContain('mode/paused');
      await show(page, 'feed');
      await page.locator('#feed li[data-type="signal.rejected"]', { hasText: refused.signal_id }).filter({ hasText: 'mode/paused' }).waitFor();
      await show(page, 'signals');
      await page.locator('#signals tr', { hasText: refused.signal_id }).filter({ hasText: 'mode/paused' }).waitFor();

      // Enable again (a mode change without a reason is not sent).
      await show(page, 'overview');
      await page.getByRole('button', { name: 'Enable' }).click();
      await page.locator('#action-result', { hasText: 'A reason is required' }).waitFor();
      expect(await page.locator('#mode').textContent()).toBe('paused');
      await page.getByLabel('Reason for a mode change').fill('done');
      await page.getByRole('button', { name: 'Enable' }).click();
      await page.locator('#mode', { hasText: 'enabled' }).waitFor();

      // The executed signal's detail: decision, attempts, its order, its events.
      await show(page, 'signals');
      await page.locator(`button[data-signal="${bought.signal_id}"]`).click();
      const detail = page.locator('#signal-detail');
      await detail.locator('h3', { hasText: bought.signal_id }).waitFor();
      await detail.locator('#decision', { hasText: 'allowed: buy 2' }).waitFor();
      expect(await detail.textContent()).toContain('Attempts');
      await detail.locator('td', { hasText: /^filled$/ }).first().waitFor();
      await detail.locator('td', { hasText: /^signal\.executed$/ }).waitFor();

      // A breaker opened by failing orders is shown open, and the reset button closes it.
      await s.admin('/connectors/mock/faults', { body: { failure_rate: 1 } });
      await eventually(async () => {
        await sendWait({ action: 'buy', instrument: 'FAIL', quantity: 1, price: 10 });
        return (await breakerState()) === 'open' ? true : undefined;
      }, 15_000, 'the breaker to open');
      await s.admin('/connectors/mock/faults', { body: { failure_rate: 0 } });
      await show(page, 'overview');
      await page.locator('[data-breaker="mock"]', { hasText: 'open' }).waitFor();
      await screenshot(page, 'admin-breaker-open-1280');
      await page.getByRole('button', { name: 'Reset mock' }).click();
      await page.locator('[data-breaker="mock"]', { hasText: 'closed' }).waitFor();
      expect(await breakerState()).toBe('closed');

      // Flatten needs a reason and FLATTEN typed exactly; then every position ends flat.
      await show(page, 'actions');
      const flatten = page.getByRole('button', { name: 'Flatten everything' });
      expect(await flatten.isDisabled()).toBe(true);
      await page.getByLabel('Reason', { exact: true }).fill('end of test');
      await page.getByLabel('Type FLATTEN to confirm').fill('FLATTE');
      expect(await flatten.isDisabled()).toBe(true);
      await page.getByLabel('Type FLATTEN to confirm').fill('FLATTEN');
      expect(await flatten.isEnabled()).toBe(true);
      await flatten.click();
      await page.locator('#action-result', { hasText: 'Flatten accepted: 1 closing signal' }).waitFor();
      await eventually(async () => {
        const body = (await (await s.admin('/positions')).json()) as { connectors: Record<string, { positions: Array<{ quantity: number }> }> };
        return Object.values(body.connectors).every((c) => c.positions.every((p) => p.quantity === 0)) ? true : undefined;
      }, 10_000, 'flat positions');
      await show(page, 'positions');
      await page.locator('[data-connector="mock"]').waitFor();
      // Today's PnL is shown against the daily loss limit (none configured here).
      await page.locator('[data-connector="mock"]', { hasText: 'no daily loss limit' }).waitFor();
      await page.waitForFunction("[...document.querySelectorAll('[data-position]')].every((n) => n.textContent === '0')");

      const paths = await screenshots(page, 'admin');
      console.log(`dashboard screenshots (${paths.length + 1}) in ${OUTPUT}`);
      expect(seen).toEqual({ errors: [], dialogs: [] });
      await page.close();
    });
  });

  describe('the dashboard with other tokens', () => {
    test('the read-only token sees every view, every write button disabled, and may run a replay', async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const seen = watch(page);
      await signIn(page, s.url, READ_TOKEN);
      await page.locator('#who', { hasText: 'read-only token' }).waitFor();
      await page.locator('#link', { hasText: 'live' }).waitFor();
      await page.locator('#readonly-note').waitFor();
      await page.locator('#mode').waitFor();
      const writes = await page.evaluate<Array<{ id: string; disabled: boolean }>>("[...document.querySelectorAll('[data-write]')].map((n) => ({ id: n.id || n.textContent, disabled: n.disabled }))");
      expect(writes.length).toBeGreaterThanOrEqual(5); // reason, three modes, a breaker reset, flatten
      expect(writes.filter((w) => !w.disabled)).toEqual([]);

      // FLATTEN typed does not enable it for this token.
      await show(page, 'actions');
      await page.getByLabel('Reason', { exact: true }).fill('no');
      await page.getByLabel('Type FLATTEN to confirm').fill('FLATTEN');
      expect(await page.getByRole('button', { name: 'Flatten everything' }).isDisabled()).toBe(true);

      // Replay (writes nothing): today's signals, the totals and a row per signal.
      const today = new Date().toISOString().slice(0, 10);
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
      await page.getByLabel('From').fill(today);
      await page.getByLabel('To (exclusive)').fill(tomorrow);
      await page.getByRole('button', { name: 'Run replay' }).click();
      await page.locator('#replay-report [data-totals="current"]').waitFor();
      expect(await page.locator('#replay-report tbody tr').count()).toBeGreaterThan(2);
      expect(await page.locator('#replay-report').textContent()).toContain('mode/paused');

      await screenshots(page, 'read');
      expect(seen).toEqual({ errors: [], dialogs: [] });
      await context.close();
    });

    test('a wrong token is refused: "token refused", still on the sign-in form, nothing kept', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      await signIn(page, s.url, 'not-a-token');
      await page.locator('#signin-error', { hasText: 'token refused' }).waitFor();
      expect(await page.locator('#app').isHidden()).toBe(true);
      expect(await page.locator('#signin').isVisible()).toBe(true);
      expect(await page.evaluate(() => sessionStorage.getItem('sluice.token'))).toBeNull();
      await screenshot(page, 'refused-1280');
      await context.close();
    });
  });
}
