import fs from 'node:fs';
import type mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../src/index.js';
import { isUnsupportedProtocolLevel } from '../src/conformance.js';
import { FakeDeviceAuth, logger, mqttClient, tempDir, testConfig, waitFor } from './helpers.js';
import { Raw, rawPublish } from './raw-client.js';
import { FakeIntegrationAuth, openAccount } from './integration-support.js';

const USER = 'int:conf';
const PASSWORD = 'secret-conf';
const login = { username: USER, password: PASSWORD };

/** CONNECT (clean session, client id "c") with a chosen protocol level byte. */
function connectWithLevel(level: number): Buffer {
  const body = Buffer.from([0x00, 0x04, ...Buffer.from('MQTT'), level, 0x02, 0x00, 0x3c, 0x00, 0x01, 0x63]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

describe('MQTT 3.1.1 conformance fixes (raw packets, real broker)', () => {
  const dir = tempDir('conformance');
  const integrations = new FakeIntegrationAuth();
  let broker: BrokerHandle;

  beforeAll(async () => {
    integrations.add(openAccount('conf'), PASSWORD);
    broker = await startBroker(await testConfig(dir), logger, { deviceAuth: new FakeDeviceAuth(), integrationAuth: integrations });
  });
  afterAll(async () => {
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('[MQTT-3.2.2-2] Session Present is 1 when resuming a clean-session=0 session that has no subscriptions', async () => {
    const id = `${USER}:sp`;
    const first = await Raw.open(broker.mqttPort);
    expect((await first.connect(id, false, login)).sessionPresent).toBe(false); // no session yet [MQTT-3.2.2-3]
    first.send({ cmd: 'disconnect' });
    await first.closed;
    const second = await Raw.open(broker.mqttPort);
    const ack = await second.connect(id, false, login);
    expect(ack.returnCode).toBe(0);
    expect(ack.sessionPresent).toBe(true);
    // The session works as before: nothing was subscribed by the resume.
    second.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'conf/sp', qos: 1 }] });
    expect(((await second.next('suback')) as mqttPacket.ISubackPacket).granted).toEqual([1]);
    second.send({ cmd: 'disconnect' });
    await second.closed;
    // A clean-session=1 connect ends the session; the next clean-session=0 starts afresh.
    const clean = await Raw.open(broker.mqttPort);
    expect((await clean.connect(id, true, login)).sessionPresent).toBe(false); // [MQTT-3.2.2-1]
    clean.send({ cmd: 'disconnect' });
    await clean.closed;
    const fresh = await Raw.open(broker.mqttPort);
    expect((await fresh.connect(id, false, login)).sessionPresent).toBe(false);
    fresh.socket.destroy();
  });

  it('[MQTT-3.2.2-2] Session Present stays 1 for a session with subscriptions', async () => {
    const id = `${USER}:sp-subs`;
    const a = await Raw.open(broker.mqttPort);
    await a.connect(id, false, login);
    a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'conf/subs', qos: 1 }] });
    await a.next('suback');
    a.send({ cmd: 'disconnect' });
    await a.closed;
    const b = await Raw.open(broker.mqttPort);
    expect((await b.connect(id, false, login)).sessionPresent).toBe(true);
    b.socket.destroy();
  });

  for (const [what, topic] of [
    ['invalid UTF-8 (0xFF)', Buffer.from([0x61, 0xff, 0x62])],
    ['a UTF-16 surrogate encoded as UTF-8', Buffer.from([0x61, 0xed, 0xa0, 0x80])],
    ['a truncated 4-byte sequence', Buffer.from([0x61, 0xf0, 0x9f, 0x98])],
    ['U+0000', Buffer.from([0x61, 0x00, 0x62])],
  ] as const) {
    it(`[MQTT-1.5.3-1/2] a PUBLISH topic with ${what} closes the connection, and is not delivered`, async () => {
      const watcher = await mqttClient(`mqtt://127.0.0.1:${broker.mqttPort}`, { clientId: `${USER}:watch`, username: USER, password: PASSWORD });
      const seen: string[] = [];
      watcher.on('message', (t) => seen.push(t));
      await watcher.subscribeAsync('#', { qos: 0 });
      const before = broker.metrics().protocolErrors;
      const r = await Raw.open(broker.mqttPort);
      expect((await r.connect(`${USER}:bad`, true, login)).returnCode).toBe(0);
      r.send(rawPublish(topic));
      await r.closed;
      expect(broker.metrics().protocolErrors).toBe(before + 1);
      // A good publish from another client arriving proves the bad one went nowhere before it.
      await watcher.publishAsync('conf/after', Buffer.from('ok'), { qos: 1 });
      await waitFor(() => seen.includes('conf/after'), 'the good publish');
      expect(seen).toEqual(['conf/after']);
      await watcher.endAsync(true);
    });
  }

  it('a topic with valid non-ASCII UTF-8 is accepted', async () => {
    const r = await Raw.open(broker.mqttPort);
    await r.connect(`${USER}:utf8`, true, login);
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'conf/徐汇', qos: 0 }] });
    await r.next('suback');
    r.send(rawPublish(Buffer.from('conf/徐汇', 'utf8')));
    const p = (await r.next('publish')) as mqttPacket.IPublishPacket;
    expect(p.topic).toBe('conf/徐汇');
    r.socket.destroy();
  });

  for (const level of [2, 6, 0x7f]) {
    it(`[MQTT-3.1.2-2] CONNECT with protocol level ${level} gets CONNACK 0x01, then the close`, async () => {
      const r = await Raw.open(broker.mqttPort);
      r.send(connectWithLevel(level));
      await r.closed;
      expect(Buffer.concat(r.bytes)).toEqual(Buffer.from([0x20, 0x02, 0x00, 0x01]));
    });
  }

  it('CONNECT with level 4 is not mistaken for an unsupported one', () => {
    expect(isUnsupportedProtocolLevel(connectWithLevel(4))).toBe(false);
    expect(isUnsupportedProtocolLevel(connectWithLevel(3))).toBe(false);
    expect(isUnsupportedProtocolLevel(connectWithLevel(0x84))).toBe(false); // bridge bit
    expect(isUnsupportedProtocolLevel(connectWithLevel(6))).toBe(true);
    expect(isUnsupportedProtocolLevel(Buffer.from([0x10]))).toBe(false);
  });
});
