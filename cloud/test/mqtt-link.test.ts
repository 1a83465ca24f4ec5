import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMqttLink, type MqttLink } from '../src/mqtt-link.js';
import { silentLogger, startBroker, waitFor, type TestBroker } from './helpers.js';

/** The link's subscriptions are held per owner: one module letting go of a topic must not
 * cut another module's messages (commands and firmware campaigns watch the same devices). */
describe('mqtt link subscriptions', () => {
  const users = { cloud: 'cloud-pass', dev: 'dev-pass' };
  let broker: TestBroker;
  let link: MqttLink;
  const seen: string[] = [];

  beforeAll(async () => {
    broker = await startBroker(users);
    link = createMqttLink({ url: broker.url, username: 'cloud', password: users.cloud, logger: silentLogger, onPresence: () => {} });
    link.onMessage((topic, payload) => seen.push(`${topic} ${Buffer.from(payload).toString()}`));
    await waitFor(() => link.connected(), 'link connected');
  });
  afterAll(async () => {
    await link?.close();
    await broker?.close();
  });

  it('keeps a topic while any owner holds it, and drops it when the last lets go', async () => {
    const pub = await mqtt.connectAsync(broker.url, { username: 'dev', password: users.dev, clientId: 'dev' });
    const topic = 'yulan/v1/s/ev-charger/ev-1/event';
    const send = async (tag: string): Promise<void> => { await pub.publishAsync(topic, tag, { qos: 1 }); };
    link.subscribe(topic, 0, 'commands');
    link.subscribe(topic, 1, 'firmware');
    link.subscribe(topic, 1, 'firmware'); // idempotent per owner
    // The link subscribes without saying when the broker has it: a message arriving is the proof.
    await waitFor(async () => { await send('both'); return seen.includes(`${topic} both`); }, 'message while both hold it');
    link.unsubscribe(topic, 'commands');
    await send('firmware-only');
    await waitFor(() => seen.includes(`${topic} firmware-only`), 'message while firmware still holds it');
    link.unsubscribe(topic, 'firmware');
    // A probe topic subscribed after the unsubscribe, on the same connection: the broker handles
    // a client's packets in order, so a probe message arriving means the unsubscribe is done.
    const probe = 'yulan/v1/s/ev-charger/ev-1/probe';
    link.subscribe(probe, 1, 'probe');
    await waitFor(async () => { await pub.publishAsync(probe, 'ready', { qos: 1 }); return seen.includes(`${probe} ready`); }, 'the probe subscription');
    await send('nobody');
    // Published after "nobody" by the same client: once it is here, "nobody" would have been too.
    await pub.publishAsync(probe, 'after', { qos: 1 });
    await waitFor(() => seen.includes(`${probe} after`), 'the probe sent after "nobody"');
    expect(seen).not.toContain(`${topic} nobody`);
    link.unsubscribe(probe, 'probe');
    await pub.endAsync();
  });
});
