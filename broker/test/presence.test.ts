import fs from 'node:fs';
import net from 'node:net';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlTopic, DeviceKind, Presence, deviceTopic } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../src/index.js';
import {
  CLOUD_PASSWORD,
  EDGE_PASSWORD,
  FakeDeviceAuth,
  closed,
  logger,
  mqttClient,
  rawConnect,
  tempDir,
  testConfig,
  waitFor,
} from './helpers.js';

interface Seen extends Presence {
  topic: string;
  retained: boolean;
}

async function presenceWatcher(url: string, clientId: string): Promise<{ client: MqttClient; seen: Seen[] }> {
  const client = await mqttClient(url, { clientId, username: 'edge', password: EDGE_PASSWORD });
  const seen: Seen[] = [];
  client.on('message', (topic, payload, packet) => seen.push({ ...Presence.decode(payload), topic, retained: packet.retain }));
  await client.subscribeAsync('yulan/v1/+/+/+/presence', { qos: 1 });
  return { client, seen };
}

const has = (seen: Seen[], deviceId: string, online: boolean, reason: string): boolean =>
  seen.some((p) => p.deviceId === deviceId && p.online === online && p.reason === reason);

describe('presence and revocation', () => {
  const dir = tempDir('presence');
  const auth = new FakeDeviceAuth();
  let broker: BrokerHandle;
  let url: string;
  let watcher: { client: MqttClient; seen: Seen[] };

  beforeAll(async () => {
    auth.add('dev-p', { kind: DeviceKind.FALL_SENSOR, site: 'home-7' });
    auth.add('dev-w');
    auth.add('dev-r');
    broker = await startBroker(await testConfig(dir), logger, { deviceAuth: auth });
    url = `mqtt://127.0.0.1:${broker.mqttPort}`;
    watcher = await presenceWatcher(url, 'edge:presence');
  });
  afterAll(async () => {
    await watcher?.client.endAsync(true);
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('publishes retained online presence on connect and offline on disconnect', async () => {
    const dev = await mqttClient(url, { clientId: 'dev-p', username: 'dev-p', password: 'secret-dev-p' });
    await waitFor(() => has(watcher.seen, 'dev-p', true, 'broker-connect'), 'online presence');
    const online = watcher.seen.find((p) => p.deviceId === 'dev-p' && p.online);
    expect(online?.topic).toBe(deviceTopic({ site: 'home-7', kind: DeviceKind.FALL_SENSOR, deviceId: 'dev-p' }, 'presence'));
    expect(online?.kind).toBe(DeviceKind.FALL_SENSOR);
    expect(online?.tsMs).toBeGreaterThan(0);

    // Retained: a late subscriber still learns the device is online.
    const late = await presenceWatcher(url, 'edge:late');
    await waitFor(() => late.seen.some((p) => p.deviceId === 'dev-p' && p.online && p.retained), 'retained presence');
    await late.client.endAsync();

    await dev.endAsync();
    await waitFor(() => has(watcher.seen, 'dev-p', false, 'broker-disconnect'), 'offline presence');
  });

  it('gives no presence to service accounts', async () => {
    const cloud = await mqttClient(url, { clientId: 'cloud:presence', username: 'cloud', password: CLOUD_PASSWORD });
    await cloud.endAsync();
    expect(watcher.seen.some((p) => p.deviceId === 'cloud:presence' || p.deviceId === 'cloud')).toBe(false);
  });

  it('says "will" when the device vanished and its last will fired', async () => {
    const topic = deviceTopic({ site: 'site-1', kind: DeviceKind.ENV_MONITOR, deviceId: 'dev-w' }, 'presence');
    const will = Buffer.from(Presence.encode({ deviceId: 'dev-w', online: false, reason: 'device-death' }));
    const { socket, returnCode } = await rawConnect(broker.mqttPort, {
      clientId: 'dev-w',
      username: 'dev-w',
      password: 'secret-dev-w',
      will: { topic, payload: will, qos: 1 },
    });
    expect(returnCode).toBe(0);
    await waitFor(() => has(watcher.seen, 'dev-w', true, 'broker-connect'), 'online presence');
    socket.destroy(); // no DISCONNECT packet: the will fires
    await waitFor(() => has(watcher.seen, 'dev-w', false, 'will'), 'broker offline presence with reason will');
    expect(has(watcher.seen, 'dev-w', false, 'device-death')).toBe(true);
  });

  it('revocation closes the live session, says "revoked", and the next connect asks again', async () => {
    const { socket, returnCode } = await rawConnect(broker.mqttPort, { clientId: 'dev-r', username: 'dev-r', password: 'secret-dev-r' });
    expect(returnCode).toBe(0);
    await waitFor(() => has(watcher.seen, 'dev-r', true, 'broker-connect'), 'online presence');
    const cloud = await mqttClient(url, { clientId: 'cloud:revoke', username: 'cloud', password: CLOUD_PASSWORD });
    auth.devices.get('dev-r')!.disabled = true; // the cloud disables, then tells the broker
    await cloud.publishAsync(ControlTopic.Revoke, Buffer.from('dev-r'), { qos: 1 });
    await closed(socket);
    await waitFor(() => has(watcher.seen, 'dev-r', false, 'revoked'), 'revoked presence');
    expect(auth.forgotten).toContain('dev-r');
    expect(broker.metrics().revocations).toBe(1);
    const again = await rawConnect(broker.mqttPort, { clientId: 'dev-r', username: 'dev-r', password: 'secret-dev-r' });
    expect(again.returnCode).toBe(5);
    again.socket.destroy();

    // A malformed revoke is counted and ignored; the broker keeps serving.
    const errors = broker.metrics().protocolErrors;
    await cloud.publishAsync(ControlTopic.Revoke, Buffer.from('not a/valid#id'), { qos: 1 });
    await waitFor(() => broker.metrics().protocolErrors === errors + 1, 'malformed revoke counted');
    await cloud.endAsync();
  });
});

describe('graceful shutdown', () => {
  it('stops accepting, publishes offline presence, closes clients and servers', async () => {
    const dir = tempDir('close');
    const auth = new FakeDeviceAuth();
    auth.add('dev-c');
    const broker = await startBroker(await testConfig(dir), logger, { deviceAuth: auth });
    const url = `mqtt://127.0.0.1:${broker.mqttPort}`;
    const watcher = await presenceWatcher(url, 'edge:close');
    const dev = await mqttClient(url, { clientId: 'dev-c', username: 'dev-c', password: 'secret-dev-c' });
    await waitFor(() => has(watcher.seen, 'dev-c', true, 'broker-connect'), 'online presence');
    const devClosed = new Promise<void>((r) => dev.once('close', () => r()));

    await broker.close();
    await broker.close(); // idempotent

    expect(has(watcher.seen, 'dev-c', false, 'shutdown')).toBe(true);
    expect(watcher.seen.filter((p) => p.deviceId === 'dev-c' && !p.online)).toHaveLength(1);
    await devClosed;
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(broker.mqttPort, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    expect(broker.metrics().connections.current).toBe(0);
    await watcher.client.endAsync(true);
    dev.end(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
