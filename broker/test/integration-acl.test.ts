import fs from 'node:fs';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlTopic, DeviceKind, deviceTopic } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../src/index.js';
import { ruleFilterProblem, type IntegrationAccount } from '@yulan/protos';
import { integrationCanPublish, integrationCanRead, integrationCanSubscribe, integrationPrincipal } from '../src/integration-acl.js';
import { CLOUD_PASSWORD, FakeDeviceAuth, logger, mqttClient, rawConnect, subackCodes, tempDir, testConfig, waitFor } from './helpers.js';
import { FakeIntegrationAuth } from './integration-support.js';

const EM = { site: 'xuhui', kind: DeviceKind.ENV_MONITOR, deviceId: 'em-1' } as const;
const FALL = { site: 'xuhui', kind: DeviceKind.FALL_SENSOR, deviceId: 'fs-1' } as const;
const OTHER = { site: 'minhang', kind: DeviceKind.ENV_MONITOR, deviceId: 'em-9' } as const;

const grafana: IntegrationAccount = {
  name: 'grafana',
  rules: [{ filter: 'yulan/v1/xuhui/env-monitor/+/telemetry', read: true, write: false }],
  namespace: true,
  healthGrant: false,
};

describe('integration ACL decisions (pure)', () => {
  const p = integrationPrincipal(grafana);
  it('grants subscriptions no wider than a read rule', () => {
    const allowed = ['yulan/v1/xuhui/env-monitor/+/telemetry', 'yulan/v1/xuhui/env-monitor/em-1/telemetry', 'ext/grafana/#', 'ext/grafana', 'ext/grafana/a/+'];
    for (const f of allowed) expect(integrationCanSubscribe(p, f), f).toBe(true);
    const denied = [
      'yulan/v1/+/env-monitor/+/telemetry', // overlaps the rule but is wider
      'yulan/v1/xuhui/env-monitor/+/+', 'yulan/v1/xuhui/env-monitor/#', 'yulan/v1/#', '#', '+/v1/xuhui/env-monitor/em-1/telemetry',
      'yulan/v1/xuhui/env-monitor/em-1/telemetry/x', 'yulan/v1/xuhui/env-monitor/em-1', 'ext/other/#', 'ext/#',
      '$SYS/#', '$yulan/v1/control/revoke', '$share/g/yulan/v1/xuhui/env-monitor/+/telemetry', '$share/g/ext/grafana/#', '',
    ];
    for (const f of denied) expect(integrationCanSubscribe(p, f), f).toBe(false);
  });
  it('allows publishing only where a write rule or the namespace matches', () => {
    expect(integrationCanPublish(p, 'ext/grafana/out')).toBe(true);
    expect(integrationCanPublish(p, 'ext/grafana')).toBe(true);
    expect(integrationCanPublish(p, 'ext/grafanax/out')).toBe(false);
    expect(integrationCanPublish(p, deviceTopic(EM, 'telemetry'))).toBe(false); // read-only rule
    expect(integrationCanPublish(p, deviceTopic(EM, 'cmd'))).toBe(false);
    const all = integrationPrincipal({ name: 'all', rules: [{ filter: '#', read: true, write: true }], namespace: false, healthGrant: true });
    expect(integrationCanPublish(all, 'any/topic')).toBe(true);
    expect(integrationCanPublish(all, ControlTopic.Revoke)).toBe(false); // `#` never matches `$` topics
    expect(integrationCanRead(all, '$SYS/broker/uptime')).toBe(false);
  });
  it('withholds fall-sensor topics without a health grant, by name and per delivery', () => {
    const wide = integrationPrincipal({ name: 'w', rules: [{ filter: 'yulan/v1/xuhui/#', read: true, write: false }], namespace: false, healthGrant: false });
    expect(integrationCanSubscribe(wide, 'yulan/v1/xuhui/#')).toBe(true);
    expect(integrationCanSubscribe(wide, 'yulan/v1/xuhui/fall-sensor/+/event')).toBe(false);
    expect(integrationCanRead(wide, deviceTopic(FALL, 'event'))).toBe(false);
    expect(integrationCanRead(wide, deviceTopic(EM, 'telemetry'))).toBe(true);
    expect(integrationCanRead(wide, 'yulan/v1/xuhui/fall-sensorx/a/event')).toBe(true);
    const granted = integrationPrincipal({ name: 'w', rules: [{ filter: 'yulan/v1/xuhui/#', read: true, write: false }], namespace: false, healthGrant: true });
    expect(integrationCanSubscribe(granted, 'yulan/v1/xuhui/fall-sensor/+/event')).toBe(true);
    expect(integrationCanRead(granted, deviceTopic(FALL, 'event'))).toBe(true);
  });
  it('rejects unusable rule filters', () => {
    expect(ruleFilterProblem('$SYS/#')).toMatch(/\$ topics/);
    expect(ruleFilterProblem('a/#/b')).toMatch(/#/);
    expect(ruleFilterProblem('a/b+')).toMatch(/\+/);
    expect(ruleFilterProblem('yulan/v1/+/env-monitor/#')).toBeUndefined();
    expect(ruleFilterProblem('yulan/v1/+/toaster/#')).toMatch(/device kind/);
    expect(ruleFilterProblem('#')).toBeUndefined();
  });
});

describe('integration accounts on a live broker', () => {
  const dir = tempDir('integration');
  const devices = new FakeDeviceAuth();
  const integrations = new FakeIntegrationAuth();
  let broker: BrokerHandle;
  let url: string;
  const clients: MqttClient[] = [];
  const track = (c: MqttClient): MqttClient => (clients.push(c), c);
  const device = async (a: { deviceId: string }): Promise<MqttClient> =>
    track(await mqttClient(url, { clientId: a.deviceId, username: a.deviceId, password: `secret-${a.deviceId}` }));
  const integration = async (name: string, clientId = `int:${name}:1`): Promise<MqttClient> =>
    track(await mqttClient(url, { clientId, username: `int:${name}`, password: `secret-${name}` }));
  const notify = async (notice: object): Promise<void> => {
    const cloud = track(await mqttClient(url, { clientId: `cloud:n${clients.length}`, username: 'cloud', password: CLOUD_PASSWORD }));
    await cloud.publishAsync(ControlTopic.Integration, Buffer.from(JSON.stringify(notice)), { qos: 1 });
  };

  beforeAll(async () => {
    for (const d of [EM, FALL, OTHER]) devices.add(d.deviceId, { site: d.site, kind: d.kind });
    integrations.add(grafana);
    integrations.add({ name: 'ops', rules: [{ filter: 'yulan/v1/xuhui/+/+/telemetry', read: true, write: false }], namespace: true, healthGrant: false });
    broker = await startBroker(await testConfig(dir), logger, { deviceAuth: devices, integrationAuth: integrations });
    url = `mqtt://127.0.0.1:${broker.mqttPort}`;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers the subscribe matrix with SUBACK codes and keeps the connection', async () => {
    const c = await integration('grafana');
    const filters = [
      'yulan/v1/xuhui/env-monitor/+/telemetry', 'yulan/v1/xuhui/env-monitor/em-1/telemetry', 'yulan/v1/+/env-monitor/+/telemetry',
      'yulan/v1/#', '#', '$SYS/#', '$yulan/v1/control/#', '$share/g/yulan/v1/xuhui/env-monitor/+/telemetry', 'ext/grafana/#', 'ext/ops/#',
    ];
    const before = broker.metrics().aclDenied.subscribe;
    expect(await subackCodes(c, filters)).toEqual([1, 1, 128, 128, 128, 128, 128, 128, 1, 128]);
    expect(broker.metrics().aclDenied.subscribe).toBe(before + 7);
    expect(c.connected).toBe(true);
  });

  it('delivers what the rules allow and discards denied publishes (counted)', async () => {
    const c = await integration('grafana', 'int:grafana:2');
    const got: string[] = [];
    c.on('message', (t, p) => got.push(`${t}=${p.toString()}`));
    await c.subscribeAsync(['yulan/v1/xuhui/env-monitor/+/telemetry', 'ext/grafana/#'], { qos: 1 });
    const em = await device(EM);
    const sub = await device(OTHER);
    await sub.publishAsync(deviceTopic(OTHER, 'telemetry'), Buffer.from('minhang'), { qos: 1 });
    await em.publishAsync(deviceTopic(EM, 'telemetry'), Buffer.from('xuhui'), { qos: 1 });
    await waitFor(() => got.includes(`${deviceTopic(EM, 'telemetry')}=xuhui`), 'xuhui telemetry');
    expect(got.join()).not.toContain('minhang');

    const denied = broker.metrics().aclDenied.publish;
    await c.publishAsync(deviceTopic(EM, 'cmd'), Buffer.from('raw-command'), { qos: 1 });
    await c.publishAsync(ControlTopic.Revoke, Buffer.from(EM.deviceId), { qos: 1 });
    await c.publishAsync('ext/grafana/out', Buffer.from('own'), { qos: 1 });
    await waitFor(() => got.includes('ext/grafana/out=own'), 'own namespace message');
    expect(broker.metrics().aclDenied.publish).toBe(denied + 2);
    expect(em.connected).toBe(true); // the revoke was discarded
    expect(c.connected).toBe(true);
  });

  it('withholds health data without a grant, and delivers it once granted on the live session', async () => {
    const c = await integration('ops');
    const got: string[] = [];
    c.on('message', (t) => got.push(t));
    expect(await subackCodes(c, ['yulan/v1/xuhui/+/+/telemetry', 'yulan/v1/xuhui/fall-sensor/+/telemetry'])).toEqual([1, 128]);
    const fall = await device(FALL);
    const em = clients.find((x) => x.options.clientId === EM.deviceId) ?? (await device(EM));
    await fall.publishAsync(deviceTopic(FALL, 'telemetry'), Buffer.from('f1'), { qos: 1 });
    await em.publishAsync(deviceTopic(EM, 'telemetry'), Buffer.from('e1'), { qos: 1 });
    await waitFor(() => got.includes(deviceTopic(EM, 'telemetry')), 'env telemetry');
    expect(got).not.toContain(deviceTopic(FALL, 'telemetry'));

    const account = { ...integrations.accounts.get('ops')!.account, healthGrant: true };
    await notify({ name: 'ops', action: 'update', account });
    await waitFor(() => integrations.forgotten.includes('ops'), 'notice applied');
    await fall.publishAsync(deviceTopic(FALL, 'telemetry'), Buffer.from('f2'), { qos: 1 });
    await waitFor(() => got.includes(deviceTopic(FALL, 'telemetry')), 'fall telemetry after the grant');
    expect(c.connected).toBe(true);
  });

  it('applies a narrowed rule to the live session at once', async () => {
    const c = await integration('grafana', 'int:grafana:3');
    const got: string[] = [];
    c.on('message', (t, p) => got.push(`${t}=${p.toString()}`));
    await c.subscribeAsync(['yulan/v1/xuhui/env-monitor/+/telemetry', 'ext/grafana/#'], { qos: 1 });
    await notify({ name: 'grafana', action: 'update', account: { ...grafana, rules: [] } });
    await waitFor(() => integrations.forgotten.filter((n) => n === 'grafana').length > 0, 'notice applied');
    const em = clients.find((x) => x.options.clientId === EM.deviceId) ?? (await device(EM));
    await em.publishAsync(deviceTopic(EM, 'telemetry'), Buffer.from('after-narrowing'), { qos: 1 });
    await c.publishAsync('ext/grafana/marker', Buffer.from('m'), { qos: 1 });
    await waitFor(() => got.includes('ext/grafana/marker=m'), 'namespace marker');
    expect(got.join()).not.toContain('after-narrowing');
    // …and a widened one: raw commands to one device, because the rule now says so.
    const cmds: string[] = [];
    em.on('message', (_t, p) => cmds.push(p.toString()));
    await em.subscribeAsync(deviceTopic(EM, 'cmd'), { qos: 1 });
    await notify({ name: 'grafana', action: 'update', account: { ...grafana, rules: [{ filter: deviceTopic(EM, 'cmd'), read: false, write: true }] } });
    await waitFor(() => integrations.forgotten.filter((n) => n === 'grafana').length > 1, 'second notice applied');
    await c.publishAsync(deviceTopic(EM, 'cmd'), Buffer.from('allowed-now'), { qos: 1 });
    await waitFor(() => cmds.includes('allowed-now'), 'command at the device');
  });

  it('cuts live sessions on disable and refuses the reconnect (CONNACK 5)', async () => {
    integrations.add({ ...grafana, name: 'tele' });
    const a = await integration('tele', 'int:tele:a');
    const b = await integration('tele', 'int:tele:b');
    const closed = Promise.all([a, b].map((c) => new Promise<void>((r) => c.once('close', () => r()))));
    integrations.accounts.get('tele')!.disabled = true;
    await notify({ name: 'tele', action: 'cut' });
    await closed;
    const r = await rawConnect(broker.mqttPort, { clientId: 'int:tele:a', username: 'int:tele', password: 'secret-tele' });
    expect(r.returnCode).toBe(5);
    r.socket.destroy();
  });

  it('refuses client ids that could take over another session, and bad secrets', async () => {
    for (const clientId of [EM.deviceId, 'cloud:x', 'int:grafanax:1', 'int:ops:1']) {
      const r = await rawConnect(broker.mqttPort, { clientId, username: 'int:grafana', password: 'secret-grafana' });
      expect(r.returnCode, clientId).toBe(2);
      r.socket.destroy();
    }
    const bad = await rawConnect(broker.mqttPort, { clientId: 'int:grafana', username: 'int:grafana', password: 'wrong' });
    expect(bad.returnCode).toBe(4);
    bad.socket.destroy();
    const empty = await rawConnect(broker.mqttPort, { clientId: '', username: 'int:grafana', password: 'secret-grafana' });
    expect(empty.returnCode).toBe(0);
    empty.socket.destroy();
  });

  it('ignores and counts a malformed notice', async () => {
    const before = broker.metrics().protocolErrors;
    await notify({ name: 'grafana', action: 'update', account: { name: 'grafana', rules: [{ filter: '$SYS/#', read: true, write: true }] } });
    await waitFor(() => broker.metrics().protocolErrors === before + 1, 'malformed notice counted');
  });
});
