/// <reference lib="dom" />
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceKind } from '@yulan/protos';
import { loadCloudConfig, startCloud, type CloudHandle } from '@yulan/cloud';
import { SimDevice, createDeviceModel } from '@yulan/device-sims';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, waitFor, type EdgeStub, type TestBroker } from '../../cloud/test/helpers.js';
import { axeViolations, CHROMIUM, CHROMIUM_ARGS, screenshot, seedRegistry } from './console-support.js';

/**
 * The operator console in headless Chromium against a running stack: real broker, cloud
 * (people, control, firmware), SQLite with 2,000 registered devices, one simulated EV
 * charger answering commands and twin changes over MQTT. Built pages (npm run build).
 */
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI for the console test`);

const ADMIN = 'console-admin-token-0123456789abcdef';
const PASSWORD = 'operator password 1234';
const DEVICE = 'ev-charger-00040';
const N = 2000;

describe.runIf(haveChromium)('operator console in headless Chromium', () => {
  const tmp = tempDir('yulan-console-');
  let broker: TestBroker; let edge: EdgeStub; let cloud: CloudHandle; let browser: Browser; let page: Page;
  let sim: SimDevice; let timer: NodeJS.Timeout | undefined;
  let operatorId = '';
  let signKey: ReturnType<typeof generateKeyPairSync>['privateKey'];
  const problems: string[] = [];
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${cloud.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    expect(r.status, `${method} ${path}: ${await r.clone().text()}`).toBeLessThan(300);
    return (await r.json()) as Record<string, unknown>;
  };

  beforeAll(async () => {
    await seedRegistry(tmp.dir, N);
    // A trusted Ed25519 key, so a signed image can be uploaded and a campaign started.
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    signKey = privateKey;
    writeFileSync(join(tmp.dir, 'keys.json'), JSON.stringify([{ id: 'k1', publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }]));
    broker = await startBroker({ cloud: 'cloud-pass', [DEVICE]: 'device-secret' });
    edge = await startEdgeStub();
    edge.latest[DEVICE] = { ts: Date.now(), fields: { power_w: 7100, current_a: 31, voltage_v: 229 } };
    cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, 'cloud-pass', { YULAN_ADMIN_TOKEN: ADMIN, YULAN_FIRMWARE_KEYS: join(tmp.dir, 'keys.json') })), silentLogger);
    operatorId = ((await api('POST', '/people', { login: 'chen.jing', name: '陈静', role: 'operator', password: PASSWORD })).person as { id: string }).id;
    await waitFor(async () => ((await (await fetch(`${cloud.url}/healthz`)).json()) as { mqtt: boolean }).mqtt, 'cloud mqtt connected');
    const model = createDeviceModel(DeviceKind.EV_CHARGER, 7, Date.now(), { evCharger: { model: 'ac7', sessionsPerDay: 0, faultsPerDay: 0, unavailablePerDay: 0 } });
    sim = new SimDevice({ mqttUrl: broker.url, deviceId: DEVICE, site: 'site-00', kind: DeviceKind.EV_CHARGER, secret: 'device-secret', qos: 1, model, rebootDelayMs: 300, commandTiming: { execMs: 20 } }, silentLogger);
    await sim.start();
    timer = setInterval(() => {
      const step = model.step(1000);
      if (!step.silent) void sim.publishTelemetry(step.reading, step.tsMs);
    }, 250);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    // 1024 × 768: a tablet in landscape. bypassCSP only so that axe-core can be injected.
    const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 }, bypassCSP: true, locale: 'en-US' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/401|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`); });
  });
  afterAll(async () => {
    if (timer) clearInterval(timer);
    await sim?.close();
    await browser?.close();
    await cloud?.close(); await broker?.close(); await edge?.close();
    tmp.cleanup();
  });

  it('serves the built console at / under the strict CSP, with no inline script or style', async () => {
    const res = await fetch(`${cloud.url}/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|style="/);
  });

  it('refuses a wrong password, then signs the operator in with their own login', async () => {
    await page.goto(`${cloud.url}/`);
    await page.getByLabel('Login').fill('chen.jing');
    await page.getByLabel('Password').fill('wrong password 1234');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(/Sign-in failed/).waitFor();
    await screenshot(page, 'sign-in');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('陈静 (operator)').waitFor();
  });

  it('finds one device among 2,000 by search and opens its page with live values and a chart', async () => {
    await page.getByText(`${N} devices`).waitFor();
    expect(await page.locator('.grid tbody tr.row').count()).toBeLessThan(100); // virtualised
    await screenshot(page, 'fleet');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Search id or name').fill('00040');
    await page.getByText('1 devices').waitFor();
    await page.getByRole('link', { name: DEVICE }).click();
    await page.getByRole('heading', { level: 1, name: DEVICE }).waitFor();
    // A chart of the last hour from the history API (the edge stub answers one point).
    await page.locator('.chart canvas').waitFor();
    expect(Number(await page.locator('.chart').getAttribute('data-points'))).toBeGreaterThan(0);
    // Live values over SSE from the simulated charger (its voltage is never the stub's 229).
    await waitFor(async () => (await page.locator('dd[data-field="voltage_v"]').textContent())?.trim() !== '229 V', 'a live reading');
    // Registry actions are for administrators: an operator is not offered them.
    expect(await page.getByRole('button', { name: 'Rotate secret' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Disable' }).count()).toBe(0);
    await screenshot(page, 'device');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('sends a reboot and follows it to the confirmed result, recorded as the operator', async () => {
    await page.getByRole('button', { name: 'reboot', exact: true }).click();
    await page.locator('li[data-command="reboot"][data-status="succeeded"]').waitFor({ timeout: 30_000 });
    const list = (await api('GET', `/devices/${DEVICE}/commands`)).items as { name: string; status: string; requestedBy: string }[];
    expect(list.find((c) => c.name === 'reboot')).toMatchObject({ status: 'succeeded', requestedBy: operatorId });
  });

  it('changes a twin setting with the version guard; the charger applies and reports it', async () => {
    await page.getByLabel('Current limit (A)').fill('20');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/Saved version 1/).waitFor();
    const twin = await waitFor(async () => {
      const t = (await api('GET', `/devices/${DEVICE}/twin`)) as { desired: { settings: Record<string, number>; updatedBy: string }; reported: { settings: Record<string, number> }; inSync: boolean };
      return t.inSync ? t : undefined;
    }, 'twin in sync', 30_000);
    expect(twin.desired).toMatchObject({ settings: { current_limit_a: 20 }, updatedBy: operatorId });
    expect(twin.reported.settings.current_limit_a).toBe(20);
    // A second tab saving against the old version is refused, not silently merged.
    const stale = await fetch(`${cloud.url}/api/v1/devices/${DEVICE}/twin/desired`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'if-match': '"0"' }, body: JSON.stringify({ settings: { current_limit_a: 10 } }) });
    expect(stale.status).toBe(409);
  });

  it('an operator sets a site power cap (audited as them); the fleet shows it while that site is picked', async () => {
    const put = await page.evaluate(async () => {
      const r = await fetch('/api/v1/sites/site-00/power-cap', { method: 'PUT', credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-yulan-purpose': 'operator console' }, body: JSON.stringify({ capW: 22000 }) });
      return { status: r.status, body: (await r.json()) as { updatedBy: string } };
    });
    expect(put).toMatchObject({ status: 200, body: { updatedBy: operatorId } });
    await page.goto(`${cloud.url}/#/`);
    await page.getByText(`${N} devices`).waitFor();
    const siteFilter = page.locator('.filters label').filter({ hasText: /^Site/ }).locator('select');
    await siteFilter.selectOption('site-00');
    await page.getByRole('heading', { name: 'Site power cap — site-00' }).waitFor();
    await page.locator('[data-cap-w="22000"]').waitFor();
    // The simulated charger is site-00's one online charger: the whole cap is its share.
    await page.locator('.site-cap tr', { hasText: DEVICE }).filter({ hasText: '22,000 W' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await siteFilter.selectOption('site-01');
    await page.getByText(/No power cap for this site/).waitFor();
    // Set and remove from the card itself: a unit typo is refused before it is sent.
    const capInput = page.getByLabel('Cap (W, whole watts)');
    await capInput.fill('30kW');
    await page.getByRole('button', { name: 'Set cap' }).click();
    await page.locator('.site-cap [role="alert"]', { hasText: '30kW' }).waitFor();
    await capInput.fill('30000');
    await page.getByRole('button', { name: 'Set cap' }).click();
    await page.locator('[data-cap-w="30000"]').waitFor();
    const stored = (await api('GET', '/sites/site-01/power-cap')) as { capW: number; updatedBy: string };
    expect(stored).toMatchObject({ capW: 30000, updatedBy: operatorId });
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Remove cap' }).click();
    await page.getByText(/Cap removed/).waitFor();
    await page.getByText(/No power cap for this site/).waitFor();
    const audit = (await api('GET', '/sites/site-01/power-cap/audit')) as { items: { action: string; actor: string }[] };
    expect(audit.items.map((i) => [i.action, i.actor])).toEqual([['clear', operatorId], ['set', operatorId]]);
    expect(await axeViolations(page)).toEqual([]);
    await siteFilter.selectOption('');
  });

  it('pauses and resumes a running campaign from the firmware screen', async () => {
    const img = randomBytes(4096);
    const signature = sign(null, createHash('sha256').update(img).digest(), signKey).toString('base64');
    const up = await fetch(`${cloud.url}/api/v1/firmware?${new URLSearchParams({ version: '2.0.0', kind: 'parcel-locker', key_id: 'k1', signature })}`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/octet-stream' }, body: img,
    });
    expect(up.status, await up.clone().text()).toBe(201);
    // 100 offline lockers at site-01, spread over an hour: it stays running until paused.
    const campaign = await api('POST', '/campaigns', { firmwareId: ((await up.json()) as { id: string }).id, target: { kind: 'parcel-locker', sites: ['site-01'] }, spreadSec: 3600 });
    await page.getByRole('link', { name: 'Firmware' }).click();
    const row = page.locator(`tr[data-campaign="${String(campaign.id)}"]`);
    await page.locator(`tr[data-campaign="${String(campaign.id)}"][data-status="running"]`).waitFor();
    await row.getByRole('button', { name: 'Pause' }).click();
    await page.locator(`tr[data-campaign="${String(campaign.id)}"][data-status="paused"]`).waitFor();
    expect((await api('GET', `/campaigns/${String(campaign.id)}`)).status).toBe('paused');
    await screenshot(page, 'firmware');
    expect(await axeViolations(page)).toEqual([]);
    await row.getByRole('button', { name: 'Resume' }).click();
    await page.locator(`tr[data-campaign="${String(campaign.id)}"][data-status="running"]`).waitFor();
  });

  it('lists an open alert on the alerts screen (operators see alerts of unassigned devices)', async () => {
    const t = Date.now();
    const alert = { id: `al_console${t}`, revision: 1, deviceId: 'fall-sensor-00002', site: 'site-02', type: 'sos', level: 'urgent', state: 'open', skipCancelWindow: true,
      openedAtMs: t, updatedAtMs: t, firstEventAtMs: t - 200, lastEventAtMs: t - 200, eventCount: 1, events: [{ type: 'sos.pressed', atMs: t - 200, seq: 7 }], message: 'SOS pressed' };
    const r = await fetch(`${cloud.url}/api/v1/internal/alerts`, { method: 'POST', headers: { authorization: `Bearer ${edge.token}`, 'content-type': 'application/json' }, body: JSON.stringify(alert) });
    expect(r.status).toBe(200);
    await page.getByRole('link', { name: 'Alerts' }).click();
    const row = page.locator(`tr[data-alert="${alert.id}"]`);
    await row.waitFor();
    expect(await row.innerText()).toContain('fall-sensor-00002');
    expect(await row.innerText()).toContain('urgent');
    await row.getByRole('link', { name: 'fall-sensor-00002' }).waitFor();
  });

  it('works from the keyboard and at tablet portrait width (768 px) without sideways scrolling', async () => {
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    await page.setViewportSize({ width: 768, height: 1024 });
    await page.getByRole('link', { name: 'Fleet' }).click();
    await page.getByText(`${N} devices`).waitFor();
    expect(await overflow()).toBeLessThanOrEqual(1);
    // The skip link moves focus to the content; the search takes typing; a row link opens with Enter.
    await page.locator('a.skip').focus();
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    await page.getByLabel('Search id or name').focus();
    await page.keyboard.type('00040');
    await page.getByText('1 devices').waitFor();
    await page.getByRole('link', { name: DEVICE }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: DEVICE }).waitFor();
    await page.locator('.chart canvas').waitFor();
    expect(await overflow()).toBeLessThanOrEqual(1);
    await page.setViewportSize({ width: 1024, height: 768 });
  });

  it('shows the alerts and firmware screens; axe-core finds nothing on any screen in Chinese either', async () => {
    await page.getByRole('link', { name: 'Alerts' }).click();
    await page.getByRole('heading', { name: 'Open alerts' }).waitFor();
    await screenshot(page, 'alerts');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('link', { name: 'Firmware' }).click();
    await page.getByRole('heading', { name: 'Campaigns' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('button', { name: '中文' }).click();
    await page.locator('html[lang="zh-CN"]').waitFor();
    await page.getByRole('heading', { name: '升级任务' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    for (const [link, heading] of [['告警', '未结告警'], ['设备总览', '设备总览']] as const) {
      await page.getByRole('link', { name: link }).click();
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      expect(await axeViolations(page), heading).toEqual([]);
    }
    await page.getByText(`${N} 台设备`).waitFor();
    await screenshot(page, 'fleet-zh');
    await page.getByLabel('搜索编号或名称').fill('ev-charger-00000');
    await page.getByText('1 台设备').waitFor();
    await page.getByRole('link', { name: 'ev-charger-00000' }).click();
    await page.locator('.chart canvas').waitFor();
    expect(await axeViolations(page), 'device page zh-CN').toEqual([]);
    await page.getByRole('button', { name: '退出' }).click();
    await page.getByRole('heading', { name: '登录' }).waitFor();
    expect(await axeViolations(page), 'sign-in zh-CN').toEqual([]);
    expect(problems).toEqual([]);
  });
});
