import fs from 'node:fs';
import type net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceKind, deviceTopic } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../src/index.js';
import { EDGE_PASSWORD, FakeDeviceAuth, logger, mqttClient, rawConnect, tempDir, testConfig, waitFor } from './helpers.js';

const DEV = { site: 'site-1', kind: DeviceKind.ENV_MONITOR, deviceId: 'dev-flood' } as const;
const MB = 1024 * 1024;

/** A raw subscriber that reads its SUBACK and then stops reading its socket for good. */
async function frozenSubscriber(port: number, clientId: string, filter: string, qos: 0 | 1): Promise<net.Socket> {
  const { socket, parser } = await rawConnect(port, { clientId, username: 'edge', password: EDGE_PASSWORD });
  const suback = new Promise<void>((resolve) => parser.on('packet', (p: mqttPacket.Packet) => p.cmd === 'suback' && resolve()));
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] }));
  await suback;
  socket.pause();
  socket.removeAllListeners('data');
  return socket;
}

/** Writes `count` copies of `packet` as fast as the socket takes them. */
async function flood(socket: net.Socket, packet: Buffer, count: number, onProgress?: (sent: number) => void): Promise<void> {
  const perWrite = 64;
  const chunk = Buffer.concat(Array.from({ length: perWrite }, () => packet));
  for (let sent = 0; sent < count && !socket.destroyed; sent += perWrite) {
    if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
    onProgress?.(sent);
  }
}

describe('flow control under a slow subscriber', () => {
  const dir = tempDir('flow');
  const auth = new FakeDeviceAuth();
  let broker: BrokerHandle;
  let peakQueued = 0;
  let sampler: NodeJS.Timeout;

  beforeAll(async () => {
    auth.add(DEV.deviceId);
    broker = await startBroker(await testConfig(dir, { YULAN_BROKER_DRAIN_TIMEOUT_MS: '1500' }), logger, { deviceAuth: auth });
    sampler = setInterval(() => {
      peakQueued = Math.max(peakQueued, broker.metrics().outgoingQueuedBytes);
    }, 2);
  });
  afterAll(async () => {
    clearInterval(sampler);
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('drops QoS 0 to a frozen subscriber, keeps memory bounded and others served, survives it leaving', async () => {
    const port = broker.mqttPort;
    const slow = await frozenSubscriber(port, 'edge:frozen', 'yulan/v1/#', 0);
    const fast = await mqttClient(`mqtt://127.0.0.1:${port}`, { clientId: 'edge:fast', username: 'edge', password: EDGE_PASSWORD });
    let fastCount = 0;
    const markers: string[] = [];
    fast.on('message', (topic, payload) => (topic.endsWith('/event') ? markers.push(payload.toString()) : fastCount++));
    await fast.subscribeAsync('yulan/v1/#', { qos: 1 });

    const { socket: pub } = await rawConnect(port, { clientId: DEV.deviceId, username: DEV.deviceId, password: 'secret-dev-flood' });
    const telemetry = mqttPacket.generate({ cmd: 'publish', topic: deviceTopic(DEV, 'telemetry'), payload: Buffer.alloc(1024, 7), qos: 0, retain: false, dup: false });
    const marker = (text: string): Buffer =>
      mqttPacket.generate({ cmd: 'publish', topic: deviceTopic(DEV, 'event'), payload: Buffer.from(text), qos: 1, messageId: 7, retain: false, dup: false });

    const total = 40_000; // ~40 MB, far beyond socket + kernel buffers
    peakQueued = 0;
    await flood(pub, telemetry, total);
    pub.write(marker('after-flood-1'));
    await waitFor(() => markers.includes('after-flood-1'), 'marker at the fast subscriber', 30_000);

    const m1 = broker.metrics();
    expect(m1.droppedQos0).toBeGreaterThan(0);
    expect(fastCount).toBeGreaterThan(0);
    // Bounded: a few socket high-water marks (512 KiB each here), not the 40 MB sent.
    expect(peakQueued).toBeLessThan(4 * MB);
    expect(slow.destroyed).toBe(false); // QoS 0 drops never made it wait on drain

    // Second flood; the frozen subscriber disappears in the middle of its backlog.
    let killed = false;
    await flood(pub, telemetry, total, (sent) => {
      if (!killed && sent >= total / 2) {
        killed = true;
        slow.destroy();
      }
    });
    pub.write(marker('after-flood-2'));
    await waitFor(() => markers.includes('after-flood-2'), 'marker after the slow subscriber left', 30_000);
    expect(killed).toBe(true);
    await waitFor(() => broker.metrics().connections.current === 2, 'frozen subscriber unregistered');

    // Still healthy: a new client connects and gets served.
    const probe = await mqttClient(`mqtt://127.0.0.1:${port}`, { clientId: 'edge:probe', username: 'edge', password: EDGE_PASSWORD });
    await probe.endAsync();
    pub.destroy();
    await fast.endAsync();
  });

  it('pushes back on a QoS 1 publisher instead of queueing, until the drain timeout cuts the frozen client', async () => {
    const port = broker.mqttPort;
    const before = broker.metrics().slowConsumerDisconnects;
    const slow = await frozenSubscriber(port, 'edge:frozen-q1', 'yulan/v1/+/+/+/event', 1);
    const fast = await mqttClient(`mqtt://127.0.0.1:${port}`, { clientId: 'edge:fast-q1', username: 'edge', password: EDGE_PASSWORD });
    let fastCount = 0;
    fast.on('message', () => fastCount++);
    await fast.subscribeAsync('yulan/v1/+/+/+/event', { qos: 1 });

    const dev = await mqttClient(`mqtt://127.0.0.1:${port}`, { clientId: DEV.deviceId, username: DEV.deviceId, password: 'secret-dev-flood' });
    const total = 4000; // 4000 × 4 KiB = 16 MB
    let acked = 0;
    const payload = Buffer.alloc(4096, 1);
    const all = Promise.all(
      Array.from({ length: total }, () => dev.publishAsync(deviceTopic(DEV, 'event'), payload, { qos: 1 }).then(() => acked++)),
    );
    peakQueued = 0;
    await waitFor(() => broker.metrics().slowConsumerDisconnects > before, 'frozen QoS 1 subscriber cut by drain timeout', 30_000);
    // Without push-back every PUBACK would have arrived long before the drain timeout.
    const ackedWhenCut = acked;
    expect(ackedWhenCut).toBeLessThan(total);
    await all;
    await waitFor(() => fastCount === total, 'every QoS 1 message at the healthy subscriber', 30_000);
    expect(peakQueued).toBeLessThan(8 * MB);
    expect(broker.metrics().slowConsumerDisconnects).toBe(before + 1);
    await waitFor(() => broker.metrics().connections.current === 2, 'frozen subscriber unregistered');
    slow.destroy();
    await Promise.all([dev.endAsync(), fast.endAsync()]);
  });
});
