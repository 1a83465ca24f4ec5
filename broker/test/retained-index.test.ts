import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MqttClient } from 'mqtt';
import { Channel, DeviceKind, deviceTopic } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../src/index.js';
import { createPersistence } from '../src/persistence.js';
import { CLOUD_PASSWORD, FakeDeviceAuth, logger, mqttClient, tempDir, testConfig, waitFor } from './helpers.js';

// The matcher the stock retained store runs once per retained topic for every filter.
const require = createRequire(import.meta.url);
const { QlobberTrue } = require('qlobber') as { QlobberTrue: { prototype: { test(topic: string): boolean } } };

type Stored = { topic: string; payload: Buffer };
interface RetainedStore {
  storeRetained(p: object): Promise<void>;
  createRetainedStreamCombi(patterns: string[]): AsyncIterable<Stored>;
}

const retained = (topic: string, payload: string): object => ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: true, brokerId: 'b', brokerCounter: 1 });
const read = async (s: RetainedStore, patterns: string[]): Promise<string[]> => {
  const out: string[] = [];
  for await (const p of s.createRetainedStreamCombi(patterns)) out.push(`${p.topic}=${p.payload.toString()}`);
  return out;
};

describe('retained messages indexed by topic', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('an exact filter is a lookup, not a pass over every retained topic; wildcards still match all', async () => {
    const s = (createPersistence({ maxQueuedPerClient: 10, onDrop: () => {} }).persistence as { asyncPersistence: RetainedStore }).asyncPersistence;
    for (let i = 0; i < 1000; i++) await s.storeRetained(retained(`yulan/v1/s/ev-charger/ev-${i}/presence`, `p${i}`));
    const tests = vi.spyOn(QlobberTrue.prototype, 'test');
    expect(await read(s, ['yulan/v1/s/ev-charger/ev-5/presence', 'yulan/v1/s/ev-charger/ev-none/presence'])).toEqual(['yulan/v1/s/ev-charger/ev-5/presence=p5']);
    // Every device's SUBSCRIBE used to test all 1,000 topics: O(fleet) per connect.
    expect(tests).not.toHaveBeenCalled();
    expect(await read(s, ['yulan/v1/s/+/+/presence'])).toHaveLength(1000);
    expect(tests).toHaveBeenCalled();

    // Replaced and cleared (empty payload) retained messages, for both kinds of filter.
    await s.storeRetained(retained('yulan/v1/s/ev-charger/ev-6/presence', 'new'));
    await s.storeRetained(retained('yulan/v1/s/ev-charger/ev-5/presence', ''));
    expect(await read(s, ['yulan/v1/s/ev-charger/ev-6/presence', 'yulan/v1/s/ev-charger/ev-5/presence'])).toEqual(['yulan/v1/s/ev-charger/ev-6/presence=new']);
    const all = await read(s, ['yulan/v1/#']);
    expect(all).toHaveLength(999);
    expect(all).toContain('yulan/v1/s/ev-charger/ev-6/presence=new');
    // A SUBSCRIBE mixing both kinds takes the stock path and still answers each filter.
    expect(await read(s, ['yulan/v1/s/ev-charger/ev-7/presence', 'yulan/v1/s/ev-charger/+/nothing'])).toEqual(['yulan/v1/s/ev-charger/ev-7/presence=p7']);
  });
});

describe('retained messages through a running broker', () => {
  let broker: BrokerHandle | undefined;
  const clients: MqttClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end(true);
    await broker?.close();
    broker = undefined;
  });

  it('a device gets its own retained twin among many, the latest one, and none once cleared', async () => {
    const auth = new FakeDeviceAuth();
    const dev = (i: number) => ({ site: 'site-1', kind: DeviceKind.EV_CHARGER, deviceId: `ev-${i}` } as const);
    auth.add('ev-5', { kind: DeviceKind.EV_CHARGER });
    broker = await startBroker(await testConfig(tempDir('retained')), logger, { deviceAuth: auth });
    const url = `mqtt://127.0.0.1:${broker.mqttPort}`;
    const cloud = await mqttClient(url, { clientId: 'cloud:r', username: 'cloud', password: CLOUD_PASSWORD });
    clients.push(cloud);
    for (let i = 0; i < 300; i++) await cloud.publishAsync(deviceTopic(dev(i), Channel.TwinDesired), `twin-${i}`, { qos: 1, retain: true });
    await cloud.publishAsync(deviceTopic(dev(5), Channel.TwinDesired), 'twin-5-v2', { qos: 1, retain: true });

    const subscribe = async (): Promise<{ got: string[]; device: MqttClient }> => {
      const device = await mqttClient(url, { clientId: 'ev-5', username: 'ev-5', password: 'secret-ev-5' });
      clients.push(device);
      const got: string[] = [];
      device.on('message', (t, p) => got.push(`${t}=${p.toString()}`));
      await device.subscribeAsync(deviceTopic(dev(5), Channel.TwinDesired), { qos: 1 });
      return { got, device };
    };
    const first = await subscribe();
    await waitFor(() => first.got.length > 0, 'the retained twin');
    expect(first.got).toEqual([`${deviceTopic(dev(5), Channel.TwinDesired)}=twin-5-v2`]);
    first.device.end(true);

    // Cleared: a new subscription gets nothing retained. The positive signal that it would
    // have come by now is a live message published after the SUBSCRIBE was acknowledged.
    await cloud.publishAsync(deviceTopic(dev(5), Channel.TwinDesired), '', { qos: 1, retain: true });
    const second = await subscribe();
    await cloud.publishAsync(deviceTopic(dev(5), Channel.TwinDesired), 'live', { qos: 1 });
    await waitFor(() => second.got.length > 0, 'the live twin');
    expect(second.got).toEqual([`${deviceTopic(dev(5), Channel.TwinDesired)}=live`]);
  });
});
