/// <reference lib="dom" />
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig, startCloud, type CloudHandle } from '@yulan/cloud';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, type EdgeStub, type TestBroker } from '../../cloud/test/helpers.js';
import { axeViolations, CHROMIUM, CHROMIUM_ARGS } from './console-support.js';

/**
 * A charger's page lists the diagnostics files the cloud holds (docs/ocpp.md §4.2), each a
 * download link that works with the operator's session; other kinds have no such card.
 * Headless Chromium against a running cloud (real broker, SQLite). Built pages (npm run build).
 */
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI for the console test`);

const ADMIN = 'console-admin-token-0123456789abcdef';
const GATEWAY = 'console-gateway-token-0123456789abcdef';
const PASSWORD = 'operator password 1234';

describe.runIf(haveChromium)('console: diagnostics files on a charger\'s page', () => {
  const tmp = tempDir('yulan-console-diag-');
  let broker: TestBroker; let edge: EdgeStub; let cloud: CloudHandle; let browser: Browser; let page: Page;
  const body = Buffer.from('charger boot log\n\u0000\u00ff binary tail');
  const sha = createHash('sha256').update(body).digest('hex');
  let fileId = '';
  const problems: string[] = [];
  const api = async (method: string, path: string, json?: unknown): Promise<Record<string, unknown>> => {
    const r = await fetch(`${cloud.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, ...(json ? { 'content-type': 'application/json' } : {}) }, ...(json ? { body: JSON.stringify(json) } : {}) });
    expect(r.status, `${method} ${path}: ${await r.clone().text()}`).toBeLessThan(300);
    return (await r.json()) as Record<string, unknown>;
  };

  beforeAll(async () => {
    broker = await startBroker({ cloud: 'cloud-pass' });
    edge = await startEdgeStub();
    cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, 'cloud-pass', { YULAN_ADMIN_TOKEN: ADMIN, YULAN_GATEWAY_TOKEN: GATEWAY })), silentLogger);
    await api('POST', '/devices', { id: 'CP-PAGE', site: 'xuhui', kind: 'ev-charger' });
    await api('POST', '/devices', { id: 'ENV-PAGE', site: 'xuhui', kind: 'env-monitor' });
    const q = new URLSearchParams({ device: 'CP-PAGE', command: 'cmd-1', file: '2026-06-01T00-00-00-000Z-logs.tar.gz', contentType: 'application/gzip', sha256: sha, uploadedAt: '2026-06-01T00:00:00.000Z' });
    const r = await fetch(`${cloud.url}/api/v1/internal/ocpp/diagnostics?${q}`, { method: 'POST', body, headers: { authorization: `Bearer ${GATEWAY}`, 'content-type': 'application/octet-stream' } });
    expect(r.status).toBe(201);
    fileId = ((await r.json()) as { id: string }).id;
    await api('POST', '/people', { login: 'chen.jing', name: '陈静', role: 'operator', password: PASSWORD });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 }, bypassCSP: true, locale: 'en-US' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
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

  it('the charger\'s page links each file; the link downloads the same bytes with the operator\'s session', async () => {
    await page.goto(`${cloud.url}/#/device/CP-PAGE`);
    await page.getByRole('heading', { level: 1, name: 'CP-PAGE' }).waitFor();
    const link = page.getByRole('link', { name: '2026-06-01T00-00-00-000Z-logs.tar.gz' });
    await link.waitFor();
    const href = await link.getAttribute('href');
    expect(href).toBe(`/api/v1/devices/CP-PAGE/diagnostics/${fileId}`);
    const got = await page.evaluate(async (h) => {
      const r = await fetch(h!, { credentials: 'same-origin' });
      return { status: r.status, etag: r.headers.get('etag'), bytes: [...new Uint8Array(await r.arrayBuffer())] };
    }, href);
    expect(got.status).toBe(200);
    expect(got.etag).toBe(`"${sha}"`);
    expect(Buffer.from(got.bytes).equals(body)).toBe(true);
    expect(await axeViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('a device of another kind has no diagnostics card', async () => {
    await page.goto(`${cloud.url}/#/device/ENV-PAGE`);
    await page.getByRole('heading', { level: 1, name: 'ENV-PAGE' }).waitFor();
    await page.getByRole('heading', { name: 'Events' }).waitFor();
    expect(await page.getByRole('heading', { name: 'Diagnostics files' }).count()).toBe(0);
  });
});
