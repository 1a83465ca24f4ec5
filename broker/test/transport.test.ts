import fs from 'node:fs';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceKind, deviceTopic } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../src/index.js';
import { BROKER_TOKEN, EDGE_PASSWORD, FakeDeviceAuth, closed, logger, mqttClient, rawConnect, tempDir, testConfig, waitFor } from './helpers.js';

const DEV = { site: 'site-1', kind: DeviceKind.ENV_MONITOR, deviceId: 'dev-t' } as const;
const MAX = 4096;

describe('transports, HTTP endpoints and packet cap', () => {
  const dir = tempDir('transport');
  const auth = new FakeDeviceAuth();
  let broker: BrokerHandle;

  beforeAll(async () => {
    auth.add(DEV.deviceId);
    broker = await startBroker(await testConfig(dir, { YULAN_MAX_PACKET_BYTES: String(MAX) }), logger, { deviceAuth: auth });
  });
  afterAll(async () => {
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves MQTT over WebSocket at /mqtt', async () => {
    const ws = `ws://127.0.0.1:${broker.wsPort}/mqtt`;
    const edge = await mqttClient(ws, { clientId: 'edge:ws', username: 'edge', password: EDGE_PASSWORD });
    const got: string[] = [];
    edge.on('message', (_t, p) => got.push(p.toString()));
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
    const dev = await mqttClient(ws, { clientId: DEV.deviceId, username: DEV.deviceId, password: 'secret-dev-t' });
    await dev.publishAsync(deviceTopic(DEV, 'telemetry'), Buffer.from('over-ws'), { qos: 1 });
    await waitFor(() => got.includes('over-ws'), 'message over WebSocket');
    await Promise.all([dev.endAsync(), edge.endAsync()]);
  });

  it('answers /healthz openly and /metrics only with the bearer token', async () => {
    const base = `http://127.0.0.1:${broker.wsPort}`;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const m = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${BROKER_TOKEN}` } });
    expect(m.status).toBe(200);
    const body = (await m.json()) as { messagesIn: number; connections: { total: number } };
    expect(body.messagesIn).toBeGreaterThan(0);
    expect(body.connections.total).toBeGreaterThan(0);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('disconnects a client whose packet exceeds the cap, from the header alone', async () => {
    const before = broker.metrics().oversizedPackets;
    const { socket, returnCode } = await rawConnect(broker.mqttPort, { clientId: DEV.deviceId, username: DEV.deviceId, password: 'secret-dev-t' });
    expect(returnCode).toBe(0);
    // Announce a 100 MB PUBLISH and send only its first bytes: the broker must not wait
    // for (or buffer) the body.
    const header = mqttPacket.generate({ cmd: 'publish', topic: deviceTopic(DEV, 'telemetry'), payload: Buffer.alloc(16), qos: 0, retain: false, dup: false });
    const big = Buffer.from([0x30, 0x80, 0x80, 0x80, 0x30]); // remaining length 100_663_296
    socket.write(Buffer.concat([big, header.subarray(2, 18)]));
    await closed(socket);
    expect(broker.metrics().oversizedPackets).toBe(before + 1);
  });

  it('drops a whole oversized packet without delivering it, and keeps serving others', async () => {
    const edge = await mqttClient(`mqtt://127.0.0.1:${broker.mqttPort}`, { clientId: 'edge:big', username: 'edge', password: EDGE_PASSWORD });
    const got: number[] = [];
    edge.on('message', (_t, p) => got.push(p.length));
    await edge.subscribeAsync('yulan/v1/#', { qos: 0 });
    const before = broker.metrics().oversizedPackets;
    const { socket } = await rawConnect(broker.mqttPort, { clientId: DEV.deviceId, username: DEV.deviceId, password: 'secret-dev-t' });
    socket.write(mqttPacket.generate({ cmd: 'publish', topic: deviceTopic(DEV, 'telemetry'), payload: Buffer.alloc(MAX * 2), qos: 0, retain: false, dup: false }));
    await closed(socket);
    expect(broker.metrics().oversizedPackets).toBe(before + 1);
    const dev = await mqttClient(`mqtt://127.0.0.1:${broker.mqttPort}`, { clientId: DEV.deviceId, username: DEV.deviceId, password: 'secret-dev-t' });
    await dev.publishAsync(deviceTopic(DEV, 'telemetry'), Buffer.alloc(100), { qos: 1 });
    await waitFor(() => got.includes(100), 'normal message after the oversized one');
    expect(got.some((n) => n > MAX)).toBe(false);
    await Promise.all([dev.endAsync(), edge.endAsync()]);
  });

  it('counts garbage on the wire as a protocol error and survives it', async () => {
    const before = broker.metrics().protocolErrors;
    const { socket } = await rawConnect(broker.mqttPort, { clientId: DEV.deviceId, username: DEV.deviceId, password: 'secret-dev-t' });
    socket.write(Buffer.from([0x00, 0x00])); // packet type 0 is reserved
    await closed(socket);
    await waitFor(() => broker.metrics().protocolErrors > before, 'protocol error counted');
    const again = await rawConnect(broker.mqttPort, { clientId: DEV.deviceId, username: DEV.deviceId, password: 'secret-dev-t' });
    expect(again.returnCode).toBe(0);
    again.socket.destroy();
  });
});
