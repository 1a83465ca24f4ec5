import fs from 'node:fs';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlTopic, DeviceKind, Presence, deviceTopic } from '@yulan/protos';
import { launchRedis, shouldSkipRedis, type RedisServer } from '@yulan/testkit';
import { startBroker, sumMetrics, type BrokerHandle } from '../src/index.js';
import { createMetrics } from '../src/metrics.js';
import mqttPacket from 'mqtt-packet';
import { CLOUD_PASSWORD, EDGE_PASSWORD, FakeDeviceAuth, logger, mqttClient, rawConnect, tempDir, testConfig, waitFor } from './helpers.js';

// Two in-process brokers sharing one real redis-server: what two cluster workers (or two
// machines) see of each other. The worker plumbing itself is covered by cluster-kill.test.ts.
const dev = (deviceId: string) => ({ site: 'site-1', kind: DeviceKind.ENV_MONITOR, deviceId }) as const;

describe.skipIf(shouldSkipRedis())('clustered broker: two brokers sharing Redis', () => {
  const dir = tempDir('cluster');
  const authA = new FakeDeviceAuth();
  const authB = new FakeDeviceAuth();
  let redis: RedisServer;
  let a: BrokerHandle;
  let b: BrokerHandle;
  const urlOf = (h: BrokerHandle): string => `mqtt://127.0.0.1:${h.mqttPort}`;
  const clients: MqttClient[] = [];
  const connectDevice = async (h: BrokerHandle, id: string): Promise<MqttClient> => {
    const c = await mqttClient(urlOf(h), { clientId: id, username: id, password: `secret-${id}` });
    clients.push(c);
    return c;
  };
  const connectEdge = async (h: BrokerHandle, clientId: string, clean = true): Promise<MqttClient> => {
    const c = await mqttClient(urlOf(h), { clientId, username: 'edge', password: EDGE_PASSWORD, clean });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    redis = await launchRedis();
    for (const id of ['env-flow', 'env-queue', 'env-multi', 'env-revoke', 'env-twice']) {
      authA.add(id);
      authB.add(id);
    }
    const env = { YULAN_BROKER_REDIS_URL: redis.url };
    a = await startBroker(await testConfig(dir, env), logger, { deviceAuth: authA });
    b = await startBroker(await testConfig(dir, env), logger, { deviceAuth: authB });
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await a?.close();
    await b?.close();
    await redis?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('routes a device on one broker to the edge on the other, with presence', async () => {
    const edge = await connectEdge(b, 'edge:flow');
    const got: { topic: string; payload: Buffer }[] = [];
    edge.on('message', (topic, payload) => got.push({ topic, payload }));
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
    const device = await connectDevice(a, 'env-flow');
    const topic = deviceTopic(dev('env-flow'), 'telemetry');
    for (let i = 0; i < 50; i++) await device.publishAsync(topic, `m${i}`, { qos: 1 });
    await waitFor(() => got.filter((m) => m.topic === topic).length === 50, '50 messages across brokers');
    expect(got.filter((m) => m.topic === topic).map((m) => m.payload.toString())).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    // Presence is retained (a Redis write first), so telemetry may overtake it.
    const online = (): boolean => got.some((m) => m.topic.endsWith('/presence') && Presence.decode(m.payload).online);
    await waitFor(online, 'online presence across brokers');
    // The ACL still applies on the device's broker: a foreign topic is discarded.
    await device.publishAsync(deviceTopic(dev('env-other'), 'telemetry'), 'spoof', { qos: 1 });
    expect(a.metrics().aclDenied.publish).toBe(1);
  });

  it('keeps a persistent session queued while it is away and delivers it on either broker', async () => {
    const topic = deviceTopic(dev('env-queue'), 'telemetry');
    const first = await connectEdge(b, 'edge:queue', false);
    await first.subscribeAsync(topic, { qos: 1 });
    await first.endAsync();
    const device = await connectDevice(a, 'env-queue');
    for (let i = 0; i < 300; i++) await device.publishAsync(topic, `q${i}`, { qos: 1 });
    const back = await connectEdge(a, 'edge:queue', false);
    const got: string[] = [];
    back.on('message', (t, payload) => { if (t === topic) got.push(payload.toString()); });
    await waitFor(() => got.length >= 300, '300 queued messages');
    expect(new Set(got).size).toBe(300);
  });

  // The edge's pattern: one SUBSCRIBE carrying several filters, persistent session. Aedes
  // stores it once per filter; without shared-state's guard the SUBACK never came.
  it('acknowledges a persistent SUBSCRIBE of several filters, delivers live and after a reconnect', async () => {
    const channels = ['telemetry', 'event', 'presence', 'command-result'] as const;
    const filters = Object.fromEntries(channels.map((c) => [`yulan/v1/+/+/+/${c}`, { qos: 1 as const }]));
    const first = await connectEdge(b, 'edge:multi', false);
    const live: string[] = [];
    first.on('message', (t, payload) => { if (t.includes('/env-multi/')) live.push(`${t.split('/').at(-1)}:${payload.toString()}`); });
    const granted = await Promise.race([
      first.subscribeAsync(filters),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no SUBACK within 5 s')), 5000)),
    ]);
    expect(granted.map((g) => g.qos)).toEqual([1, 1, 1, 1]);
    const device = await connectDevice(a, 'env-multi');
    await device.publishAsync(deviceTopic(dev('env-multi'), 'telemetry'), 't0', { qos: 1 });
    await device.publishAsync(deviceTopic(dev('env-multi'), 'event'), 'e0', { qos: 1 });
    await waitFor(() => live.includes('telemetry:t0') && live.includes('event:e0'), 'live telemetry and event');
    await first.endAsync();
    await device.publishAsync(deviceTopic(dev('env-multi'), 'telemetry'), 't1', { qos: 1 });
    await device.publishAsync(deviceTopic(dev('env-multi'), 'event'), 'e1', { qos: 1 });
    const back = await connectEdge(a, 'edge:multi', false);
    const queued: string[] = [];
    back.on('message', (t, payload) => { if (t.includes('/env-multi/')) queued.push(`${t.split('/').at(-1)}:${payload.toString()}`); });
    await waitFor(() => queued.includes('telemetry:t1') && queued.includes('event:e1'), 'both filters queued while away');
  });

  it('revocation published on one broker closes the device held by the other', async () => {
    const watcher = await connectEdge(a, 'edge:revoke');
    const seen: Presence[] = [];
    watcher.on('message', (_t, payload) => seen.push(Presence.decode(payload)));
    await watcher.subscribeAsync(deviceTopic(dev('env-revoke'), 'presence'), { qos: 1 });
    const device = await connectDevice(a, 'env-revoke');
    const closedP = new Promise<void>((resolve) => device.once('close', () => resolve()));
    const cloud = await mqttClient(urlOf(b), { clientId: 'cloud:revoker', username: 'cloud', password: CLOUD_PASSWORD });
    clients.push(cloud);
    await cloud.publishAsync(ControlTopic.Revoke, 'env-revoke', { qos: 1 });
    await closedP;
    await waitFor(() => seen.some((p) => p.deviceId === 'env-revoke' && !p.online && p.reason === 'revoked'), 'revoked presence');
    // Both brokers dropped their cached acceptance.
    await waitFor(() => authA.forgotten.includes('env-revoke') && authB.forgotten.includes('env-revoke'), 'both caches forgotten');
  });

  it('the same device id on the second broker disconnects the first session; presence ends online', async () => {
    const older = await connectDevice(a, 'env-twice');
    const olderClosed = new Promise<void>((resolve) => older.once('close', () => resolve()));
    await connectDevice(b, 'env-twice');
    await olderClosed;
    await waitFor(() => a.metrics().connections.current + b.metrics().connections.current >= 1, 'settled');
    // Let any offline presence from the old session land, then read the retained state.
    await new Promise((r) => setTimeout(r, 300));
    const probe = await connectEdge(a, 'edge:twice');
    const retained: Presence[] = [];
    probe.on('message', (_t, payload) => retained.push(Presence.decode(payload)));
    await probe.subscribeAsync(deviceTopic(dev('env-twice'), 'presence'), { qos: 1 });
    await waitFor(() => retained.length > 0, 'retained presence');
    expect(retained.at(-1)).toMatchObject({ deviceId: 'env-twice', online: true });
  });
});

describe.skipIf(shouldSkipRedis())('clustered broker: a subscriber that stops reading', () => {
  // In its own describe so the frozen client's drain timeout cannot disturb the others.
  it('is cut by the drain timeout on its broker; subscribers on either broker get every message', async () => {
    const redis = await launchRedis();
    const dir = tempDir('cluster-slow');
    const auth = new FakeDeviceAuth();
    auth.add('env-slow');
    const env = { YULAN_BROKER_REDIS_URL: redis.url, YULAN_BROKER_DRAIN_TIMEOUT_MS: '1500' };
    const a = await startBroker(await testConfig(dir, env), logger, { deviceAuth: auth });
    const b = await startBroker(await testConfig(dir, env), logger, { deviceAuth: auth });
    try {
      const filter = 'yulan/v1/+/+/+/event';
      const { socket, parser } = await rawConnect(a.mqttPort, { clientId: 'edge:frozen', username: 'edge', password: EDGE_PASSWORD });
      const suback = new Promise<void>((resolve) => parser.on('packet', (p: mqttPacket.Packet) => p.cmd === 'suback' && resolve()));
      socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] }));
      await suback;
      socket.pause();
      socket.removeAllListeners('data');
      const counts = [0, 0];
      const subs = [await mqttClient(`mqtt://127.0.0.1:${a.mqttPort}`, { clientId: 'edge:ok-a', username: 'edge', password: EDGE_PASSWORD }),
        await mqttClient(`mqtt://127.0.0.1:${b.mqttPort}`, { clientId: 'edge:ok-b', username: 'edge', password: EDGE_PASSWORD })];
      for (const [i, s] of subs.entries()) {
        s.on('message', () => counts[i]!++);
        await s.subscribeAsync(filter, { qos: 1 });
      }
      const device = await mqttClient(`mqtt://127.0.0.1:${a.mqttPort}`, { clientId: 'env-slow', username: 'env-slow', password: 'secret-env-slow' });
      const total = 3000; // 3000 × 4 KiB = 12 MB, far past the frozen socket's buffers
      const payload = Buffer.alloc(4096, 2);
      await Promise.all(Array.from({ length: total }, () => device.publishAsync(deviceTopic(dev('env-slow'), 'event'), payload, { qos: 1 })));
      await waitFor(() => a.metrics().slowConsumerDisconnects === 1, 'frozen subscriber cut', 30_000);
      await waitFor(() => counts[0] === total && counts[1] === total, 'every message at both healthy subscribers', 30_000);
      expect(b.metrics().slowConsumerDisconnects).toBe(0);
      socket.destroy();
      for (const c of [...subs, device]) c.end(true);
    } finally {
      await a.close();
      await b.close();
      await redis.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('clustered mode configuration', () => {
  it('refuses several workers without Redis, and a malformed Redis URL', async () => {
    const dir = tempDir('cluster-config');
    await expect(testConfig(dir, { YULAN_BROKER_WORKERS: '2' })).rejects.toThrow(/YULAN_BROKER_WORKERS: more than 1 worker requires YULAN_BROKER_REDIS_URL/);
    await expect(testConfig(dir, { YULAN_BROKER_REDIS_URL: 'http://x' })).rejects.toThrow(/YULAN_BROKER_REDIS_URL: must be a redis/);
    await expect(testConfig(dir, { YULAN_BROKER_WORKERS: '0' })).rejects.toThrow(/YULAN_BROKER_WORKERS/);
    expect(await testConfig(dir, { YULAN_BROKER_WORKERS: '2', YULAN_BROKER_REDIS_URL: 'redis://127.0.0.1:6379' }))
      .toMatchObject({ workers: 2, redisUrl: 'redis://127.0.0.1:6379' });
    expect(await testConfig(dir)).toMatchObject({ workers: 1, redisUrl: undefined });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('clustered /metrics', () => {
  it('adds counters and gauges across workers; revocations is the largest, not the sum', () => {
    const one = createMetrics();
    const two = createMetrics();
    one.connections.current = 3;
    two.connections.current = 4;
    one.aclDenied.publish = 1;
    two.aclDenied.publish = 2;
    one.revocations = 5; // every worker handles every revoke message
    two.revocations = 5;
    expect(sumMetrics([one, two])).toMatchObject({ connections: { current: 7 }, aclDenied: { publish: 3 }, revocations: 5 });
    expect(sumMetrics([])).toEqual({});
  });
});

