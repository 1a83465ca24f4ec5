import { existsSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel, DeviceKind, Presence, deviceTopic } from '@yulan/protos';
import { loadCloudConfig } from '../src/config.js';
import { defaultDashboardDir } from '../src/dashboard-dir.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, type EdgeStub, type TestBroker } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI for the dashboard test`);
  console.warn(`dashboard.test.ts: ${CHROMIUM} not found; skipping the headless browser test`);
}

describe.runIf(haveChromium)('dashboard page in headless Chromium', () => {
  const ADMIN = 'dashboard-admin-token-0123456789abcdef';
  const users = { cloud: 'cloud-pass', watcher: 'watcher-pass' };
  const tmp = tempDir('yulan-cloud-page-');
  let broker: TestBroker;
  let edge: EdgeStub;
  let cloud: CloudHandle;
  let watcher: MqttClient;
  let browser: Browser;

  beforeAll(async () => {
    broker = await startBroker(users);
    edge = await startEdgeStub();
    cloud = await startCloud(
      loadCloudConfig(cloudEnv(tmp.dir, broker, edge, users.cloud, { YULAN_ADMIN_TOKEN: ADMIN })),
      silentLogger,
    );
    watcher = await mqtt.connectAsync(broker.url, { username: 'watcher', password: users.watcher, clientId: 'page-watcher' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await watcher?.endAsync();
    await cloud?.close();
    await broker?.close();
    await edge?.close();
    tmp.cleanup();
  });

  it('serves the page from dashboards/public with a strict CSP', async () => {
    expect(existsSync(`${defaultDashboardDir}index.html`)).toBe(true);
    const res = await fetch(`${cloud.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await res.text()).toContain('<html lang="en">');
  });

  it('signs in with the token, shows the device, and flips it online on presence', async () => {
    const reg = await fetch(`${cloud.url}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'env-7', site: 'minhang', kind: 'env-monitor', name: 'Minhang school gate' }),
    });
    expect(reg.status).toBe(201);
    edge.latest['env-7'] = { ts: Date.now(), fields: { pm25_ugm3: 38.4, temperature_c: 21.5 }, text: {} };

    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${cloud.url}/`);
    // A wrong token is refused with a message and the form stays.
    await page.getByLabel(/Admin token/).fill('definitely-not-the-admin-token');
    await page.getByRole('button', { name: /Open dashboard/ }).click();
    await page.getByText('That token was not accepted').waitFor();

    await page.getByLabel(/Admin token/).fill(ADMIN);
    await page.getByRole('button', { name: /Open dashboard/ }).click();
    const card = page.locator('[data-device-id="env-7"]');
    await card.waitFor();
    expect(await card.locator('h4').textContent()).toBe('Minhang school gate');
    expect(await card.locator('[data-role="status"]').getAttribute('data-status')).toBe('offline');
    expect(await card.textContent()).toContain('38.4 µg/m³');
    expect(await page.locator('#site-minhang').textContent()).toContain('minhang');
    expect(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem('yulan.adminToken'))).toBe(ADMIN);

    const topic = deviceTopic({ site: 'minhang', kind: DeviceKind.ENV_MONITOR, deviceId: 'env-7' }, Channel.Presence);
    const payload = Presence.encode({ deviceId: 'env-7', kind: DeviceKind.ENV_MONITOR, online: true, tsMs: Date.now(), reason: 'broker-connect' });
    await watcher.publishAsync(topic, Buffer.from(payload), { qos: 1, retain: true });
    await card.locator('[data-role="status"][data-status="online"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('#count-online').textContent()).toBe('1');
    expect(problems.filter((p) => !p.includes('401'))).toEqual([]);
    await page.close();
  });

  it('shows an urgent alert that reached nobody as an incident until it is handled', async () => {
    const page = await browser.newPage();
    await page.goto(`${cloud.url}/`);
    await page.evaluate((t) => (globalThis as unknown as { sessionStorage: { setItem(k: string, v: string): void } }).sessionStorage.setItem('yulan.adminToken', t), ADMIN);
    await page.reload();
    await page.locator('#count-total').waitFor();
    expect(await page.locator('#unreached').isHidden()).toBe(true);

    // An SOS from a device linked to no resident, with no call-centre person: nobody to page.
    const t = Date.now();
    const report = {
      id: 'al_dashboardUnreached1', revision: 1, deviceId: 'fall-lonely', site: 'minhang', type: 'sos', level: 'urgent', state: 'open',
      skipCancelWindow: true, openedAtMs: t, updatedAtMs: t, firstEventAtMs: t, lastEventAtMs: t, eventCount: 1,
      events: [{ type: 'sos.pressed', atMs: t, seq: 1 }],
    };
    const intake = await fetch(`${cloud.url}/api/v1/internal/alerts`, {
      method: 'POST', headers: { authorization: `Bearer ${edge.token}`, 'content-type': 'application/json' }, body: JSON.stringify(report),
    });
    expect(intake.status).toBe(200);
    const banner = page.locator('#unreached');
    await banner.waitFor({ state: 'visible', timeout: 20_000 });
    expect(await banner.textContent()).toContain('1 urgent alert reached nobody');

    const resolved = await fetch(`${cloud.url}/api/v1/alerts/${report.id}/resolve`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ outcome: 'other', note: 'called the resident' }),
    });
    expect(resolved.status).toBe(200);
    await banner.waitFor({ state: 'hidden', timeout: 20_000 });
    await page.close();
  });
});
