import fs from 'node:fs';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { DeviceKind, deviceTopic } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../src/index.js';
import { StartupHold } from '../src/startup-hold.js';
import { EDGE_PASSWORD, FakeDeviceAuth, logger, mqttClient, tempDir, testConfig, waitFor } from './helpers.js';

const DEV = { site: 'site-1', kind: DeviceKind.FALL_SENSOR, deviceId: 'fall-1' } as const;

describe('StartupHold (unit)', () => {
  it('holds only after a restart that lost a known persistent subscriber, until it is back or time is up', () => {
    const dir = tempDir('hold-unit');
    const file = path.join(dir, 'broker', 'subs.json');
    const first = new StartupHold(file, 10_000, logger, 0);
    expect(first.holding(0)).toBe(false); // nothing known yet
    first.subscribed('edge:edge-1', true);
    first.subscribed('cloud:abc', false); // clean sessions are not waited for
    const second = new StartupHold(file, 10_000, logger, 1000);
    expect(second.holding(1000)).toBe(true);
    expect(second.holding(11_000)).toBe(false); // gave up waiting
    second.subscribed('edge:edge-1', true);
    expect(second.holding(2000)).toBe(false);
    expect(new StartupHold(file, 0, logger, 0).holding(0)).toBe(false); // disabled
    fs.writeFileSync(file, '{not json');
    expect(new StartupHold(file, 10_000, logger, 0).holding(0)).toBe(false); // unreadable → no hold
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('after a restart, devices wait for the edge to subscribe again', () => {
  const dir = tempDir('hold');
  const auth = new FakeDeviceAuth();
  auth.add(DEV.deviceId, { site: DEV.site, kind: DEV.kind });
  let broker: BrokerHandle | undefined;
  const clients: MqttClient[] = [];
  const device = (url: string) => mqttClient(url, { clientId: DEV.deviceId, username: DEV.deviceId, password: `secret-${DEV.deviceId}` });
  const edge = async (url: string): Promise<MqttClient> => {
    const e = await mqttClient(url, { clientId: 'edge:edge-1', username: 'edge', password: EDGE_PASSWORD, clean: false });
    clients.push(e);
    await e.subscribeAsync('yulan/v1/#', { qos: 1 });
    return e;
  };
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses devices (server unavailable) until the persistent edge is back, then delivers to it', async () => {
    broker = await startBroker(await testConfig(dir, { YULAN_BROKER_STARTUP_HOLD_MS: '60000' }), logger, { deviceAuth: auth });
    let url = `mqtt://127.0.0.1:${broker.mqttPort}`;
    const e1 = await edge(url);
    const d1 = await device(url); // first start: nobody to wait for
    await d1.endAsync();
    e1.end(true);
    await broker.close();

    broker = await startBroker(await testConfig(dir, { YULAN_BROKER_STARTUP_HOLD_MS: '60000' }), logger, { deviceAuth: auth });
    url = `mqtt://127.0.0.1:${broker.mqttPort}`;
    await expect(device(url)).rejects.toThrow(/Server unavailable/i);
    expect(broker.metrics().authUnavailable).toBe(1);
    const e2 = await edge(url);
    const got: string[] = [];
    e2.on('message', (_t, p) => got.push(p.toString()));
    const d2 = await device(url);
    clients.push(d2);
    await d2.publishAsync(deviceTopic(DEV, 'event'), Buffer.from('sos'), { qos: 1 });
    await waitFor(() => got.includes('sos'), 'the SOS at the edge');
  });

  it('lets devices in once the hold time is up, even if the edge never returns', async () => {
    await broker?.close();
    broker = await startBroker(await testConfig(dir, { YULAN_BROKER_STARTUP_HOLD_MS: '300' }), logger, { deviceAuth: auth });
    const url = `mqtt://127.0.0.1:${broker.mqttPort}`;
    await expect(device(url)).rejects.toThrow(/Server unavailable/i);
    let admitted: MqttClient | undefined;
    for (const deadline = Date.now() + 10_000; !admitted && Date.now() < deadline;) {
      admitted = await device(url).catch(() => undefined);
      if (!admitted) await new Promise((r) => setTimeout(r, 100));
    }
    expect(admitted?.connected).toBe(true);
    clients.push(admitted!);
  });
});
