import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeviceKind, Presence, deviceTopic } from '@yulan/protos';
import { startBroker, type BrokerHandle, type DeviceAuthResult } from '../src/index.js';
import { CLOUD_PASSWORD, EDGE_PASSWORD, FakeDeviceAuth, logger, mqttClient, rawConnect, tempDir, testConfig, waitFor } from './helpers.js';

const QUIET = { site: 'site-1', kind: DeviceKind.ENV_MONITOR, deviceId: 'quiet-1' } as const;
const FLOOD = { site: 'site-1', kind: DeviceKind.ENV_MONITOR, deviceId: 'flood-1' } as const;
const ABUSER = { site: 'site-1', kind: DeviceKind.FALL_SENSOR, deviceId: 'abuser-1' } as const;

/** Counts what reaches the "cloud", and remembers accepted secrets like the real cache. */
class CountingAuth extends FakeDeviceAuth {
  calls = 0;
  readonly accepted = new Set<string>();
  override async authenticate(id: string, secret: string): Promise<DeviceAuthResult> {
    this.calls++;
    const r = await super.authenticate(id, secret);
    if (r.outcome === 'ok') this.accepted.add(`${id}\0${secret}`);
    return r;
  }
  knows(id: string, secret: string): boolean {
    return this.accepted.has(`${id}\0${secret}`);
  }
}

describe('publish quotas', () => {
  const dir = tempDir('quota');
  const auth = new CountingAuth();
  let broker: BrokerHandle;

  beforeAll(async () => {
    for (const d of [QUIET, FLOOD, ABUSER]) auth.add(d.deviceId, { kind: d.kind });
    // 1 message/s (a burst of 10) for every kind; fall sensors also get a byte budget;
    // 300 refusals within a minute disconnect.
    broker = await startBroker(await testConfig(dir, {
      YULAN_QUOTA_MSGS_PER_SEC: '1',
      YULAN_QUOTA_PER_KIND: 'fall-sensor:1:1024',
      YULAN_QUOTA_DISCONNECT_AFTER: '300',
    }), logger, { deviceAuth: auth });
  });
  afterAll(async () => {
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses and counts a flooding device, warns about it, and leaves the others alone', async () => {
    const edge = await mqttClient(`mqtt://127.0.0.1:${broker.mqttPort}`, { clientId: 'edge:q', username: 'edge', password: EDGE_PASSWORD });
    const got = new Map<string, number>();
    edge.on('message', (topic) => got.set(topic, (got.get(topic) ?? 0) + 1));
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
    const cloud = await mqttClient(`mqtt://127.0.0.1:${broker.mqttPort}`, { clientId: 'cloud:q', username: 'cloud', password: CLOUD_PASSWORD });
    const notices: { deviceId: string; refused: number; disconnected: boolean }[] = [];
    cloud.on('message', (_t, p) => notices.push(JSON.parse(p.toString()) as (typeof notices)[number]));
    await cloud.subscribeAsync('$yulan/v1/quota/+', { qos: 0 });

    const flood = await mqttClient(`mqtt://127.0.0.1:${broker.mqttPort}`, { clientId: FLOOD.deviceId, username: FLOOD.deviceId, password: `secret-${FLOOD.deviceId}` });
    const quiet = await mqttClient(`mqtt://127.0.0.1:${broker.mqttPort}`, { clientId: QUIET.deviceId, username: QUIET.deviceId, password: `secret-${QUIET.deviceId}` });
    const floodTopic = deviceTopic(FLOOD, 'telemetry');
    const quietTopic = deviceTopic(QUIET, 'telemetry');
    const sent = 200;
    // Every flood publish is acknowledged (MQTT 3.1.1 has no refusal), the excess discarded.
    await Promise.all([
      Promise.all(Array.from({ length: sent }, (_, i) => flood.publishAsync(floodTopic, `f${i}`, { qos: 1 }))),
      Promise.all(Array.from({ length: 5 }, (_, i) => quiet.publishAsync(quietTopic, `q${i}`, { qos: 1 }))),
    ]);
    const refused = broker.metrics().quotaRefused;
    expect(refused).toBeGreaterThan(sent / 2);
    await waitFor(() => (got.get(floodTopic) ?? 0) + refused === sent && got.get(quietTopic) === 5, 'every accepted publish delivered');
    await waitFor(() => notices.some((n) => n.deviceId === FLOOD.deviceId && n.refused > 0 && !n.disconnected), 'a quota notice for the flooder');
    expect(notices.every((n) => n.deviceId === FLOOD.deviceId)).toBe(true);
    expect(flood.connected).toBe(true); // 200 refusals stay under the 300 that disconnect
    await Promise.all([flood.endAsync(), quiet.endAsync(), edge.endAsync(), cloud.endAsync()]);
  });

  it('disconnects a device that keeps flooding with presence reason "quota"', async () => {
    const edge = await mqttClient(`mqtt://127.0.0.1:${broker.mqttPort}`, { clientId: 'edge:q2', username: 'edge', password: EDGE_PASSWORD });
    const reasons: string[] = [];
    edge.on('message', (topic, p) => { if (topic === deviceTopic(ABUSER, 'presence')) reasons.push(Presence.decode(p).reason); });
    await edge.subscribeAsync(deviceTopic(ABUSER, 'presence'), { qos: 1 });
    const abuser = await mqttClient(`mqtt://127.0.0.1:${broker.mqttPort}`, { clientId: ABUSER.deviceId, username: ABUSER.deviceId, password: `secret-${ABUSER.deviceId}` });
    let closed = false;
    abuser.on('close', () => { closed = true; });
    const before = broker.metrics();
    // QoS 0: the broker cannot be made to answer each one; it just has to stop reading them.
    for (let i = 0; i < 400 && !closed; i++) abuser.publish(deviceTopic(ABUSER, 'event'), Buffer.alloc(100), { qos: 0 });
    await waitFor(() => closed, 'the abuser disconnected');
    await waitFor(() => reasons.includes('quota'), 'offline presence with reason quota');
    const after = broker.metrics();
    expect(after.quotaDisconnects).toBe(before.quotaDisconnects + 1);
    expect(after.quotaRefused - before.quotaRefused).toBeGreaterThanOrEqual(300);
    // and it may not come straight back: CONNACK 3 (try later) during the cool-down
    const back = await rawConnect(broker.mqttPort, { clientId: ABUSER.deviceId, username: ABUSER.deviceId, password: `secret-${ABUSER.deviceId}` });
    expect(back.returnCode).toBe(3);
    back.socket.destroy();
    expect(broker.metrics().quotaCooldownRefusals).toBe(before.quotaCooldownRefusals + 1);
    await edge.endAsync();
  });
});

