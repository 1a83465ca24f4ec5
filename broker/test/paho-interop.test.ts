import fs from 'node:fs';
import type { MqttClient } from 'mqtt';
import type mqttPacket from 'mqtt-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../src/index.js';
import { FakeDeviceAuth, logger, mqttClient, subackCodes, tempDir, testConfig, waitFor } from './helpers.js';
import { FakeIntegrationAuth, openAccount } from './integration-support.js';
import { Raw } from './raw-client.js';

/**
 * The Eclipse Paho MQTT 3.1.1 interoperability client tests (paho.mqtt.testing,
 * interoperability/client_test.py), ported case by case from their descriptions and run
 * against the real broker with an integration account allowed on every topic. Same
 * topics, same steps; what differs:
 * - client ids carry the account prefix (`int:paho:myclientid`): a broker with accounts
 *   must not let one account's client id take over another's session;
 * - where Paho sleeps and then counts, these wait for the expected messages and use a
 *   marker message (published after) as the positive signal before asserting an absence;
 * - subscribe failure uses a second account whose rules leave out `test/nosubscribe`
 *   (Paho configures its test broker the same way).
 */
const TOPICS = ['TopicA', 'TopicA/B', 'Topic/C', 'TopicA/C', '/TopicA'] as const;
const WILDTOPICS = ['TopicA/+', '+/C', '#', '/#', '/+', '+/+', 'TopicA/#'] as const;
const NOSUBSCRIBE = 'test/nosubscribe';
const USER = 'int:paho';
const PASSWORD = 'secret-paho';
const login = { username: USER, password: PASSWORD };

