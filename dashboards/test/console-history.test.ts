/// <reference lib="dom" />
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig, startCloud, type CloudHandle } from '@yulan/cloud';
import { solve } from '../../cloud/src/open/proof-of-work.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, waitFor, type EdgeStub, type TestBroker } from '../../cloud/test/helpers.js';
import { axeViolations, CHROMIUM, CHROMIUM_ARGS, screenshot, seedRegistry } from './console-support.js';

/**
 * The console's device history, firmware upload and complaints screens in headless
 * Chromium against a running cloud (real broker, SQLite registry of 200 devices, people,
 * firmware, complaints) and an edge stub answering presence history. Built pages
 * (npm run build).
 */
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI for the console test`);

const ADMIN = 'console-admin-token-0123456789abcdef';
const PASSWORD = 'operator password 1234';
const DEVICE = 'ev-charger-00040'; // site-00
const MONITOR = 'env-monitor-00003'; // site-03

describe.runIf(haveChromium)('console history, firmware upload and complaints in headless Chromium', () => {
  const tmp = tempDir('yulan-console-history-');
  let broker: TestBroker; let edge: EdgeStub; let cloud: CloudHandle; let browser: Browser; let page: Page;
  let signKey: ReturnType<typeof generateKeyPairSync>['privateKey'];
  let operatorId = '';
  let campaignId = '';
  const problems: string[] = [];
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${cloud.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    expect(r.status, `${method} ${path}: ${await r.clone().text()}`).toBeLessThan(300);
    return (await r.json()) as Record<string, unknown>;
  };

  beforeAll(async () => {
    await seedRegistry(tmp.dir, 200);
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    signKey = privateKey;
    writeFileSync(join(tmp.dir, 'keys.json'), JSON.stringify([{ id: 'k1', publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }]));
    broker = await startBroker({ cloud: 'cloud-pass' });
    edge = await startEdgeStub();
    const t = Date.now();
    // Online since two hours ago, a 20-minute outage, back with new firmware.
    edge.presence = { [DEVICE]: [
      { ts: t - 3 * 86_400_000, online: true, reason: 'birth', firmware: '1.0.0' },
      { ts: t - 40 * 60_000, online: false, reason: 'will', firmware: '' },
      { ts: t - 20 * 60_000, online: true, reason: 'birth', firmware: '1.1.0' },
    ] };
    edge.latest[MONITOR] = { ts: t - 5000, fields: { pm25_ugm3: 88, noise_dba: 71 } };
    // The edge reports the charger faulted (its newest reading carries a fault code).
    edge.faulted = [{ deviceId: DEVICE, site: 'site-00', kind: 'ev-charger', ts: t - 1000, reason: 'fault_code' }];
    cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, 'cloud-pass', { YULAN_ADMIN_TOKEN: ADMIN, YULAN_FIRMWARE_KEYS: join(tmp.dir, 'keys.json') })), silentLogger);
    operatorId = ((await api('POST', '/people', { login: 'chen.jing', name: '陈静', role: 'operator', password: PASSWORD })).person as { id: string }).id;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 }, bypassCSP: true, locale: 'en-US' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/401|400|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`); });
    await page.goto(`${cloud.url}/`);
    await page.getByLabel('Login').fill('chen.jing');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('陈静 (operator)').waitFor();
  });
  afterAll(async () => {
    await browser?.close();
    await cloud?.close(); await broker?.close(); await edge?.close();
    tmp.cleanup();
  });

  it('the fleet counts the faulted charger per site and kind and filters to it', async () => {
    await page.getByText('200 devices').waitFor();
    await page.locator('.stat[data-faulted="1"]').waitFor();
    await page.getByText('Devices by site and kind').click();
    const row = page.locator('details.counts tbody tr').filter({ hasText: 'site-00' }).filter({ hasText: /EV charger/i });
    expect((await row.locator('td').allInnerTexts()).at(-1)).toBe('1');
    await page.getByLabel('Faulted only').check();
    await page.getByText('1 devices').waitFor();
    await page.getByRole('link', { name: DEVICE }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Faulted only').uncheck();
    await page.getByText('200 devices').waitFor();
  });

  it('the device page shows its presence timeline and the firmware versions it reported', async () => {
    await page.goto(`${cloud.url}/#/device/${DEVICE}`);
    await page.getByRole('heading', { level: 1, name: DEVICE }).waitFor();
    const hint = page.locator('[data-changes]');
    await hint.waitFor();
    expect(await hint.getAttribute('data-changes')).toBe('2');
    expect(await page.locator('.timeline .seg.offline').count()).toBe(1);
    await page.getByText('Intervals (3)').click();
    expect(await page.locator('tr[data-state="offline"]').innerText()).toContain('will');
    // 24 hours start online: the record before the range (3 days ago) decides. A week starts
    // before the first record the edge holds: unknown until then, not guessed.
    expect(await page.locator('.timeline .seg.unknown').count()).toBe(0);
    await page.getByRole('button', { name: '7 days' }).click();
    await page.getByText('Intervals (4)').waitFor();
    expect(await page.locator('.timeline .seg.unknown').count()).toBe(1);
    await page.locator('li[data-version="1.1.0"]').waitFor();
    expect(await page.locator('ol.versions li').allInnerTexts()).toEqual([expect.stringContaining('1.1.0'), expect.stringContaining('1.0.0')]);
    await screenshot(page, 'device-history');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('uploads firmware from the page: a bad signature is refused with the reason, a good one is listed, and a campaign starts from it', async () => {
    await page.getByRole('link', { name: 'Firmware' }).click();
    await page.getByRole('heading', { name: 'Upload firmware' }).waitFor();
    const img = randomBytes(2048);
    const good = sign(null, createHash('sha256').update(img).digest(), signKey).toString('base64');
    const other = sign(null, createHash('sha256').update(randomBytes(16)).digest(), signKey).toString('base64');
    const fill = async (signature: string) => {
      await page.getByLabel('Image file').setInputFiles({ name: 'charger-1.2.0.bin', mimeType: 'application/octet-stream', buffer: img });
      await page.getByLabel('Version').fill('1.2.0');
      await page.getByLabel('Kind').first().selectOption('ev-charger');
      await page.getByLabel('Signing key id').fill('k1');
      await page.getByLabel(/^Signature/).fill(signature);
      await page.getByRole('button', { name: 'Upload firmware' }).click();
    };
    await fill(other);
    await page.locator('[data-upload-status="failed"]').getByText(/signature does not verify with key "k1"/).waitFor();
    expect(((await api('GET', '/firmware')).items as unknown[]).length).toBe(0);
    await fill(good);
    await page.getByText(/Uploaded: fw_/).waitFor();
    const fw = ((await api('GET', '/firmware')).items as { id: string; version: string }[])[0]!;
    expect(fw.version).toBe('1.2.0');
    // The same version again is a conflict, said on the page, not a second image.
    await fill(good);
    await page.locator('[data-upload-status="failed"]').waitFor();
    expect(((await api('GET', '/firmware')).items as unknown[]).length).toBe(1);

    const row = page.locator(`tr[data-firmware="${fw.id}"]`);
    await row.getByLabel('Site').fill('site-00');
    await row.getByLabel('Spread (min)').fill('60');
    await row.getByRole('button', { name: 'Start campaign ev-charger 1.2.0' }).click();
    const campaigns = await waitFor(async () => {
      const items = (await api('GET', '/campaigns')).items as { id: string; firmwareId: string; devices: number; target: { sites?: string[] } }[];
      return items.length > 0 ? items : undefined;
    }, 'a campaign');
    expect(campaigns[0]).toMatchObject({ firmwareId: fw.id, devices: 10, target: { sites: ['site-00'] } });
    campaignId = campaigns[0]!.id;
    const crow = page.locator(`tr[data-campaign="${campaignId}"]`);
    await crow.waitFor();
    expect(await crow.locator('td[data-rates]').innerText()).toBe('0% / 0%');
    await screenshot(page, 'firmware-upload');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('the device page lists the campaign that targets the device', async () => {
    await page.goto(`${cloud.url}/#/device/${DEVICE}`);
    const row = page.locator(`section[aria-labelledby="fwh-title"] tr[data-campaign="${campaignId}"]`);
    await row.waitFor();
    expect(await row.innerText()).toContain('1.2.0');
  });

  it('complaints: an operator opens one with its evidence, reveals the contact with a reason (audited under their id) and closes it', async () => {
    const challenge = (await (await fetch(`${cloud.url}/open/v1/complaints/challenge`)).json()) as { challenge: string; bits: number };
    const sent = await fetch(`${cloud.url}/open/v1/complaints`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ site: 'site-03', kind: 'smoke', contact: '138 0000 1234', challenge: challenge.challenge, nonce: solve(challenge.challenge, challenge.bits) }),
    });
    expect(sent.status, await sent.clone().text()).toBe(201);
    const { id, receipt } = (await sent.json()) as { id: string; receipt: string };
    await page.getByRole('link', { name: 'Complaints' }).click();
    await page.getByRole('heading', { level: 1, name: 'Complaints' }).waitFor();
    const row = page.locator(`tr[data-complaint="${id}"][data-status="open"]`);
    await row.waitFor();
    expect(await row.innerText()).not.toContain('138');
    await row.getByRole('button', { name: id }).click();
    const card = page.locator(`[data-open-complaint="${id}"]`);
    await card.getByText(MONITOR).waitFor();
    expect(await card.innerText()).toContain('88');
    expect(await card.locator('[data-contact]').count()).toBe(0);
    await screenshot(page, 'complaints');
    expect(await axeViolations(page)).toEqual([]);

    await card.getByLabel('Reason for revealing (audited)').fill('call back about the smoke');
    await card.getByRole('button', { name: 'Reveal contact' }).click();
    await card.locator('[data-contact]').getByText('138 0000 1234').waitFor();
    const audit = (await api('GET', `/complaints/${id}/audit`)).items as { actor: string; action: string; detail: string }[];
    expect(audit).toMatchObject([{ action: 'contact.read', detail: 'call back about the smoke' }]);
    expect(audit[0]!.actor.startsWith(`${operatorId}@`)).toBe(true);

    await card.getByLabel('Resolution (the reporter sees it)').fill('Inspected: a barbecue stall, moved');
    await card.getByRole('button', { name: 'Close complaint' }).click();
    await page.locator(`[data-open-complaint="${id}"]`).getByText(/Closed .*Inspected: a barbecue stall, moved/).waitFor();
    // The card shows the closed complaint before the list reloads: wait for the list to drop it
    // (it shows open ones) rather than reading it once.
    await page.locator(`tr[data-complaint="${id}"]`).waitFor({ state: 'detached' });
    const r = (await (await fetch(`${cloud.url}/open/v1/complaints/receipt/${receipt}`)).json()) as { status: string };
    expect(r.status).toBe('closed');
    // Closing erased the contact: there is nothing left to reveal.
    expect((await api('GET', `/complaints/${id}?contact=true&reason=again`)).contact).toBeUndefined();
  });

  it('axe-core finds nothing on the new screens in Chinese', async () => {
    await page.getByRole('button', { name: '中文' }).click();
    await page.locator('html[lang="zh-CN"]').waitFor();
    await page.getByRole('heading', { level: 1, name: '投诉' }).waitFor();
    await page.getByLabel('状态').selectOption('');
    await page.locator('tr[data-complaint]').first().waitFor();
    expect(await axeViolations(page), 'complaints zh-CN').toEqual([]);
    await page.getByRole('link', { name: '固件' }).click();
    await page.getByRole('heading', { name: '上传固件' }).waitFor();
    expect(await axeViolations(page), 'firmware zh-CN').toEqual([]);
    await page.goto(`${cloud.url}/#/device/${DEVICE}`);
    await page.locator('[data-changes]').waitFor();
    await page.locator('li[data-version="1.1.0"]').waitFor();
    expect(await axeViolations(page), 'device zh-CN').toEqual([]);
    expect(problems).toEqual([]);
  });
});