describe('failed-authentication and connect-rate limits', () => {
  const dirs: string[] = [];
  let broker: BrokerHandle | undefined;
  const start = async (env: Record<string, string>, auth: CountingAuth): Promise<BrokerHandle> => {
    const dir = tempDir('authlimit');
    dirs.push(dir);
    // Loopback is exempt by default (the services' own address); these tests are on loopback.
    broker = await startBroker(await testConfig(dir, { YULAN_LIMIT_LOOPBACK: 'true', ...env }), logger, { deviceAuth: auth });
    return broker;
  };
  afterEach(async () => {
    await broker?.close();
    broker = undefined;
  });
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('stops checking wrong secrets for one client id after the limit, without reaching the cloud', async () => {
    const auth = new CountingAuth();
    auth.add('victim');
    const b = await start({ YULAN_AUTH_FAIL_PER_CLIENT: '3', YULAN_AUTH_FAIL_PER_ADDRESS: '1000' }, auth);
    // The device connected once with its right secret: the broker knows it.
    const first = await rawConnect(b.mqttPort, { clientId: 'victim', username: 'victim', password: 'secret-victim' });
    expect(first.returnCode).toBe(0);
    first.socket.destroy();
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await rawConnect(b.mqttPort, { clientId: 'victim', username: 'victim', password: `guess-${i}` });
      codes.push(r.returnCode);
      r.socket.destroy();
    }
    expect(codes).toEqual([4, 4, 4, 5, 5, 5]);
    expect(auth.calls).toBe(1 + 3); // the last three never reached the cloud
    expect(b.metrics().authThrottled).toBe(3);
    // ...and the device itself still gets in with the secret it was accepted with.
    const again = await rawConnect(b.mqttPort, { clientId: 'victim', username: 'victim', password: 'secret-victim' });
    expect(again.returnCode).toBe(0);
    again.socket.destroy();
    // a service account is limited the same way
    const svc: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await rawConnect(b.mqttPort, { clientId: 'edge:x', username: 'edge', password: `wrong-${i}` });
      svc.push(r.returnCode);
      r.socket.destroy();
    }
    expect(svc).toEqual([4, 4, 4, 5]);
  });

  it('stops checking any secret from an address after its limit', async () => {
    const auth = new CountingAuth();
    auth.add('fresh-1');
    const b = await start({ YULAN_AUTH_FAIL_PER_CLIENT: '1000', YULAN_AUTH_FAIL_PER_ADDRESS: '4' }, auth);
    for (let i = 0; i < 4; i++) {
      const r = await rawConnect(b.mqttPort, { clientId: `spray-${i}`, username: `spray-${i}`, password: 'nope' });
      expect(r.returnCode).toBe(4);
      r.socket.destroy();
    }
    const calls = auth.calls;
    const r = await rawConnect(b.mqttPort, { clientId: 'fresh-1', username: 'fresh-1', password: 'secret-fresh-1' });
    expect(r.returnCode).toBe(5);
    r.socket.destroy();
    expect(auth.calls).toBe(calls);
  });

  it('refuses connects over the per-address rate and counts them', async () => {
    const auth = new CountingAuth();
    auth.add('conn-1');
    const b = await start({ YULAN_CONNECT_RATE_PER_ADDRESS: '3', YULAN_CONNECT_RATE_WINDOW_MS: '600000' }, auth);
    for (let i = 0; i < 3; i++) {
      const r = await rawConnect(b.mqttPort, { clientId: 'conn-1', username: 'conn-1', password: 'secret-conn-1' });
      expect(r.returnCode).toBe(0);
      r.socket.destroy();
    }
    await expect(rawConnect(b.mqttPort, { clientId: 'conn-1', username: 'conn-1', password: 'secret-conn-1' })).rejects.toThrow(/closed before CONNACK/);
    expect(b.metrics().connectsThrottled).toBe(1);
  });

  it('leaves loopback alone unless YULAN_LIMIT_LOOPBACK is set', async () => {
    const auth = new CountingAuth();
    auth.add('lo-1');
    const dir = tempDir('authlimit-lo');
    dirs.push(dir);
    broker = await startBroker(await testConfig(dir, { YULAN_AUTH_FAIL_PER_CLIENT: '1' }), logger, { deviceAuth: auth });
    for (let i = 0; i < 3; i++) {
      const r = await rawConnect(broker.mqttPort, { clientId: 'lo-1', username: 'lo-1', password: 'bad' });
      expect(r.returnCode).toBe(4);
      r.socket.destroy();
    }
    const ok = await rawConnect(broker.mqttPort, { clientId: 'lo-1', username: 'lo-1', password: 'secret-lo-1' });
    expect(ok.returnCode).toBe(0);
    ok.socket.destroy();
  });
});
