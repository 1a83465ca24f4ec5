import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook, WebhookHeader } from '@yulan/protos';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { startBroker as startYulanBroker, type BrokerHandle } from '../../broker/src/index.js';
import { BROKER_TOKEN, CLOUD_PASSWORD, FakeDeviceAuth, logger as brokerLogger, testConfig } from '../../broker/test/helpers.js';
import { cloudEnv, deadUrl, silentLogger, startEdgeStub, tempDir, waitFor, type EdgeStub } from './helpers.js';

/**
 * The security monitor (ETSI EN 303 645 5.10-1) with real parts: the Yulan broker on a
 * port (its admin API), the cloud started as in production (startCloud, SQLite files),
 * real MQTT clients sending wrong passwords, and an operator's webhook receiving the
 * signed notices. Sampling every 200 ms; the mqtt-auth rule at 5 refusals within 3 s.
 */
const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const PASSWORD = 'a long enough password';
const tmp = tempDir('yulan-security-monitor-');
const auth = new FakeDeviceAuth();
let broker: BrokerHandle; let edge: EdgeStub; let cloud: CloudHandle;
let env: Record<string, string>;
let hook: Server; let hookSecret = '';
const notices: { event: string; alert: { id: number; rule: string }; valid: boolean }[] = [];
const cookies: Record<string, string> = {};

type Alert = { id: number; rule: string; openedAt: string; closedAt: string | null; events: number; openedCount: number; delivery: string | null };
type Listing = { items: Alert[]; monitor: { samples: number; brokerSampleFailures: number; brokerReachable: boolean | null } };

async function api<T>(c: CloudHandle, path: string, who: 'token' | string = 'token', init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { ...(init.body ? { 'content-type': 'application/json' } : {}) };
  if (who === 'token') headers.authorization = `Bearer ${ADMIN}`;
  else headers.cookie = cookies[who]!;
  const r = await fetch(c.url + path, { ...init, headers });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
}
const alerts = async (c: CloudHandle = cloud): Promise<Listing> => (await api<Listing>(c, '/api/v1/security/alerts')).body;

/** Wrong passwords for dev-1 until `stop()`; each is refused with CONNACK 5 by the broker. */
function sprayWrongPasswords(): { stop: () => Promise<void>; sent: () => number } {
  let running = true; let sent = 0;
  const loop = (async () => {
    while (running) {
      await connectAsync(`mqtt://127.0.0.1:${broker.mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'dev-1', username: 'dev-1', password: `wrong-${sent}` })
        .then((c) => c.endAsync(true), () => undefined);
      sent++;
    }
  })();
  return { stop: async () => { running = false; await loop; }, sent: () => sent };
}

beforeAll(async () => {
  auth.add('dev-1');
  broker = await startYulanBroker(await testConfig(tmp.dir), brokerLogger, { deviceAuth: auth });
  edge = await startEdgeStub();
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString('utf8'); });
    req.on('end', () => {
      const check = verifyWebhook(hookSecret, req.headers[WebhookHeader.Timestamp] as string | undefined, req.headers[WebhookHeader.Signature] as string | undefined, body);
      const n = JSON.parse(body) as { event: string; alert: { id: number; rule: string } };
      notices.push({ ...n, valid: check.ok });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  env = cloudEnv(tmp.dir, { url: `mqtt://127.0.0.1:${broker.mqttPort}`, published: [], close: async () => undefined }, edge, CLOUD_PASSWORD, {
    YULAN_ADMIN_TOKEN: ADMIN, YULAN_BROKER_TOKEN: BROKER_TOKEN, YULAN_BROKER_ADMIN_URL: `http://127.0.0.1:${broker.wsPort}`,
    YULAN_SECURITY_SAMPLE_MS: '200', YULAN_SECURITY_RULES: 'mqtt-auth=5/3',
  });
  cloud = await startCloud(loadCloudConfig(env), silentLogger, { dashboardDir: null });
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/security`;
  for (const role of ['operator', 'family']) {
    const created = await api<{ webhookSecrets: { secret: string }[] }>(cloud, '/api/v1/people', 'token', {
      method: 'POST', body: JSON.stringify({ login: `p-${role}`, name: role, role, password: PASSWORD, ...(role === 'operator' ? { channels: [{ type: 'webhook', address: hookUrl }] } : {}) }),
    });
    expect(created.status).toBe(201);
    if (role === 'operator') hookSecret = created.body.webhookSecrets[0]!.secret;
    const login = await fetch(`${cloud.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: `p-${role}`, password: PASSWORD }) });
    cookies[role] = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  }
});
afterAll(async () => {
  await cloud?.close(); await edge?.close(); await broker?.close();
  await new Promise<void>((resolve) => hook ? hook.close(() => resolve()) : resolve());
  tmp.cleanup();
});

