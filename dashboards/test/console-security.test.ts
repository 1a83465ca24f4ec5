/// <reference lib="dom" />
import { existsSync } from 'node:fs';
import { connectAsync } from 'mqtt';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig, startCloud, type CloudHandle } from '@yulan/cloud';
import { startBroker, type BrokerHandle } from '../../broker/src/index.js';
import { BROKER_TOKEN, CLOUD_PASSWORD, FakeDeviceAuth, logger as brokerLogger, testConfig } from '../../broker/test/helpers.js';
import { cloudEnv, silentLogger, startEdgeStub, tempDir, type EdgeStub } from '../../cloud/test/helpers.js';
import { axeViolations, CHROMIUM, CHROMIUM_ARGS, screenshot } from './console-support.js';

/**
 * The console's Security screen in headless Chromium: wrong passwords at the real broker
 * open a security alert (the cloud's monitor reading the broker's admin API), and an
 * operator sees it open, with the rules in force. Built pages (npm run build).
 */
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI for the console test`);

const ADMIN = 'console-admin-token-0123456789abcdef';
const PASSWORD = 'operator password 1234';

describe.runIf(haveChromium)('console security screen in headless Chromium', () => {
  const tmp = tempDir('yulan-console-security-');
  const auth = new FakeDeviceAuth();
  let broker: BrokerHandle; let edge: EdgeStub; let cloud: CloudHandle; let browser: Browser; let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    auth.add('env-monitor-001');
    broker = await startBroker(await testConfig(tmp.dir), brokerLogger, { deviceAuth: auth });
    edge = await startEdgeStub();
    cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, { url: `mqtt://127.0.0.1:${broker.mqttPort}`, published: [], close: async () => undefined }, edge, CLOUD_PASSWORD, {
      YULAN_ADMIN_TOKEN: ADMIN, YULAN_BROKER_TOKEN: BROKER_TOKEN, YULAN_BROKER_ADMIN_URL: `http://127.0.0.1:${broker.wsPort}`,
      YULAN_SECURITY_SAMPLE_MS: '200', YULAN_SECURITY_RULES: 'mqtt-auth=3/600',
    })), silentLogger);
    const r = await fetch(`${cloud.url}/api/v1/people`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ login: 'chen.jing', name: '陈静', role: 'operator', password: PASSWORD }) });
    expect(r.status).toBe(201);
    // a locker on firmware below its kind's security minimum: "update required"
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    expect((await fetch(`${cloud.url}/api/v1/devices`, { method: 'POST', headers: admin, body: JSON.stringify({ id: 'parcel-locker-007', site: 'site-1', kind: 'parcel-locker', firmwareVersion: '1.0.0' }) })).status).toBe(201);
    expect((await fetch(`${cloud.url}/api/v1/firmware/minimum/parcel-locker`, { method: 'PUT', headers: admin, body: JSON.stringify({ version: '1.2.0', security: true }) })).status).toBe(200);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 }, bypassCSP: true, locale: 'en-US' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/401|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`); });
  });
  afterAll(async () => {
    await browser?.close();
    await cloud?.close(); await edge?.close(); await broker?.close();
    tmp.cleanup();
  });

  it('an operator sees the devices needing an update and an open security alert after wrong passwords at the broker; axe-clean in English and Chinese', async () => {
    await page.goto(`${cloud.url}/`);
    await page.getByLabel('Login').fill('chen.jing');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('陈静 (operator)').waitFor();
    await page.getByRole('link', { name: 'Security' }).click();
    await page.getByRole('heading', { level: 1, name: 'Security alerts' }).waitFor();
    await page.getByRole('heading', { name: 'Rules in force' }).waitFor();
    await page.getByRole('heading', { name: 'Update required (1)' }).waitFor();
    expect(await page.locator('tr[data-update-required="parcel-locker-007"]').textContent()).toMatch(/1\.0\.0.*1\.2\.0.*security fix/);
    // the update-required alert (a level rule) is the only alert before the burst
    await page.locator('tr[data-security-alert]').waitFor();
    expect(await page.locator('tr[data-security-alert]').textContent()).toContain('update-required');

    for (let i = 0; i < 3; i++) {
      await expect(connectAsync(`mqtt://127.0.0.1:${broker.mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'env-monitor-001', username: 'env-monitor-001', password: `wrong-${i}` }))
        .rejects.toThrow(/bad username or password|not authorized/i);
    }
    await page.locator('tr[data-security-alert]').nth(1).waitFor({ timeout: 30_000 });
    const row = page.locator('tr[data-security-alert]', { hasText: 'mqtt-auth' });
    expect(await row.count()).toBe(1);
    expect(await row.textContent()).toMatch(/Open.*mqtt-auth.*3 \/ 600 s/);
    await screenshot(page, 'security');
    expect(await axeViolations(page)).toEqual([]);

    await page.getByRole('button', { name: '中文' }).click();
    await page.getByRole('heading', { level: 1, name: '安全告警' }).waitFor();
    expect(await axeViolations(page), 'security zh-CN').toEqual([]);
    expect(problems).toEqual([]);
  });
});
