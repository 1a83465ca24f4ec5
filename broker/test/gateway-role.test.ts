import fs from 'node:fs';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlTopic, DeviceKind, Presence, deviceTopic, gatewayTopics, hashSecret, type GatewayNotice } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../src/index.js';
import { CLOUD_PASSWORD, EDGE_PASSWORD, FakeDeviceAuth, logger, mqttClient, subackCodes, tempDir, testConfig, waitFor } from './helpers.js';

const GW_PASSWORD = 'gateway-password-for-tests-0123456789';
const site = 'plaza';
const kind = DeviceKind.EV_CHARGER;
const topic = (id: string, ch: 'telemetry' | 'cmd' | 'twin-desired' | 'presence' | 'event') => deviceTopic({ site, kind, deviceId: id }, ch);

interface Gw { client: MqttClient; notices: GatewayNotice[]; got: { topic: string; payload: string }[]; user: string }

describe('gateway broker role: one session speaks for the devices bound to it', () => {
  const dir = tempDir('gateway-role');
  const auth = new FakeDeviceAuth();
  let broker: BrokerHandle;
  let url: string;
  let edge: MqttClient;
  const seen: { topic: string; payload: string }[] = [];
  const presence: Presence[] = [];

  async function gateway(user: string, clientSuffix = '1'): Promise<Gw> {
    const client = await mqttClient(url, { clientId: `${user}:${clientSuffix}`, username: user, password: GW_PASSWORD });
    const gw: Gw = { client, notices: [], got: [], user };
    const t = gatewayTopics(user);
    client.on('message', (tp, payload) => {
      if (tp === t.notice) gw.notices.push(JSON.parse(payload.toString()) as GatewayNotice);
      else gw.got.push({ topic: tp, payload: payload.toString() });
    });
    await client.subscribeAsync(t.notice, { qos: 1 });
    return gw;
  }
  const bind = async (gw: Gw, id: string, key: string): Promise<GatewayNotice> => {
    const before = gw.notices.length;
    await gw.client.publishAsync(gatewayTopics(gw.user).bind, JSON.stringify({ id, key }), { qos: 1 });
    await waitFor(() => gw.notices.slice(before).some((n) => n.id === id), `notice for ${id}`);
    return gw.notices.slice(before).find((n) => n.id === id)!;
  };
  /** Publishes `marker` after `payload` on the same session: once the marker arrived, the
   * broker has decided on the earlier publish too (one session's publishes keep their order). */
  const publishThenMarker = async (gw: Gw, t: string, payload: string, markerTopic: string, marker: string): Promise<void> => {
    await gw.client.publishAsync(t, payload, { qos: 1 });
    await gw.client.publishAsync(markerTopic, marker, { qos: 1 });
    await waitFor(() => seen.some((m) => m.payload === marker), `marker ${marker}`);
  };

  beforeAll(async () => {
    for (const id of ['cp-a1', 'cp-a2', 'cp-b1', 'cp-free', 'cp-rev']) auth.add(id, { site, kind });
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'accounts.json'), JSON.stringify([
      { username: 'edge', role: 'edge', hash: await hashSecret(EDGE_PASSWORD) },
      { username: 'cloud', role: 'cloud', hash: await hashSecret(CLOUD_PASSWORD) },
      { username: 'gw-a', role: 'gateway', hash: await hashSecret(GW_PASSWORD) },
      { username: 'gw-b', role: 'gateway', hash: await hashSecret(GW_PASSWORD) },
    ]));
    broker = await startBroker(await testConfig(dir), logger, { deviceAuth: auth });
    url = `mqtt://127.0.0.1:${broker.mqttPort}`;
    edge = await mqttClient(url, { clientId: 'edge:gw-test', username: 'edge', password: EDGE_PASSWORD });
    edge.on('message', (t, payload) => {
      if (t.endsWith('/presence')) presence.push(Presence.decode(payload));
      else seen.push({ topic: t, payload: payload.toString() });
    });
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
  });
  afterAll(async () => {
    await edge?.endAsync(true);
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('binds a device by its key: online presence, then it may publish and receive its commands', async () => {
    const gw = await gateway('gw-a');
    expect(await bind(gw, 'cp-a1', 'secret-cp-a1')).toMatchObject({ type: 'bound', id: 'cp-a1', site });
    await waitFor(() => presence.some((p) => p.deviceId === 'cp-a1' && p.online && p.reason === 'broker-connect'), 'online presence');
    await gw.client.publishAsync(topic('cp-a1', 'telemetry'), 'from-a1', { qos: 1 });
    await waitFor(() => seen.some((m) => m.topic === topic('cp-a1', 'telemetry') && m.payload === 'from-a1'), 'bound publish delivered');

    expect(await subackCodes(gw.client, [topic('cp-a1', 'cmd'), topic('cp-a1', 'twin-desired')])).toEqual([1, 1]);
    const cloud = await mqttClient(url, { clientId: 'cloud:gw-test', username: 'cloud', password: CLOUD_PASSWORD });
    await cloud.publishAsync(topic('cp-a1', 'cmd'), 'start', { qos: 1 });
    await waitFor(() => gw.got.some((m) => m.topic === topic('cp-a1', 'cmd') && m.payload === 'start'), 'command delivered');
    await cloud.endAsync();
    await gw.client.endAsync();
  });

  it('refuses a wrong key, an unbound device and another gateway\'s device; the session stays up', async () => {
    const a = await gateway('gw-a', 'refusals');
    const b = await gateway('gw-b');
    expect(await bind(a, 'cp-a2', 'secret-cp-a2')).toMatchObject({ type: 'bound' });
    expect(await bind(b, 'cp-b1', 'secret-cp-b1')).toMatchObject({ type: 'bound' });
    expect(await bind(a, 'cp-free', 'wrong-key')).toEqual({ type: 'refused', id: 'cp-free', reason: 'bad-credentials' });
    expect(await bind(a, 'no-such', 'secret-x')).toEqual({ type: 'refused', id: 'no-such', reason: 'bad-credentials' });

    // unbound (registered, never bound) and bound to the other gateway: discarded
    await publishThenMarker(a, topic('cp-free', 'telemetry'), 'forged-free', topic('cp-a2', 'telemetry'), 'marker-1');
    await publishThenMarker(a, topic('cp-b1', 'event'), 'forged-b1', topic('cp-a2', 'telemetry'), 'marker-2');
    // a bound device's topic on a channel a device may not publish to (its own commands)
    await publishThenMarker(a, topic('cp-a2', 'cmd'), 'self-cmd', topic('cp-a2', 'telemetry'), 'marker-3');
    expect(seen.map((m) => m.payload)).not.toContain('forged-free');
    expect(seen.map((m) => m.payload)).not.toContain('forged-b1');
    expect(seen.map((m) => m.payload)).not.toContain('self-cmd');
    // the other gateway still speaks for its own device
    await b.client.publishAsync(topic('cp-b1', 'telemetry'), 'from-b1', { qos: 1 });
    await waitFor(() => seen.some((m) => m.payload === 'from-b1'), 'b publishes for its own');

    // subscribing to a device not bound to it, to wildcards, to the other's notices: 0x80
    expect(await subackCodes(a.client, [topic('cp-b1', 'cmd'), topic('cp-free', 'cmd'), 'yulan/v1/+/ev-charger/+/cmd', gatewayTopics('gw-b').notice, topic('cp-a2', 'cmd')]))
      .toEqual([0x80, 0x80, 0x80, 0x80, 1]);
    // the gateway account cannot be used with a client id outside its prefix
    await expect(mqttClient(url, { clientId: 'cp-a2', username: 'gw-a', password: GW_PASSWORD })).rejects.toThrow();
    // and the bind topic of another gateway is not its to use
    await a.client.publishAsync(gatewayTopics('gw-b').bind, JSON.stringify({ id: 'cp-free', key: 'secret-cp-free' }), { qos: 1 });
    await publishThenMarker(a, topic('cp-a2', 'telemetry'), 'after-foreign-bind', topic('cp-a2', 'telemetry'), 'marker-4');
    expect(b.notices.some((n) => n.id === 'cp-free')).toBe(false);

    // the device moves to the other gateway (bound there with its key): the first loses it
    expect(await bind(b, 'cp-a2', 'secret-cp-a2')).toMatchObject({ type: 'bound' });
    await waitFor(() => a.notices.some((n) => n.type === 'unbound' && n.id === 'cp-a2' && n.reason === 'replaced'), 'replaced notice');
    expect(await bind(a, 'cp-free', 'secret-cp-free')).toMatchObject({ type: 'bound' });
    await publishThenMarker(a, topic('cp-a2', 'telemetry'), 'stale-a2', topic('cp-free', 'telemetry'), 'marker-6');
    expect(seen.map((m) => m.payload)).not.toContain('stale-a2');
    await a.client.endAsync();
    await b.client.endAsync();
  }, 30_000);

  it('marks every device of a gateway offline when its session dies', async () => {
    const gw = await gateway('gw-a', 'dies');
    for (const id of ['cp-a1', 'cp-free']) expect(await bind(gw, id, `secret-${id}`)).toMatchObject({ type: 'bound' });
    const from = presence.length;
    // no DISCONNECT: the socket is destroyed, as when the gateway process is SIGKILLed
    (gw.client as unknown as { stream: { destroy(): void } }).stream.destroy();
    gw.client.end(true);
    await waitFor(() => ['cp-a1', 'cp-free'].every((id) => presence.slice(from).some((p) => p.deviceId === id && !p.online && p.reason === 'gateway-lost')), 'offline for all its devices');
    // a bound device of another gateway is untouched
    expect(presence.slice(from).some((p) => p.deviceId === 'cp-b1')).toBe(false);
  });

  it('a revoked device is unbound: offline, the gateway told to cut it, its publishes refused, a new bind refused', async () => {
    const gw = await gateway('gw-a', 'revoke');
    expect(await bind(gw, 'cp-rev', 'secret-cp-rev')).toMatchObject({ type: 'bound' });
    expect(await bind(gw, 'cp-a1', 'secret-cp-a1')).toMatchObject({ type: 'bound' });
    auth.devices.get('cp-rev')!.disabled = true;
    const cloud = await mqttClient(url, { clientId: 'cloud:gw-revoke', username: 'cloud', password: CLOUD_PASSWORD });
    await cloud.publishAsync(ControlTopic.Revoke, 'cp-rev', { qos: 1 });
    await waitFor(() => gw.notices.some((n) => n.type === 'unbound' && n.id === 'cp-rev' && n.reason === 'revoked'), 'revoked notice');
    await waitFor(() => presence.some((p) => p.deviceId === 'cp-rev' && !p.online && p.reason === 'revoked'), 'revoked presence');
    await publishThenMarker(gw, topic('cp-rev', 'telemetry'), 'after-revoke', topic('cp-a1', 'telemetry'), 'marker-5');
    expect(seen.map((m) => m.payload)).not.toContain('after-revoke');
    expect(await bind(gw, 'cp-rev', 'secret-cp-rev')).toEqual({ type: 'refused', id: 'cp-rev', reason: 'disabled' });
    // an unbind of a device that is no longer bound, and garbage, change nothing
    await gw.client.publishAsync(gatewayTopics('gw-a').unbind, 'not json', { qos: 1 });
    expect(await bind(gw, '../bad', 'x')).toEqual({ type: 'refused', id: '../bad', reason: 'invalid' });
    // unbind: offline presence for that device only
    const from = presence.length;
    await gw.client.publishAsync(gatewayTopics('gw-a').unbind, JSON.stringify({ id: 'cp-a1' }), { qos: 1 });
    await waitFor(() => presence.slice(from).some((p) => p.deviceId === 'cp-a1' && !p.online && p.reason === 'broker-disconnect'), 'unbind offline');
    await cloud.endAsync();
    await gw.client.endAsync();
  });
});
