import fs from 'node:fs';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlTopic, DeviceKind, deviceTopic } from '@yulan/protos';
import { canPublish, canSubscribe, devicePrincipal, servicePrincipal, startBroker, type BrokerHandle } from '../src/index.js';
import { CLOUD_PASSWORD, EDGE_PASSWORD, FakeDeviceAuth, logger, mqttClient, subackCodes, tempDir, testConfig, waitFor } from './helpers.js';

const A = { site: 'site-1', kind: DeviceKind.ENV_MONITOR, deviceId: 'dev-a' } as const;
const B = { site: 'site-1', kind: DeviceKind.EV_CHARGER, deviceId: 'dev-b' } as const;

describe('ACL decisions (pure)', () => {
  const dev = devicePrincipal(A.deviceId, A.site, A.kind);
  const edge = servicePrincipal('edge', 'edge');
  const cloud = servicePrincipal('cloud', 'cloud');

  it('lets a device publish only its own allowed channels', () => {
    for (const ch of ['telemetry', 'event', 'presence', 'cmd-result', 'twin-reported'] as const) {
      expect(canPublish(dev, deviceTopic(A, ch))).toBe(true);
    }
    expect(canPublish(dev, deviceTopic(A, 'cmd'))).toBe(false);
    expect(canPublish(dev, deviceTopic(B, 'telemetry'))).toBe(false);
    expect(canPublish(dev, `yulan/v1/other-site/env-monitor/dev-a/telemetry`)).toBe(false);
    expect(canPublish(dev, ControlTopic.Revoke)).toBe(false);
  });

  it('lets a device subscribe only to its exact cmd and twin-desired topics', () => {
    expect(canSubscribe(dev, deviceTopic(A, 'cmd'))).toBe(true);
    expect(canSubscribe(dev, deviceTopic(A, 'twin-desired'))).toBe(true);
    expect(canSubscribe(dev, deviceTopic(A, 'telemetry'))).toBe(false);
    expect(canSubscribe(dev, 'yulan/v1/site-1/env-monitor/dev-a/#')).toBe(false);
    expect(canSubscribe(dev, 'yulan/v1/+/+/+/cmd')).toBe(false);
    expect(canSubscribe(dev, deviceTopic(B, 'cmd'))).toBe(false);
  });

  it('applies the service-account rows', () => {
    expect(canPublish(edge, deviceTopic(A, 'cmd'))).toBe(false);
    expect(canSubscribe(edge, 'yulan/v1/#')).toBe(true);
    expect(canSubscribe(edge, 'yulan/v1/+/+/+/telemetry')).toBe(true);
    expect(canSubscribe(edge, '#')).toBe(false);
    expect(canSubscribe(edge, '$SYS/#')).toBe(false);
    expect(canPublish(cloud, deviceTopic(B, 'cmd'))).toBe(true);
    expect(canPublish(cloud, deviceTopic(B, 'twin-desired'))).toBe(true);
    expect(canPublish(cloud, deviceTopic(B, 'telemetry'))).toBe(false);
    expect(canPublish(cloud, 'yulan/v1/site-1/not-a-kind/dev-b/cmd')).toBe(false);
    expect(canPublish(cloud, ControlTopic.Revoke)).toBe(true);
    expect(canPublish(cloud, '$yulan/v1/other')).toBe(false);
    expect(canSubscribe(cloud, ControlTopic.Revoke)).toBe(false);
  });

  it('lets the cloud watch results, twins and presence of all devices but telemetry of one device only', () => {
    for (const f of ['yulan/v1/+/+/+/presence', 'yulan/v1/+/+/+/cmd-result', 'yulan/v1/+/+/+/twin-reported',
      'yulan/v1/site-1/+/+/cmd-result', deviceTopic(A, 'twin-reported'), deviceTopic(A, 'telemetry'), deviceTopic(B, 'event')]) {
      expect(canSubscribe(cloud, f), f).toBe(true);
    }
    for (const f of ['yulan/v1/#', 'yulan/v1/+/+/+/telemetry', 'yulan/v1/+/+/+/event', 'yulan/v1/site-1/env-monitor/+/telemetry',
      'yulan/v1/+/env-monitor/dev-a/telemetry', 'yulan/v1/site-1/+/dev-a/event', 'yulan/v1/site-1/env-monitor/dev-a/#',
      'yulan/v1/site-1/env-monitor/dev-a/+', 'yulan/v1/+/+/+/cmd', 'yulan/v1/site-1/toaster/dev-a/telemetry', '#']) {
      expect(canSubscribe(cloud, f), f).toBe(false);
    }
    // devices keep exactly their rights
    expect(canSubscribe(dev, deviceTopic(A, 'twin-desired'))).toBe(true);
    expect(canPublish(dev, deviceTopic(A, 'twin-reported'))).toBe(true);
    expect(canPublish(dev, deviceTopic(A, 'twin-desired'))).toBe(false);
    expect(canSubscribe(edge, 'yulan/v1/+/+/+/telemetry')).toBe(true);
  });
});

