/// <reference lib="dom" />
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFleet, type FleetHandle } from '@yulan/device-sims';
import { runUp, type UpHandle } from '../src/up.js';
import { api, eventually, quietLogger, tempDir } from './support.js';

const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI for the care page end-to-end test`);
  console.warn(`care-page-e2e.test.ts: ${CHROMIUM} not found; skipping`);
}
const PASSWORD = 'correct horse battery staple';

/**
 * The whole path a family member depends on, with nothing faked: a simulated fall sensor
 * falls and lies still → broker → edge rules → cloud ladder → the daughter's care page in
 * Chromium (over SSE); she taps "I'm handling it", and the ladder stops: the son, next on
 * the ladder, is never paged.
 */
describe.runIf(existsSync(CHROMIUM))('care page, end to end from a simulated fall', () => {
  const tmp = tempDir('yulan-care-e2e-');
  let up: UpHandle;
  let fleet: FleetHandle;
  let browser: Browser;
  let hook: Server;
  const sonPages: string[] = [];
  let sonId = '';
  let base = '';

  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => { sonPages.push(body); res.writeHead(204).end(); });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_OCPP_PORT: '0', YULAN_SIM_OCPP: '0', YULAN_SIM_DEVICES: '0',
    }, quietLogger, () => {});
    base = `http://127.0.0.1:${up.httpPort}`;
    const token = up.adminToken!;
    // One fall sensor whose radar confirms a long lie 3 s after the fall (2 min by default).
    fleet = await runFleet({
      kinds: ['fall-sensor'], countPerKind: 1, sites: ['xuhui'], ratePerDevice: 1, qos: 1, seed: 7,
      mqttUrl: `mqtt://127.0.0.1:${up.mqttPort}`, cloud: { url: base, adminToken: token },
      modelOverrides: { fallSensor: { longLieAfterMs: 3000, fallsPerDay: 0, sosPerDay: 0 } },
    }, quietLogger);
    await fleet.ready();
    const deviceId = fleet.devices[0]!.id;
    const ok = async (method: string, path: string, body?: unknown) => {
      const r = await api<Record<string, unknown>>(base, token, `/api/v1${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };
    await ok('POST', '/communities', { id: 'tianping', name: 'Tianping' });
    const daughter = (await ok('POST', '/people', { login: 'daughter', name: 'Li Wei', role: 'family', locale: 'en', password: PASSWORD, channels: [{ type: 'app', address: '' }] })).person as { id: string };
    const son = (await ok('POST', '/people', { login: 'son', name: 'Li Qiang', role: 'family', locale: 'en', channels: [{ type: 'webhook', address: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/son` }] })).person as { id: string };
    await ok('POST', '/residents', { id: 'wang', name: 'Wang Fang', communityId: 'tianping', ladder: { cancelWindowSec: 0, familyAckSec: 30 } });
    await ok('PUT', '/residents/wang/devices', { deviceIds: [deviceId] });
    await ok('PUT', '/residents/wang/family', { contacts: [{ userId: daughter.id }, { userId: son.id }] });
    sonId = son.id;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await fleet?.close();
    await up?.close();
    await new Promise((r) => hook?.close(r));
    tmp.cleanup();
  });

  it('shows the fall live, takes the tap, and the ladder stops', async () => {
    const ctx = await browser.newContext({ viewport: { width: 360, height: 780 }, locale: 'en-US', hasTouch: true });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/care/`);
    await page.getByLabel(/Login/).fill('daughter');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-resident-id="wang"]').getByText('Wang Fang').waitFor();
    await page.locator('#live[data-state="live"]').waitFor();

    fleet.scenario(fleet.devices[0]!.id, 'confirmed-fall');
    // Stage 1 (unconfirmed) may show first; the long lie makes it urgent and pages her.
    const card = page.locator('[data-alert-id][data-level="urgent"]');
    await card.waitFor({ timeout: 30_000 });
    await card.getByRole('button', { name: "I'm handling it" }).tap();
    await card.locator('[data-role="status"]', { hasText: 'Being handled by Li Wei (you)' }).waitFor();

    const alertId = (await card.getAttribute('data-alert-id'))!;
    const detail = await api<{
      alert: { status: string; type: string; level: string; nextDueAtMs: number | null };
      timeline: { kind: string }[]; notifications: { userId: string; kind: string }[]; metrics: Record<string, number | null>;
    }>(base, up.adminToken!, `/api/v1/alerts/${alertId}`);
    // The claim stopped the ladder: no timer left, so the son's step (due 30 s after the
    // daughter's page) can never come; he was sent no page.
    expect(detail.body.alert).toMatchObject({ status: 'acknowledged', type: 'fall', level: 'urgent', nextDueAtMs: null });
    expect(detail.body.timeline.map((t) => t.kind)).toContain('claimed');
    expect(detail.body.metrics.acknowledgedMs).toBeGreaterThan(0);
    expect(detail.body.notifications.filter((n) => n.kind === 'page').map((n) => n.userId)).not.toContain(sonId);
    expect(sonPages.filter((b) => b.includes('"kind":"page"'))).toEqual([]);
    expect(errors).toEqual([]);
    await ctx.close();
  }, 120_000);

  it('keeps what it holds about the resident to the people allowed to see it', async () => {
    const login = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: 'daughter', password: PASSWORD }) });
    const { token } = (await login.json()) as { token: string };
    expect((await api(base, token, '/api/v1/residents/wang')).status).toBe(200);
    expect((await api(base, token, '/api/v1/residents/nobody')).status).toBe(404);
    // Her reads of his health data are in the audit log, with who and why.
    await api(base, token, '/api/v1/residents/wang/activity', { headers: { 'x-yulan-purpose': 'checking on dad' } });
    const audit = await eventually(async () => {
      const r = await api<{ items: { actor: string; purpose: string; residentId: string }[] }>(base, up.adminToken!, '/api/v1/audit?residentId=wang');
      return r.body.items.find((e) => e.purpose === 'checking on dad');
    }, 'audit entry');
    expect(audit.residentId).toBe('wang');
  });
});
