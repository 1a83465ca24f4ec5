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
    await new Promise((r) => setTimeout(r, 200));
    await send('both');
    await waitFor(() => seen.includes(`${topic} both`), 'message while both hold it');
    link.unsubscribe(topic, 'commands');
    await send('firmware-only');
    await waitFor(() => seen.includes(`${topic} firmware-only`), 'message while firmware still holds it');
    link.unsubscribe(topic, 'firmware');
    await new Promise((r) => setTimeout(r, 200));
    await send('nobody');
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).not.toContain(`${topic} nobody`);
    await pub.endAsync();
  });
});
