/// <reference lib="dom" />
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultDashboardDir } from '../src/dashboard-dir.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { ComplaintsService } from '../src/open/complaints-service.js';
import { axeProblems, CHROMIUM, CHROMIUM_ARGS, mobileProblems, switchTo } from './care-page-support.js';
import { silentLogger } from './helpers.js';
import { ADMIN, EDGE_TOKEN_FOR_TESTS, openFixture, type OpenFixture } from './open-data-support.js';

// The public page in headless Debian Chromium against the real cloud app and a real edge.
describe('public open-data page (/open/)', () => {
  let fx: OpenFixture;
  let app: FastifyInstance;
  let complaints: ComplaintsService;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    fx = await openFixture();
    complaints = new ComplaintsService({
      file: join(fx.dir, 'complaints.sqlite'), devices: fx.repo, logger: silentLogger, powBits: 12,
      edge: createHttpEdgeClient({ baseUrl: fx.edgeUrl, token: EDGE_TOKEN_FOR_TESTS }),
    });
    app = await fx.app({ dashboardDir: defaultDashboardDir, extra: { complaints } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await complaints?.shutdown();
    await fx?.close();
  });

  /** A tab that records CSP violations and script errors; `bypassCSP` only to inject axe. */
  async function open(opts: { locale?: string; width?: number; bypassCSP?: boolean; hash?: string } = {}): Promise<{ page: Page; problems: string[] }> {
    const ctx = await browser.newContext({ viewport: { width: opts.width ?? 1024, height: 900 }, locale: opts.locale ?? 'en-US', bypassCSP: opts.bypassCSP ?? false });
    const page = await ctx.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
    });
    await page.goto(`${base}/open/${opts.hash ?? ''}`);
    await page.locator('#status[data-state="ready"]').waitFor();
    return { page, problems };
  }

  it('is served with a strict CSP and runs under it with no violation or script error', async () => {
    const res = await fetch(`${base}/open/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|<style/);
    expect((await fetch(`${base}/open`, { redirect: 'manual' })).headers.get('location')).toBe('/open/');
    const { page, problems } = await open();
    await page.locator('[data-site="xuhui"] .aqi-value').waitFor();
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it("shows each site's AQI with colour and category, the primary pollutant, noise against the zone limit, and both charts — in English and Chinese, axe-clean", async () => {
    const { page, problems } = await open({ bypassCSP: true });
    const card = page.locator('[data-site="xuhui"]');
    await expect.poll(() => card.locator('svg.chart').count()).toBe(2);
    expect(await card.locator('.aqi-value').textContent()).toContain('120');
    expect(await card.locator('.aqi-value').getAttribute('class')).toContain('aqi-l3');
    expect(await card.locator('.aqi-value').evaluate((n) => getComputedStyle(n).backgroundColor)).toBe('rgb(255, 126, 0)'); // HJ 633 orange
    expect(await card.locator('.category').textContent()).toBe('Lightly polluted');
    expect(await card.textContent()).toContain('Primary pollutant: PM2.5');
    expect(await card.locator('.noise').textContent()).toMatch(/Daytime level Ld 63\.2 dB\(A\), limit 60 dB\(A\) \(zone 2\).*above the limit by 3\.2/);
    expect(await card.locator('.exceed').textContent()).toMatch(/AQI above 100 since .* \(peak 120\)1 day\/night period\(s\) over the noise limit/);
    expect(await card.locator('svg.chart').first().locator('rect.bar').count()).toBe(24);
    expect(await card.locator('svg.chart').nth(1).locator('rect.bar').count()).toBe(3);
    expect(await card.locator('svg.chart').first().getAttribute('aria-label')).toMatch(/Hourly AQI, last 24 hours: 24 values, highest 120/);
    const csv = await card.locator('a', { hasText: 'CSV' }).getAttribute('href');
    expect(csv).toMatch(/^\/open\/v1\/sites\/xuhui\/days\/\d{4}-\d{2}-\d{2}\.csv$/);
    // a site with monitors but no valid hour yet says so instead of showing a number
    expect(await page.locator('[data-site="pudong"]').textContent()).toContain('No valid hour yet');
    expect(await axeProblems(page)).toEqual([]);
    await switchTo(page, 'zh-CN');
    expect(await card.locator('.category').textContent()).toBe('轻度污染');
    expect(await card.textContent()).toContain('首要污染物：细颗粒物（PM2.5）');
    expect(await card.locator('h2').textContent()).toContain('徐汇区');
    expect(await page.title()).toBe('玉兰 · 空气质量与噪声');
    expect(await axeProblems(page)).toEqual([]);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('opens in Chinese for a Chinese browser and fits a 360 px phone', async () => {
    const { page, problems } = await open({ locale: 'zh-CN', width: 360 });
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    expect(await page.locator('h1').textContent()).toBe('空气质量与噪声');
    // the honeypot field is off-screen on purpose; everything people use must fit and be big enough
    expect((await mobileProblems(page)).filter((p) => !p.includes('-website '))).toEqual([]);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('one tap reports smoke at a site; the receipt link shows the status, also after an operator closes it', async () => {
    const { page, problems } = await open({ bypassCSP: true });
    const card = page.locator('[data-site="xuhui"]');
    await card.locator('input[name="contact"]').fill('wechat: lihua88');
    await card.locator('button[data-kind="smoke"]').click();
    const link = page.locator('#receipt-link');
    await link.waitFor();
    expect(await page.locator('#report-result').textContent()).toContain('Smoke at Xuhui');
    const href = (await link.getAttribute('href')) ?? '';
    expect(href).toMatch(/\/open\/#receipt=[A-Za-z0-9_-]+$/);
    expect(await axeProblems(page)).toEqual([]);
    const [item] = await complaints.list({ status: 'open', limit: 10, offset: 0 });
    expect(item).toMatchObject({ site: 'xuhui', kind: 'smoke', hasContact: true });
    expect((await complaints.get(item!.id, { contact: true, actor: 'test' })).contact).toBe('wechat: lihua88');
    const receiptPage = await page.context().newPage();
    await receiptPage.goto(href);
    await expect.poll(() => receiptPage.locator('#receipt-status').textContent()).toBe('Status of your report: Received, not yet handled');
    const closed = await app.inject({ method: 'POST', url: `/api/v1/complaints/${item!.id}/close`, headers: { authorization: `Bearer ${ADMIN}` }, payload: { resolution: 'Bonfire put out' } });
    expect(closed.statusCode).toBe(200);
    await receiptPage.reload();
    await expect.poll(() => receiptPage.locator('#receipt-status').textContent()).toBe('Status of your report: Closed');
    expect(await receiptPage.locator('#report-result').textContent()).toContain('Operator note: Bonfire put out');
    // the count shows on the page, without detail
    await page.reload();
    await page.locator('#status[data-state="ready"]').waitFor();
    expect(await card.textContent()).toContain('1 report(s) in the last 24 hours');
    expect(await page.content()).not.toContain('lihua88');
    expect(problems).toEqual([]);
    await page.context().close();
  });
});