describe('security alerts from the broker\'s counters', () => {
  it('a burst of wrong passwords opens exactly one alert; going on updates it, a restart does not duplicate it; calm closes it', async () => {
    await waitFor(async () => (await alerts()).monitor.brokerReachable === true, 'the monitor reading the broker');
    const spray = sprayWrongPasswords();
    let firstId = 0;
    try {
      const first = await waitFor(async () => (await alerts()).items[0], 'a security alert');
      expect(first).toMatchObject({ rule: 'mqtt-auth', closedAt: null });
      expect(first.openedCount).toBeGreaterThanOrEqual(5);
      firstId = first.id;
      // going on: the same alert counts more events, no second one opens
      await waitFor(async () => ((await alerts()).items[0]?.events ?? 0) >= first.events + 20, 'the open alert counting the continuing burst', 30_000);
      let listed = (await alerts()).items;
      expect(listed.map((a) => [a.id, a.closedAt])).toEqual([[first.id, null]]);

      // a restart of the cloud while the burst goes on: the stored alert stays the one alert
      await cloud.close();
      cloud = await startCloud(loadCloudConfig(env), silentLogger, { dashboardDir: null });
      const before = (await alerts()).items[0]!.events;
      await waitFor(async () => (await alerts()).monitor.samples >= 2 && ((await alerts()).items[0]?.events ?? 0) > before, 'the restarted monitor counting on the same alert', 30_000);
      listed = (await alerts()).items;
      expect(listed.map((a) => [a.id, a.closedAt])).toEqual([[first.id, null]]);
    } finally {
      await spray.stop();
    }
    // calm: the alert closes once a whole window passes without the rate
    const closed = await waitFor(async () => (await alerts()).items.find((a) => a.closedAt !== null), 'the alert closed after the burst', 30_000);
    expect(closed.id).toBe(firstId);
    expect((await alerts()).items).toHaveLength(1);
    // the operator was told twice (opened, closed), signed with their channel's secret; the family member never
    await waitFor(() => notices.some((n) => n.event === 'security.alert.closed'), 'the closing notice');
    expect(notices.map((n) => [n.event, n.alert.id, n.valid])).toEqual([['security.alert.opened', closed.id, true], ['security.alert.closed', closed.id, true]]);
    // the delivery is recorded once the send returns, after the receiver has the notice
    const delivered = await waitFor(async () => (await alerts()).items.find((a) => a.id === closed.id && a.delivery?.includes('closed:')), 'the closing delivery recorded');
    expect(delivered.delivery).toMatch(/^opened: webhook:\S+ sent \| closed: webhook:\S+ sent$/);
    // audited
    const audit = await api<{ items: { actor: string; action: string; detail: string | null }[] }>(cloud, '/api/v1/audit?actor=security-monitor');
    expect(audit.body.items.map((e) => e.action)).toEqual(['security.alert.closed', 'security.alert.opened']);
  });

  it('a new burst after the calm is a new episode: a second alert', async () => {
    const openBefore = (await alerts()).items.length;
    const spray = sprayWrongPasswords();
    try {
      await waitFor(async () => (await alerts()).items.length === openBefore + 1, 'a second episode');
    } finally {
      await spray.stop();
    }
    const [newest, older] = (await alerts()).items;
    expect(newest!.id).toBeGreaterThan(older!.id);
    expect(older!.closedAt).not.toBeNull();
  });

  it('operators and admins list alerts; care roles are refused', async () => {
    expect((await api<Listing>(cloud, '/api/v1/security/alerts?open=false', 'operator')).status).toBe(200);
    expect((await api<Listing>(cloud, '/api/v1/security/alerts', 'family')).status).toBe(403);
    expect((await fetch(`${cloud.url}/api/v1/security/alerts`)).status).toBe(401);
  });
});

describe('security monitor when the broker\'s admin API is down', () => {
  it('counts and goes on, raises no broker alert, and still watches the cloud\'s own counters', async () => {
    const down = await startCloud(loadCloudConfig({
      ...env, YULAN_DATA_DIR: `${tmp.dir}/down`, YULAN_BROKER_ADMIN_URL: await deadUrl(), YULAN_SECURITY_RULES: 'mqtt-auth=1/60,sign-in=3/60',
    }), silentLogger, { dashboardDir: null });
    try {
      await waitFor(async () => (await alerts(down)).monitor.brokerSampleFailures >= 3, 'failed samples counted');
      const state = await alerts(down);
      expect(state.monitor.brokerReachable).toBe(false);
      expect(state.items).toEqual([]);
      // the cloud's own rules work meanwhile: wrong sign-ins open a sign-in alert
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${down.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: 'nobody', password: 'wrong password here' }) });
        expect([401, 429]).toContain(r.status);
      }
      const a = await waitFor(async () => (await alerts(down)).items[0], 'a sign-in alert');
      expect(a.rule).toBe('sign-in');
      expect((await alerts(down)).items.map((x) => x.rule)).toEqual(['sign-in']);
    } finally {
      await down.close();
    }
  });
});
