/// <reference lib="dom" />
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeViolations, CHROMIUM, CHROMIUM_ARGS, screenshot } from '../../dashboards/test/console-support.js';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { ForeignCharger } from './foreign-charger.js';
import { logger, startPlatform, waitFor, type Platform } from './harness.js';

/**
 * The operator console (built pages, headless Chromium) on an OCPP charger played by
 * ocpp-ts through the real gateway, broker, cloud and edge: the device page shows it
 * online, each connector's status and readings, a remote stop sent from the page
 * followed to the result the charger's own reports confirm, and a current limit set on
 * the page applied by the charger.
 */
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI for the console test`);

const ID = 'ACME-CP9';
const PASSWORD = 'operator password 5678';
const now = () => new Date().toISOString();

describe.runIf(haveChromium)('an OCPP charger in the operator console', () => {
  let p: Platform;
  let gw: OcppGatewayHandle;
  let cp: ForeignCharger;
  let browser: Browser;
  let page: Page;
  let txId = 0;
  const problems: string[] = [];

  beforeAll(async () => {
    p = await startPlatform({}, { console: true });
    gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
    const key = await p.addCharger(ID, 'console');
    expect((await p.api('/api/v1/id-tags', { method: 'POST', json: { tag: 'RFID-CONSOLE' } })).status).toBe(201);
    expect((await p.api('/api/v1/people', { method: 'POST', json: { login: 'wang.lei', name: '王磊', role: 'operator', password: PASSWORD } })).status).toBe(201);
    await gw.idTags.sync();
    cp = await ForeignCharger.connect(gw.url, ID, key);
    expect(await cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'DC50', firmwareVersion: '3.1.0' })).toMatchObject({ status: 'Accepted' });
    // Two connectors: 2 idle, 1 charging with a full set of meter values.
    await cp.call('StatusNotification', { connectorId: 2, errorCode: 'NoError', status: 'Available', timestamp: now() });
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: now() });
    txId = (await cp.call<{ transactionId: number }>('StartTransaction', { connectorId: 1, idTag: 'RFID-CONSOLE', meterStart: 20_000, timestamp: now() })).transactionId;
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: now() });
    await cp.call('MeterValues', { connectorId: 1, transactionId: txId, meterValue: [{ timestamp: now(), sampledValue: [
      { value: '23.5', measurand: 'Energy.Active.Import.Register', unit: 'kWh' },
      { value: '22.1', measurand: 'Power.Active.Import', unit: 'kW' },
      { value: '32', measurand: 'Current.Import', phase: 'L1', unit: 'A' },
      { value: '230', measurand: 'Voltage', phase: 'L1-N', unit: 'V' },
      { value: '47', measurand: 'SoC', unit: 'Percent' },
    ] }] });
    await waitFor(async () => {
      const r = await p.api<{ points: { fields: Record<string, unknown> }[] }>(`/api/v1/devices/${ID}/telemetry?resolution=raw`);
      return r.body.points.some((pt) => pt.fields.soc_pct === 47) || undefined;
    }, 'meter values stored');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 }, bypassCSP: true, locale: 'en-US' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/401|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`); });
  });
  afterAll(async () => {
    await browser?.close();
    await cp?.close().catch(() => undefined);
    await gw?.close();
    await p?.close();
  });

  it('signs in and shows the charger online with each connector\'s status and readings', async () => {
    await page.goto(`${p.cloudUrl}/`);
    await page.getByLabel('Login').fill('wang.lei');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('王磊 (operator)').waitFor();
    await page.goto(`${p.cloudUrl}/#/device/${ID}`);
    await page.getByRole('heading', { level: 1, name: ID }).waitFor();
    expect((await page.locator('p.meta .badge').textContent())?.trim()).toBe('Online');
    expect(await page.locator('p.meta').textContent()).toContain('3.1.0');
    const one = page.locator('.connectors tr[data-connector="1"]');
    await one.waitFor();
    expect(await one.locator('td[data-field="status"]').textContent()).toBe('Charging');
    expect(await one.locator('td[data-field="power_w"]').textContent()).toBe('22100 W');
    expect(await one.locator('td[data-field="energy_kwh"]').textContent()).toBe('3.50 kWh');
    expect(await one.locator('td[data-field="soc_pct"]').textContent()).toBe('47 %');
    expect(await page.locator('.connectors tr[data-connector="2"] td[data-field="status"]').textContent()).toBe('Available');
    // The live card: the newest reading (connector 1's meter values), labelled.
    expect(await page.locator('dd[data-field="current_a"]').textContent()).toBe('32 A');
    expect(await page.locator('dd[data-field="soc_pct"]').textContent()).toBe('47 %');
    // Firmware history: the version its BootNotification announced (from the edge's presence records).
    await page.locator('ol.versions li[data-version="3.1.0"]').waitFor();
    // The history chart reads the real edge (which answers at most 10,000 points a query).
    await page.locator('.chart canvas').waitFor();
    await page.locator('.chart:not([data-points="0"])').waitFor();
    await screenshot(page, 'ocpp-charger');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('sends a remote stop from the page; the charger stops and the page shows it succeeded', async () => {
    const seen = cp.received.length;
    const form = page.locator('form[aria-label="charger.stop_session"]');
    await form.getByLabel('connector_id').fill('1');
    await form.getByRole('button', { name: 'charger.stop_session' }).click();
    expect(await cp.waitForCall('RemoteStopTransaction', seen)).toEqual({ transactionId: txId });
    await page.locator('li[data-command="charger.stop_session"][data-status="acknowledged"]').waitFor();
    await cp.call('StopTransaction', { transactionId: txId, idTag: 'RFID-CONSOLE', meterStop: 24_000, timestamp: now(), reason: 'Remote' });
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Finishing', timestamp: now() });
    await page.locator('li[data-command="charger.stop_session"][data-status="succeeded"]').waitFor({ timeout: 30_000 });
    // The connector row follows the charger's report live.
    await page.locator('.connectors tr[data-connector="1"] td[data-field="status"]', { hasText: 'Finishing' }).waitFor();
    expect(await page.locator('.connectors tr[data-connector="1"] td[data-field="power_w"]').textContent()).toBe('0 W');
    await page.locator('ul.events li', { hasText: 'charger.session_stopped' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
  });

  it('sets a current limit from the twin card; the charger gets SetChargingProfile and the page shows it applied', async () => {
    const seen = cp.received.length;
    await page.getByLabel('Current limit (A)').fill('16');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/Saved version 1/).waitFor();
    const profile = await cp.waitForCall('SetChargingProfile', seen);
    expect(profile).toMatchObject({ connectorId: 0, csChargingProfiles: { chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] } } });
    await page.locator('tr:has(#twin-current_limit_a) td:nth-child(3)', { hasText: '16' }).waitFor();
    expect((await page.locator('#twin-title .badge').textContent())?.trim()).toBe('in sync');
  });

  it('reserves a connector from the page, shows the reservation id, and cancels it with that id', async () => {
    let seen = cp.received.length;
    const expiry = new Date(Date.now() + 30 * 60_000).toISOString();
    const reserve = page.locator('form[aria-label="charger.reserve_now"]');
    await reserve.getByLabel('connector_id').fill('2');
    await reserve.getByLabel('id_tag', { exact: true }).fill('RFID-CONSOLE');
    await reserve.getByLabel('expiry').fill(expiry);
    // parent_id_tag is optional: left blank, not sent
    await reserve.getByRole('button', { name: 'charger.reserve_now' }).click();
    const call = await cp.waitForCall('ReserveNow', seen);
    expect(call).toMatchObject({ connectorId: 2, idTag: 'RFID-CONSOLE', expiryDate: expiry });
    expect(call).not.toHaveProperty('parentIdTag');
    const id = String(call.reservationId);
    await page.locator('li[data-command="charger.reserve_now"][data-status="succeeded"]', { hasText: `reservation_id=${id}` }).waitFor({ timeout: 30_000 });
    seen = cp.received.length;
    const cancel = page.locator('form[aria-label="charger.cancel_reservation"]');
    await cancel.getByLabel('reservation_id').fill(id);
    await cancel.getByRole('button', { name: 'charger.cancel_reservation' }).click();
    expect(await cp.waitForCall('CancelReservation', seen)).toEqual({ reservationId: Number(id) });
    await page.locator('li[data-command="charger.cancel_reservation"][data-status="succeeded"]').waitFor({ timeout: 30_000 });
    expect(await axeViolations(page)).toEqual([]);
  });

  it('reads the same in Chinese, axe-clean', async () => {
    await page.getByRole('button', { name: '中文' }).click();
    await page.locator('html[lang="zh-CN"]').waitFor();
    await page.getByRole('heading', { level: 2, name: '充电枪' }).waitFor();
    expect(await page.locator('.connectors tr[data-connector="2"] td[data-field="status"]').textContent()).toBe('空闲');
    expect(await page.locator('.connectors tr[data-connector="1"] td[data-field="status"]').textContent()).toBe('结束中');
    expect(await axeViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  });
});
