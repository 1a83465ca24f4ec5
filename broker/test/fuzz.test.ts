import fs from 'node:fs';
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceKind, deviceTopic } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../src/index.js';
import { EDGE_PASSWORD, FakeDeviceAuth, closed, logger, mqttClient, rawConnect, tempDir, testConfig, waitFor } from './helpers.js';

/**
 * Hostile input against a live broker: random bytes, broken lengths, oversized packets,
 * invalid UTF-8 and wildcard publish topics, SUBSCRIBE floods and half-open sockets. After
 * each barrage the broker must still be up, still serve a well-behaved device → edge
 * stream, and have counted what it rejected.
 */
const DEV = { site: 'site-1', kind: DeviceKind.ENV_MONITOR, deviceId: 'fuzz-dev' } as const;
const MAX_PACKET = 64 * 1024;

describe('MQTT fuzzing a live broker', () => {
  const dir = tempDir('fuzz');
  const auth = new FakeDeviceAuth();
  let broker: BrokerHandle;
  let port: number;
  let edge: MqttClient;
  const received: string[] = [];
  let probe = 0;

  /** A well-behaved device publishes one message and the edge must receive it. */
  async function stillServes(): Promise<void> {
    const tag = `probe-${++probe}`;
    const dev = await mqttClient(`mqtt://127.0.0.1:${port}`, { clientId: DEV.deviceId, username: DEV.deviceId, password: `secret-${DEV.deviceId}` });
    await dev.publishAsync(deviceTopic(DEV, 'telemetry'), Buffer.from(tag), { qos: 1 });
    await waitFor(() => received.includes(tag), `${tag} at the edge`);
    await dev.endAsync();
  }

  /** Opens a socket, writes `bytes`, and waits for the broker to close it (or a short grace). */
  async function send(bytes: Uint8Array, opts: { connectFirst?: boolean } = {}): Promise<void> {
    let socket: net.Socket;
    if (opts.connectFirst) {
      ({ socket } = await rawConnect(port, { clientId: DEV.deviceId, username: DEV.deviceId, password: `secret-${DEV.deviceId}` }));
    } else {
      socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    }
    socket.write(bytes);
    await Promise.race([closed(socket), new Promise((r) => setTimeout(r, 30))]);
    socket.destroy();
  }

  beforeAll(async () => {
    auth.add(DEV.deviceId, { site: DEV.site, kind: DEV.kind });
    broker = await startBroker(await testConfig(dir, { YULAN_MAX_PACKET_BYTES: String(MAX_PACKET) }), logger, { deviceAuth: auth });
    port = broker.mqttPort;
    edge = await mqttClient(`mqtt://127.0.0.1:${port}`, { clientId: 'edge:fuzz', username: 'edge', password: EDGE_PASSWORD });
    edge.on('message', (_t, p) => received.push(p.toString()));
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
  });
  afterAll(async () => {
    await edge?.endAsync(true);
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('survives random bytes before and after CONNECT', async () => {
    const before = broker.metrics().protocolErrors;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 512 }), fc.boolean(), async (bytes, connectFirst) => {
        await send(bytes, { connectFirst });
      }),
      { numRuns: 60 },
    );
    await stillServes();
    expect(broker.metrics().protocolErrors).toBeGreaterThan(before);
  });

  it('survives wrong remaining lengths and malformed length encodings', async () => {
    const publish = mqttPacket.generate({ cmd: 'publish', topic: deviceTopic(DEV, 'telemetry'), payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: -8, max: 8 }), async (delta) => {
        const bytes = Buffer.from(publish);
        bytes[1] = Math.max(0, (bytes[1] as number) + delta) & 0x7f;
        await send(bytes, { connectFirst: true });
      }),
      { numRuns: 30 },
    );
    // Five continuation bytes: longer than MQTT allows.
    const before = broker.metrics().protocolErrors;
    await send(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]), { connectFirst: true });
    await stillServes();
    expect(broker.metrics().protocolErrors).toBeGreaterThan(before);
  });

  it('cuts a client announcing an oversized packet from its header alone, and counts it', async () => {
    const before = broker.metrics().oversizedPackets;
    // Header claims 200 MB; only the header is sent, so the guard must act on it.
    const header = Buffer.from([0x30, 0x80, 0x80, 0xe4, 0x5f]);
    await send(header, { connectFirst: true });
    await send(header);
    await waitFor(() => broker.metrics().oversizedPackets >= before + 2, 'oversized packets counted');
    await stillServes();
  });

  it('rejects wildcard and invalid UTF-8 publish topics without delivering them', async () => {
    const aclBefore = broker.metrics().aclDenied.publish;
    const protoBefore = broker.metrics().protocolErrors;
    const bad = ['yulan/v1/site-1/env-monitor/+/telemetry', 'yulan/v1/#', '#', '+'];
    for (const topic of bad) {
      await send(mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from('wild'), qos: 0, retain: false, dup: false }), { connectFirst: true });
    }
    // Invalid UTF-8 (a lone continuation byte) spliced into an otherwise valid topic.
    const topic = Buffer.from(deviceTopic(DEV, 'telemetry'));
    const body = Buffer.concat([Buffer.from([0, topic.length + 1]), topic.subarray(0, 5), Buffer.from([0x80]), topic.subarray(5), Buffer.from('utf8')]);
    await send(Buffer.concat([Buffer.from([0x30, body.length]), body]), { connectFirst: true });
    await stillServes();
    expect(received).not.toContain('wild');
    expect(received).not.toContain('utf8');
    const m = broker.metrics();
    expect(m.aclDenied.publish + m.protocolErrors).toBeGreaterThanOrEqual(aclBefore + protoBefore + bad.length + 1);
  });

  it('handles a SUBSCRIBE flood from a device: every filter refused or granted, broker responsive', async () => {
    const { socket, parser } = await rawConnect(port, { clientId: DEV.deviceId, username: DEV.deviceId, password: `secret-${DEV.deviceId}` });
    let subacks = 0;
    parser.on('packet', (p: mqttPacket.Packet) => { if (p.cmd === 'suback') subacks++; });
    const before = broker.metrics().aclDenied.subscribe;
    const n = 2000;
    const chunks: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      chunks.push(mqttPacket.generate({ cmd: 'subscribe', messageId: (i % 65535) + 1, subscriptions: [{ topic: `yulan/v1/site-1/+/x${i}/#`, qos: 1 }] }));
    }
    socket.write(Buffer.concat(chunks));
    await waitFor(() => subacks === n || socket.destroyed, 'SUBACKs for the flood', 20_000);
    expect(broker.metrics().aclDenied.subscribe - before).toBe(subacks);
    socket.destroy();
    await stillServes();
  });

  it('keeps serving while many half-open sockets sit idle', async () => {
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 300; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      // Half a CONNECT: fixed header and a few bytes of the variable header, then silence.
      s.write(Buffer.from([0x10, 0x20, 0x00, 0x04, 0x4d]));
      sockets.push(s);
    }
    await waitFor(() => broker.metrics().sockets.current >= 300, 'half-open sockets accepted');
    await stillServes();
    for (const s of sockets) s.destroy();
    await waitFor(() => broker.metrics().sockets.current < 10, 'half-open sockets released');
  });
});
