/// <reference lib="dom" />
import { existsSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceKind, type KnownKind } from '@yulan/protos';
import { loadCloudConfig, startCloud, type CloudHandle } from '@yulan/cloud';
import { startBroker, type BrokerHandle } from '../../broker/src/index.js';
import { BROKER_TOKEN, CLOUD_PASSWORD, FakeDeviceAuth, logger as brokerLogger, mqttClient, testConfig } from '../../broker/test/helpers.js';
import { cloudEnv, silentLogger, startEdgeStub, tempDir, waitFor, type EdgeStub } from '../../cloud/test/helpers.js';
import { axeViolations, CHROMIUM, CHROMIUM_ARGS, screenshot } from './console-support.js';

/**
 * The console's Broker screen in headless Chromium against the real Yulan broker (its admin
 * API behind the broker token) and the cloud proxying it: an operator finds a connected
 * device, reads its subscriptions, disconnects it after confirming, and sees it gone.
 * Built pages (npm run build).
 */
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI for the console test`);

const ADMIN = 'console-admin-token-0123456789abcdef';
const PASSWORD = 'operator password 1234';

describe.runIf(haveChromium)('console broker view in headless Chromium', () => {
  const tmp = tempDir('yulan-console-broker-');
  const auth = new FakeDeviceAuth();
  let broker: BrokerHandle; let edge: EdgeStub; let cloud: CloudHandle; let browser: Browser; let page: Page;
  const clients: MqttClient[] = [];
  const problems: string[] = [];
  const dialogs: string[] = [];
  let mqttUrl = '';

  beforeAll(async () => {
    for (const id of ['env-monitor-001', 'env-monitor-002', 'parcel-locker-007']) auth.add(id);
    auth.add('fall-sensor-003', { kind: DeviceKind.FALL_SENSOR as KnownKind });
    broker = await startBroker(await testConfig(tmp.dir), brokerLogger, { deviceAuth: auth });
    mqttUrl = `mqtt://127.0.0.1:${broker.mqttPort}`;
    edge = await startEdgeStub();
    cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, { url: mqttUrl, published: [], close: async () => undefined }, edge, CLOUD_PASSWORD, {
      YULAN_ADMIN_TOKEN: ADMIN, YULAN_BROKER_TOKEN: BROKER_TOKEN, YULAN_BROKER_ADMIN_URL: `http://127.0.0.1:${broker.wsPort}`,
    })), silentLogger);
    const r = await fetch(`${cloud.url}/api/v1/people`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ login: 'chen.jing', name: '陈静', role: 'operator', password: PASSWORD }) });
    expect(r.status).toBe(201);
    for (const id of ['env-monitor-001', 'env-monitor-002', 'parcel-locker-007', 'fall-sensor-003']) {
      const c = await mqttClient(mqttUrl, { clientId: id, username: id, password: `secret-${id}` });
      clients.push(c);
    }
    await clients[0]!.subscribeAsync('yulan/v1/site-1/env-monitor/env-monitor-001/cmd', { qos: 1 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 }, bypassCSP: true, locale: 'en-US' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/401|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`); });
    page.on('dialog', (d) => { dialogs.push(d.message()); void d.accept(); });
  });
  afterAll(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => undefined);
    await browser?.close();
    await cloud?.close(); await edge?.close(); await broker?.close();
    tmp.cleanup();
  });

  it('an operator finds a client, reads its subscriptions, disconnects it and sees it gone; axe-clean in English and Chinese', async () => {
    await page.goto(`${cloud.url}/`);
    await page.getByLabel('Login').fill('chen.jing');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('陈静 (operator)').waitFor();
    await page.getByRole('link', { name: 'Broker' }).click();
    await page.getByRole('heading', { level: 1, name: 'Broker' }).waitFor();
    await page.locator('tr[data-client="fall-sensor-003"]').waitFor();
    await page.getByText('hidden (fall sensor)').first().waitFor(); // its retained presence, size only
    await screenshot(page, 'broker');
    expect(await axeViolations(page)).toEqual([]);

    await page.getByLabel('Search client id, user or address').fill('env-monitor');
    await page.locator('tr[data-client="parcel-locker-007"]').waitFor({ state: 'detached' });
    expect(await page.locator('tbody tr[data-client]').count()).toBe(2);
    await page.getByRole('button', { name: 'env-monitor-001', exact: true }).click();
    await page.getByText('yulan/v1/site-1/env-monitor/env-monitor-001/cmd').waitFor();

    let closed = false;
    clients[1]!.once('close', () => { closed = true; });
    await page.getByRole('button', { name: 'Disconnect env-monitor-002' }).click();
    await page.locator('tr[data-client="env-monitor-002"]').waitFor({ state: 'detached' });
    await page.getByText('env-monitor-002: disconnected').waitFor();
    await waitFor(() => closed, 'the device connection closed');
    expect(dialogs).toHaveLength(1);
    expect(dialogs[0]).toContain('env-monitor-002');
    expect(await page.locator('tr[data-client="env-monitor-001"]').count()).toBe(1);

    // Pushed by the broker over SSE (no timer on the page): a monitor that connects now shows up.
    auth.add('env-monitor-004');
    clients.push(await mqttClient(mqttUrl, { clientId: 'env-monitor-004', username: 'env-monitor-004', password: 'secret-env-monitor-004' }));
    await page.locator('tr[data-client="env-monitor-004"]').waitFor();

    await page.getByRole('button', { name: '中文' }).click();
    await page.locator('html[lang="zh-CN"]').waitFor();
    await page.getByRole('heading', { level: 1, name: '消息代理' }).waitFor();
    await page.getByRole('heading', { name: '订阅' }).first().waitFor();
    expect(await axeViolations(page), 'broker zh-CN').toEqual([]);
    expect(problems).toEqual([]);
  });
});