describe('Paho MQTT 3.1.1 interoperability client tests', () => {
  let dir: string;
  let broker: BrokerHandle;
  let url: string;
  let clients: MqttClient[];
  let raws: Raw[];

  const client = async (id: string, opts: Parameters<typeof mqttClient>[1] = {}): Promise<{ c: MqttClient; got: { topic: string; payload: string; qos: number; retain: boolean }[] }> => {
    const c = await mqttClient(url, { clientId: `${USER}:${id}`, username: USER, password: PASSWORD, ...opts });
    clients.push(c);
    const got: { topic: string; payload: string; qos: number; retain: boolean }[] = [];
    c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }));
    return { c, got };
  };
  const raw = async (): Promise<Raw> => {
    const r = await Raw.open(broker.mqttPort);
    raws.push(r);
    return r;
  };

  beforeEach(async () => {
    // A fresh broker per case, as Paho clears retained messages and sessions before each.
    dir = tempDir('paho');
    const integrations = new FakeIntegrationAuth();
    integrations.add(openAccount('paho'), PASSWORD);
    integrations.add({ name: 'limited', rules: TOPICS.map((t) => ({ filter: `${t}/#`, read: true, write: true })), namespace: false, healthGrant: false }, PASSWORD);
    broker = await startBroker(await testConfig(dir), logger, { deviceAuth: new FakeDeviceAuth(), integrationAuth: integrations });
    url = `mqtt://127.0.0.1:${broker.mqttPort}`;
    clients = [];
    raws = [];
  });
  afterEach(async () => {
    for (const r of raws) r.socket.destroy();
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await broker.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('test_basic', async () => {
    const first = await client('myclientid');
    await first.c.endAsync();
    const { c, got } = await client('myclientid');
    await c.subscribeAsync(TOPICS[0], { qos: 2 });
    await c.publishAsync(TOPICS[0], 'qos 0', { qos: 0 });
    await c.publishAsync(TOPICS[0], 'qos 1', { qos: 1 });
    await c.publishAsync(TOPICS[0], 'qos 2', { qos: 2 });
    await waitFor(() => got.length === 3, 'three messages');
    expect(got.map((m) => [m.payload, m.qos])).toEqual([['qos 0', 0], ['qos 1', 1], ['qos 2', 2]]);
  });

  it('test_retained_messages', async () => {
    const { c, got } = await client('myclientid');
    await c.publishAsync(TOPICS[1], 'qos 0', { qos: 0, retain: true });
    await c.publishAsync(TOPICS[2], 'qos 1', { qos: 1, retain: true });
    await c.publishAsync(TOPICS[3], 'qos 2', { qos: 2, retain: true });
    await c.subscribeAsync(WILDTOPICS[5], { qos: 2 });
    await waitFor(() => got.length === 3, 'three retained messages');
    expect(got.every((m) => m.retain)).toBe(true);
    expect(got.map((m) => m.topic).sort()).toEqual([TOPICS[1], TOPICS[2], TOPICS[3]].sort());
    // clear them: zero-length retained publishes
    const { c: cleaner } = await client('cleanretained');
    for (const t of [TOPICS[1], TOPICS[2], TOPICS[3]]) await cleaner.publishAsync(t, '', { qos: 1, retain: true });
    await c.unsubscribeAsync(WILDTOPICS[5]);
    got.length = 0;
    await c.subscribeAsync(WILDTOPICS[5], { qos: 2 });
    await cleaner.publishAsync('TopicA/marker', 'marker', { qos: 1 });
    await waitFor(() => got.some((m) => m.payload === 'marker'), 'marker');
    expect(got.map((m) => m.payload)).toEqual(['marker']);
  });

  it('test_offline_message_queueing', async () => {
    const a = await client('myclientid', { clean: false });
    await a.c.subscribeAsync(WILDTOPICS[5], { qos: 2 });
    await a.c.endAsync();
    const { c: b } = await client('myclientid2');
    await b.publishAsync(TOPICS[1], 'qos 0', { qos: 0 });
    await b.publishAsync(TOPICS[2], 'qos 1', { qos: 1 });
    await b.publishAsync(TOPICS[3], 'qos 2', { qos: 2 });
    const again = await client('myclientid', { clean: false });
    // Paho accepts 2 or 3: QoS 0 messages may be dropped for an offline client.
    await waitFor(() => again.got.some((m) => m.payload === 'qos 1') && again.got.some((m) => m.payload === 'qos 2'), 'queued QoS 1 and 2');
    expect(again.got.length === 2 || again.got.length === 3).toBe(true);
  });

  it('test_will_message', async () => {
    const { c: b, got } = await client('myclientid2');
    await b.subscribeAsync(TOPICS[2], { qos: 2 });
    const a = await raw();
    await a.connect(`${USER}:myclientid`, true, { ...login, keepalive: 2, will: { topic: TOPICS[2], payload: Buffer.from('client not disconnected'), qos: 2, retain: false } });
    a.socket.destroy(); // terminate abruptly
    await waitFor(() => got.length === 1, 'the will');
    expect(got[0]).toMatchObject({ topic: TOPICS[2], payload: 'client not disconnected' });
  });

  it('test_overlapping_subscriptions', async () => {
    const { c, got } = await client('myclientid');
    await c.subscribeAsync({ [WILDTOPICS[6]]: { qos: 2 }, [WILDTOPICS[0]]: { qos: 1 } });
    await c.publishAsync(TOPICS[3], 'overlapping topic filters', { qos: 2 });
    await waitFor(() => got.length >= 1, 'a delivery');
    await c.publishAsync('TopicA/marker', 'marker', { qos: 1 }); // both filters match it too
    await waitFor(() => got.some((m) => m.payload === 'marker'), 'marker');
    const deliveries = got.filter((m) => m.payload === 'overlapping topic filters');
    // One delivery at the highest QoS, or one per matching subscription (QoS 1 and 2).
    if (deliveries.length === 1) expect(deliveries[0]!.qos).toBe(2);
    else expect(deliveries.map((m) => m.qos).sort()).toEqual([1, 2]);
  });

  it('test_keepalive', async () => {
    const { c: b, got } = await client('myclientid2');
    await b.subscribeAsync(TOPICS[4], { qos: 2 });
    const a = await raw();
    // keepalive 1 s and never a PINGREQ: the broker must close it within 1.5 keepalives and publish the will.
    await a.connect(`${USER}:myclientid`, true, { ...login, keepalive: 1, will: { topic: TOPICS[4], payload: Buffer.from('keepalive expiry'), qos: 2, retain: false } });
    await a.closed;
    await waitFor(() => got.length === 1, 'the will after keepalive expiry');
    expect(got[0]?.payload).toBe('keepalive expiry');
  });

  it('test_redelivery_on_reconnect', async () => {
    const a = await raw();
    await a.connect(`${USER}:myclientid`, false, login);
    a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: WILDTOPICS[6], qos: 2 }] });
    await a.next('suback');
    // Publish to ourselves and stop acknowledging what comes back ("pause").
    a.send({ cmd: 'publish', topic: TOPICS[1], payload: Buffer.from(''), qos: 1, messageId: 2, retain: false, dup: false });
    a.send({ cmd: 'publish', topic: TOPICS[3], payload: Buffer.from(''), qos: 2, messageId: 3, retain: false, dup: false });
    await a.next('puback');
    await a.next('pubrec');
    a.send({ cmd: 'pubrel', messageId: 3 });
    await a.next('pubcomp');
    await a.count('publish', 2);
    a.send({ cmd: 'disconnect' });
    await a.closed;
    const again = await raw();
    const ack = await again.connect(`${USER}:myclientid`, false, login);
    expect(ack.sessionPresent).toBe(true);
    await again.count('publish', 2);
    const redelivered = again.take('publish') as mqttPacket.IPublishPacket[];
    expect(redelivered.map((p) => [p.topic, p.qos, p.dup]).sort()).toEqual([[TOPICS[1], 1, true], [TOPICS[3], 2, true]]);
  });

  it('test_zero_length_clientid', async () => {
    const a = await raw();
    expect((await a.connect('', false, login)).returnCode).toBe(2); // [MQTT-3.1.3-8]
    const b = await raw();
    expect((await b.connect('', true, login)).returnCode).toBe(0); // [MQTT-3.1.3-6]
  });

  it('test_subscribe_failure', async () => {
    const c = await mqttClient(url, { clientId: 'int:limited:myclientid', username: 'int:limited', password: PASSWORD });
    clients.push(c);
    expect(await subackCodes(c, [NOSUBSCRIBE], 1)).toEqual([0x80]);
    expect(c.connected).toBe(true);
  });

  it('test_dollar_topics', async () => {
    const { c, got } = await client('myclientid2');
    await c.subscribeAsync(WILDTOPICS[5], { qos: 2 });
    await c.publishAsync(`$${TOPICS[1]}`, '', { qos: 1 });
    await c.publishAsync(TOPICS[1], 'marker', { qos: 1 });
    await waitFor(() => got.length >= 1, 'marker');
    expect(got.map((m) => m.topic)).toEqual([TOPICS[1]]);
  });

  it('test_unsubscribe', async () => {
    const { c: b, got } = await client('myclientid2');
    await b.subscribeAsync(TOPICS[0], { qos: 2 });
    await b.subscribeAsync(TOPICS[1], { qos: 2 });
    await b.subscribeAsync(TOPICS[2], { qos: 2 });
    await b.unsubscribeAsync(TOPICS[0]);
    const { c: a } = await client('myclientid');
    await a.publishAsync(TOPICS[0], '', { qos: 1 });
    await a.publishAsync(TOPICS[1], '', { qos: 1 });
    await a.publishAsync(TOPICS[2], '', { qos: 1 });
    await waitFor(() => got.length >= 2, 'two messages');
    await a.publishAsync(TOPICS[2], 'marker', { qos: 1 });
    await waitFor(() => got.some((m) => m.payload === 'marker'), 'marker');
    expect(got.map((m) => m.topic)).toEqual([TOPICS[1], TOPICS[2], TOPICS[2]]);
  });
});