describe('ACL enforcement on a live broker', () => {
  const dir = tempDir('acl');
  const auth = new FakeDeviceAuth();
  let broker: BrokerHandle;
  let url: string;
  const clients: MqttClient[] = [];
  const device = async (addr: typeof A | typeof B): Promise<MqttClient> => {
    const c = await mqttClient(url, { clientId: addr.deviceId, username: addr.deviceId, password: `secret-${addr.deviceId}` });
    clients.push(c);
    return c;
  };
  const service = async (user: 'edge' | 'cloud', clientId: string): Promise<MqttClient> => {
    const c = await mqttClient(url, { clientId, username: user, password: user === 'edge' ? EDGE_PASSWORD : CLOUD_PASSWORD });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    auth.add(A.deviceId, { site: A.site, kind: A.kind });
    auth.add(B.deviceId, { site: B.site, kind: B.kind });
    broker = await startBroker(await testConfig(dir), logger, { deviceAuth: auth });
    url = `mqtt://127.0.0.1:${broker.mqttPort}`;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('silently drops a publish outside the device prefix and counts it', async () => {
    const edge = await service('edge', 'edge:acl');
    const seen: string[] = [];
    edge.on('message', (topic) => seen.push(topic));
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
    const a = await device(A);
    const before = broker.metrics().aclDenied.publish;
    await a.publishAsync(deviceTopic(B, 'telemetry'), Buffer.from('spoof'), { qos: 1 });
    await a.publishAsync(deviceTopic(A, 'cmd'), Buffer.from('self-command'), { qos: 1 });
    await a.publishAsync(deviceTopic(A, 'telemetry'), Buffer.from('ok'), { qos: 1 });
    // Same connection, so the allowed message arriving means the denied ones were handled first.
    await waitFor(() => seen.includes(deviceTopic(A, 'telemetry')), 'allowed telemetry at the edge');
    expect(seen).not.toContain(deviceTopic(B, 'telemetry'));
    expect(seen).not.toContain(deviceTopic(A, 'cmd'));
    expect(broker.metrics().aclDenied.publish).toBe(before + 2);
    expect(a.connected).toBe(true);
  });

  it('refuses device subscriptions outside its cmd/twin topics, wildcards included (SUBACK 0x80)', async () => {
    const b = await device(B);
    const before = broker.metrics().aclDenied.subscribe;
    const codes = await subackCodes(b, [deviceTopic(B, 'cmd'), 'yulan/v1/site-1/ev-charger/dev-b/#', deviceTopic(A, 'cmd'), '#']);
    expect(codes).toEqual([1, 128, 128, 128]);
    expect(b.connected).toBe(true);
    expect(broker.metrics().aclDenied.subscribe).toBe(before + 3);
  });

  it('lets the cloud command a device and nobody else', async () => {
    const b = clients.find((c) => c.options.clientId === B.deviceId) ?? (await device(B));
    const got: string[] = [];
    b.on('message', (_t, p) => got.push(p.toString()));
    const edge = await service('edge', 'edge:acl-2');
    await edge.publishAsync(deviceTopic(B, 'cmd'), Buffer.from('from-edge'), { qos: 1 });
    const cloud = await service('cloud', 'cloud:acl');
    await cloud.publishAsync(deviceTopic(B, 'cmd'), Buffer.from('from-cloud'), { qos: 1 });
    await waitFor(() => got.includes('from-cloud'), 'cloud command at the device');
    expect(got).not.toContain('from-edge');
  });

  it('only the cloud may publish under $yulan/', async () => {
    const a = clients.find((c) => c.options.clientId === A.deviceId) ?? (await device(A));
    const before = broker.metrics().revocations;
    const deniedBefore = broker.metrics().aclDenied.publish;
    await a.publishAsync(ControlTopic.Revoke, Buffer.from(B.deviceId), { qos: 1 });
    expect(broker.metrics().aclDenied.publish).toBe(deniedBefore + 1);
    expect(broker.metrics().revocations).toBe(before);
    expect(auth.forgotten).not.toContain(B.deviceId);
  });

  it('refuses service subscriptions outside yulan/v1/ and $SYS', async () => {
    const cloud = await service('cloud', 'cloud:acl-2');
    const codes = await subackCodes(cloud, ['yulan/v1/+/+/+/presence', '$SYS/#', ControlTopic.Revoke, 'other/#']);
    expect(codes).toEqual([1, 128, 128, 128]);
  });

  it('delivers the retained desired twin the cloud published to a device that connects later', async () => {
    const cloud = await service('cloud', 'cloud:acl-3');
    await cloud.publishAsync(deviceTopic(A, 'twin-desired'), Buffer.from('desired-v1'), { qos: 1, retain: true });
    const codes = await subackCodes(cloud, ['yulan/v1/+/+/+/cmd-result', 'yulan/v1/+/+/+/telemetry', deviceTopic(A, 'telemetry')]);
    expect(codes).toEqual([1, 128, 1]);
    const a = clients.find((c) => c.options.clientId === A.deviceId) ?? (await device(A));
    const got: string[] = [];
    a.on('message', (t, p) => { if (t === deviceTopic(A, 'twin-desired')) got.push(p.toString()); });
    await a.subscribeAsync(deviceTopic(A, 'twin-desired'), { qos: 1 });
    await waitFor(() => got.includes('desired-v1'), 'retained desired twin at the device');
  });
});
