/// <reference lib="dom" />
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from '../../dashboards/test/console-support.js';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/**
 * The whole path on an open console page (built pages, headless Chromium): the operator
 * watches a charger's page, a GetDiagnostics upload goes charger → gateway → cloud, and the
 * page's Diagnostics card shows the link without a reload (the gateway's
 * `diagnostics.stored` event); the link serves the charger's bytes.
 */
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI for the console test`);

const ID = 'CP-DIAG-UI';
const PASSWORD = 'operator password 9012';

describe.runIf(haveChromium)('diagnostics on the console, end to end', () => {
  let p: Platform;
  let gw: OcppGatewayHandle;
  let cp: RawChargePoint;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    p = await startPlatform({}, { console: true });
    gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
    cp = await RawChargePoint.connect(gw.url, ID, await p.addCharger(ID));
    await cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'AC22' });
    expect((await p.api('/api/v1/people', { method: 'POST', json: { login: 'li.na', name: '李娜', role: 'operator', password: PASSWORD } })).status).toBe(201);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 }, bypassCSP: true, locale: 'en-US' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  });
  afterAll(async () => {
    await browser?.close();
    cp?.close();
    await gw?.close();
    await p?.close();
  });

  it('the link appears on the open page once the cloud has the file, and downloads the same bytes', async () => {
    await page.goto(`${p.cloudUrl}/`);
    await page.getByLabel('Login').fill('li.na');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('李娜 (operator)').waitFor();
    await page.goto(`${p.cloudUrl}/#/device/${ID}`);
    await page.getByRole('heading', { level: 1, name: ID }).waitFor();
    await page.getByText('None yet (send the command charger.get_diagnostics).').waitFor();

    cp.answers.GetDiagnostics = () => ({ fileName: 'ui.log' });
    const before = cp.calls.length;
    expect((await p.api('/api/v1/devices/CP-DIAG-UI/commands', { method: 'POST', json: { name: 'charger.get_diagnostics', args: {} } })).status).toBe(201);
    const call = await waitFor(() => cp.calls.slice(before).find((f) => f[2] === 'GetDiagnostics'), 'GetDiagnostics call');
    const body = Buffer.from('seen on the console\n');
    expect((await fetch(String((call[3] as { location: string }).location), { method: 'PUT', body, headers: { 'content-type': 'text/plain' } })).status).toBe(201);

    const link = page.getByRole('link', { name: /-ui\.log$/ });
    await link.waitFor({ timeout: 30_000 });
    const got = await page.evaluate(async (h) => {
      const r = await fetch(h!, { credentials: 'same-origin' });
      return { status: r.status, etag: r.headers.get('etag'), text: await r.text() };
    }, await link.getAttribute('href'));
    expect(got).toEqual({ status: 200, etag: `"${createHash('sha256').update(body).digest('hex')}"`, text: body.toString() });
    expect(problems).toEqual([]);
  });
});
