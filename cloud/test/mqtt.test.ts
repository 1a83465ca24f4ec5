import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlTopic, DeviceKind, Presence, deviceTopic, Channel } from '@yulan/protos';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, waitFor, type EdgeStub, type TestBroker } from './helpers.js';

/** End to end over a real aedes broker: presence updates the registry, disable revokes. */
const users = { cloud: 'cloud-pass', watcher: 'watcher-pass' };
let broker: TestBroker;
let edge: EdgeStub;
let cloud: CloudHandle;
let watcher: MqttClient;
const tmp = tempDir('yulan-cloud-mqtt-');
let env: Record<string, string>;
let token = '';

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(cloud.url + path, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });
}
async function device(id: string): Promise<{ status: string; firmwareVersion: string | null; lastSeen: string | null }> {
  return (await (await api(`/api/v1/devices/${id}`)).json()) as never;
}
function presence(id: string, site: string, online: boolean, extra: { tsMs?: number; firmwareVersion?: string; reason?: string } = {}): Promise<unknown> {
  const topic = deviceTopic({ site, kind: DeviceKind.FALL_SENSOR, deviceId: id }, Channel.Presence);
  const payload = Presence.encode({ deviceId: id, kind: DeviceKind.FALL_SENSOR, online, tsMs: extra.tsMs ?? Date.now(), firmwareVersion: extra.firmwareVersion ?? '', reason: extra.reason ?? 'broker-connect' });
  return watcher.publishAsync(topic, Buffer.from(payload), { qos: 1, retain: true });
}

beforeAll(async () => {
  broker = await startBroker(users);
  edge = await startEdgeStub();
  env = cloudEnv(tmp.dir, broker, edge, users.cloud);
  cloud = await startCloud(loadCloudConfig(env), silentLogger, { dashboardDir: null });
  token = cloud.adminToken ?? '';
  watcher = await mqtt.connectAsync(broker.url, { username: 'watcher', password: users.watcher, clientId: 'watcher' });
  await waitFor(async () => (await (await fetch(`${cloud.url}/healthz`)).json() as { mqtt: boolean }).mqtt, 'cloud mqtt connected');
});
afterAll(async () => {
  await watcher?.endAsync();
  await cloud?.close();
  await broker?.close();
  await edge?.close();
  tmp.cleanup();
});

describe('cloud over MQTT', () => {
  it('generated an admin token at first start that authorises the API', async () => {
    expect(token.length).toBeGreaterThanOrEqual(40);
    expect((await api('/api/v1/devices')).status).toBe(200);
    expect((await fetch(`${cloud.url}/api/v1/devices`)).status).toBe(401);
  });

  it('presence flips a registered device online and offline, recording firmware and last seen', async () => {
    const r = await api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: 'fall-1', site: 'hongkou', kind: 'fall-sensor' }) });
    expect(r.status).toBe(201);
    expect((await device('fall-1')).status).toBe('offline');
    const ts = Date.now();
    await presence('fall-1', 'hongkou', true, { tsMs: ts, firmwareVersion: '3.1.4' });
    const online = await waitFor(async () => {
      const d = await device('fall-1');
      return d.status === 'online' ? d : undefined;
    }, 'fall-1 online');
    expect(online.firmwareVersion).toBe('3.1.4');
    expect(online.lastSeen).toBe(new Date(ts).toISOString());
    await presence('fall-1', 'hongkou', false, { tsMs: ts + 1, reason: 'will' });
    await waitFor(async () => (await device('fall-1')).status === 'offline', 'fall-1 offline');
  });

  it('counts bad presence payloads and keeps going', async () => {
    await api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: 'fall-2', site: 'hongkou', kind: 'fall-sensor' }) });
    const topic = deviceTopic({ site: 'hongkou', kind: DeviceKind.FALL_SENSOR, deviceId: 'fall-2' }, Channel.Presence);
    await watcher.publishAsync(topic, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), { qos: 1 });
    const forged = Presence.encode({ deviceId: 'someone-else', online: true, tsMs: Date.now() });
    await watcher.publishAsync(topic, Buffer.from(forged), { qos: 1 });
    await watcher.publishAsync('yulan/v1/hongkou/toaster/fall-2/presence', Buffer.from(forged), { qos: 1 });
    await presence('ghost-dev', 'hongkou', true);
    await presence('fall-2', 'hongkou', true);
    await waitFor(async () => (await device('fall-2')).status === 'online', 'fall-2 online after bad input');
    const m = (await (await api('/api/v1/metrics')).json()) as { mqttConnected: boolean; presence: { dropped: Record<string, number> } };
    expect(m.mqttConnected).toBe(true);
    expect(m.presence.dropped).toMatchObject({ decode: 1, idMismatch: 1, unknownDevice: 1 });
  });

  it('disable publishes the revoke control message (QoS 1, device id payload)', async () => {
    await api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: 'fall-3', site: 'hongkou', kind: 'fall-sensor' }) });
    const got: { topic: string; payload: string; qos: number }[] = [];
    watcher.on('message', (topic, payload, packet) => {
      if (topic === ControlTopic.Revoke) got.push({ topic, payload: payload.toString('utf8'), qos: packet.qos });
    });
    await watcher.subscribeAsync(ControlTopic.Revoke, { qos: 1 });
    const r = await api('/api/v1/devices/fall-3/disable', { method: 'POST' });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-yulan-revoke')).toBe('published');
    expect(((await r.json()) as { status: string }).status).toBe('disabled');
    await waitFor(() => got.length > 0, 'revoke message');
    expect(got).toEqual([{ topic: '$yulan/v1/control/revoke', payload: 'fall-3', qos: 1 }]);
  });

  it('keeps the registry and the admin token across a restart, and re-sends revocations on connect', async () => {
    const resent: string[] = [];
    watcher.on('message', (topic, payload) => {
      if (topic === ControlTopic.Revoke) resent.push(payload.toString('utf8'));
    });
    await cloud.close();
    cloud = await startCloud(loadCloudConfig(env), silentLogger, { dashboardDir: null });
    expect(cloud.adminToken).toBeUndefined();
    expect((await device('fall-3')).status).toBe('disabled');
    // A revoke lost while the broker or the cloud was down must not leave a session up.
    await waitFor(() => resent.includes('fall-3'), 're-sent revoke for the disabled device');
    expect(resent).toEqual(['fall-3']);
  });
});
