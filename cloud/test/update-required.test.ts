import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel, DeviceKind, Presence, deviceTopic } from '@yulan/protos';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, waitFor, type EdgeStub, type TestBroker } from './helpers.js';

/**
 * Minimum supported firmware per kind (ETSI EN 303 645 5.3-8/5.3-11): devices below it are
 * "update required" in the API, the security monitor opens one alert while any is left
 * and closes it once the last device reports a supported version over MQTT (presence).
 */
const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const users = { cloud: 'cloud-pass', dev: 'dev-pass' };
const tmp = tempDir('yulan-update-required-');
let broker: TestBroker; let edge: EdgeStub; let cloud: CloudHandle; let dev: MqttClient;
let env: Record<string, string>;
const cookies: Record<string, string> = {};

async function api<T>(path: string, init: RequestInit & { who?: string } = {}): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(init.who ? { cookie: cookies[init.who]! } : { authorization: `Bearer ${ADMIN}` }) };
  const r = await fetch(cloud.url + path, { ...init, headers });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
}
type Required = { total: number; items: { id: string; firmwareVersion: string | null; minimumVersion: string; security: boolean }[] };
type Alerts = { items: { id: number; rule: string; closedAt: string | null; openedCount: number }[] };
const updateAlerts = async () => (await api<Alerts>('/api/v1/security/alerts')).body.items.filter((a) => a.rule === 'update-required');

function reportVersion(id: string, version: string): Promise<unknown> {
  const topic = deviceTopic({ site: 'hongkou', kind: DeviceKind.ENV_MONITOR, deviceId: id }, Channel.Presence);
  return dev.publishAsync(topic, Buffer.from(Presence.encode({ deviceId: id, kind: DeviceKind.ENV_MONITOR, online: true, tsMs: Date.now(), firmwareVersion: version, reason: 'birth' })), { qos: 1, retain: true });
}

beforeAll(async () => {
  broker = await startBroker(users);
  edge = await startEdgeStub();
  env = cloudEnv(tmp.dir, broker, edge, users.cloud, { YULAN_ADMIN_TOKEN: ADMIN, YULAN_SECURITY_SAMPLE_MS: '200' });
  cloud = await startCloud(loadCloudConfig(env), silentLogger, { dashboardDir: null });
  dev = await mqtt.connectAsync(broker.url, { username: 'dev', password: users.dev, clientId: 'dev' });
  await waitFor(async () => ((await (await fetch(`${cloud.url}/healthz`)).json()) as { mqtt: boolean }).mqtt, 'cloud mqtt connected');
  for (const [id, version] of [['env-1', '1.0.0'], ['env-2', '1.6.0'], ['env-3', '1.2.0']] as const) {
    expect((await api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id, site: 'hongkou', kind: 'env-monitor', firmwareVersion: version }) })).status).toBe(201);
  }
  expect((await api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: 'env-4', site: 'hongkou', kind: 'env-monitor' }) })).status).toBe(201);
  expect((await api('/api/v1/devices/env-3/disable', { method: 'POST' })).status).toBe(200);
  for (const role of ['operator', 'family']) {
    expect((await api('/api/v1/people', { method: 'POST', body: JSON.stringify({ login: `p-${role}`, name: role, role, password: 'a long enough password' }) })).status).toBe(201);
    const login = await fetch(`${cloud.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: `p-${role}`, password: 'a long enough password' }) });
    cookies[role] = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  }
});
afterAll(async () => {
  await dev?.endAsync(); await cloud?.close(); await broker?.close(); await edge?.close();
  tmp.cleanup();
});

describe('update required', () => {
  it('nothing is required and no alert opens while no minimum is set', async () => {
    expect((await api<Required>('/api/v1/firmware/update-required')).body).toEqual({ total: 0, items: [] });
    await waitFor(async () => ((await api<{ monitor: { samples: number } }>('/api/v1/security/alerts')).body.monitor.samples >= 2), 'two samples');
    expect(await updateAlerts()).toEqual([]);
  });

  it('a security minimum flags the enabled devices below it (and one reporting no version), opens one alert, audited; it closes when the last one updates', async () => {
    const set = await api<{ version: string; security: boolean; setBy: string }>('/api/v1/firmware/minimum/env-monitor', { method: 'PUT', who: 'operator', body: JSON.stringify({ version: '1.5.0', security: true, advisory: 'YSA-2026-01' }) });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ version: '1.5.0', security: true });
    const req = (await api<Required>('/api/v1/firmware/update-required')).body;
    // env-2 is on 1.6.0, env-3 is disabled: env-1 (1.0.0) and env-4 (no version) remain
    expect(req.items.map((d) => [d.id, d.firmwareVersion, d.minimumVersion, d.security])).toEqual([['env-1', '1.0.0', '1.5.0', true], ['env-4', null, '1.5.0', true]]);
    const opened = await waitFor(async () => (await updateAlerts())[0], 'the update-required alert');
    expect(opened).toMatchObject({ closedAt: null, openedCount: 2 });

    await reportVersion('env-1', '1.5.0');
    await waitFor(async () => (await api<Required>('/api/v1/firmware/update-required')).body.total === 1, 'env-1 no longer required');
    expect((await updateAlerts()).map((a) => a.closedAt)).toEqual([null]);
    await reportVersion('env-4', '2.0.0');
    const closed = await waitFor(async () => (await updateAlerts()).find((a) => a.closedAt !== null), 'the alert closed');
    expect(closed.id).toBe(opened.id);
    expect(await updateAlerts()).toHaveLength(1);
    const audit = (await api<{ items: { action: string; detail: string | null }[] }>('/api/v1/audit?limit=50')).body.items;
    expect(audit.find((e) => e.action === 'firmware.minimum.set')?.detail).toBe('env-monitor >= 1.5.0 (security): YSA-2026-01');
  });

  it('refuses a version that is not SemVer, care roles, and clearing what is not set', async () => {
    expect((await api('/api/v1/firmware/minimum/env-monitor', { method: 'PUT', body: JSON.stringify({ version: 'latest' }) })).status).toBe(400);
    expect((await api('/api/v1/firmware/minimum/env-monitor', { method: 'PUT', who: 'family', body: JSON.stringify({ version: '1.0.0' }) })).status).toBe(403);
    expect((await api('/api/v1/firmware/update-required', { who: 'family' })).status).toBe(403);
    expect((await api('/api/v1/firmware/minimum/ev-charger', { method: 'DELETE' })).status).toBe(404);
    expect((await api('/api/v1/firmware/minimum/env-monitor', { method: 'DELETE' })).status).toBe(204);
    expect((await api<{ items: unknown[] }>('/api/v1/firmware/minimum')).body.items).toEqual([]);
  });
});
