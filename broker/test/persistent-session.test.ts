import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { Channel, DeviceKind, deviceTopic } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../src/index.js';
import { createPersistence } from '../src/persistence.js';
import { EDGE_PASSWORD, FakeDeviceAuth, logger, mqttClient, tempDir, testConfig, waitFor } from './helpers.js';

const DEV = { site: 'site-1', kind: DeviceKind.ENV_MONITOR, deviceId: 'env-q' } as const;
const TOPIC = deviceTopic(DEV, Channel.Telemetry);

describe('persistent sessions (indexed outgoing queue)', () => {
  let broker: BrokerHandle | undefined;
  const clients: MqttClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end(true);
    await broker?.close();
    broker = undefined;
  });

  async function setup(env: Record<string, string> = {}): Promise<{ url: string; device: MqttClient }> {
    const auth = new FakeDeviceAuth();
    auth.add(DEV.deviceId, { site: DEV.site, kind: DEV.kind });
    broker = await startBroker(await testConfig(tempDir('session'), env), logger, { deviceAuth: auth });
    const url = `mqtt://127.0.0.1:${broker.mqttPort}`;
    // Create the edge's persistent session, then take it offline.
    const edge = await mqttClient(url, { clientId: 'edge:q', username: 'edge', password: EDGE_PASSWORD, clean: false });
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
    await edge.endAsync();
    const device = await mqttClient(url, { clientId: DEV.deviceId, username: DEV.deviceId, password: `secret-${DEV.deviceId}` });
    clients.push(device);
    return { url, device };
  }

  async function reconnectAndCollect(url: string, expected: number): Promise<string[]> {
    const got: string[] = [];
    const edge = await mqttClient(url, { clientId: 'edge:q', username: 'edge', password: EDGE_PASSWORD, clean: false });
    clients.push(edge);
    // The broker's own (retained) presence message for the device is queued too; count telemetry.
    edge.on('message', (t, payload) => { if (t === TOPIC) got.push(payload.toString()); });
    await waitFor(() => got.length >= expected, `${expected} queued messages`);
    return got;
  }

  it('delivers everything queued while the subscriber was away, in order', async () => {
    const { url, device } = await setup();
    for (let i = 0; i < 300; i++) await device.publishAsync(TOPIC, `m${i}`, { qos: 1 });
    const got = await reconnectAndCollect(url, 300);
    expect(got).toEqual(Array.from({ length: 300 }, (_, i) => `m${i}`));
    expect(broker!.metrics().droppedQueued).toBe(0);
  });

  it('replays a backlog larger than the socket buffer without dropping any of it', async () => {
    // The restored session never re-SUBSCRIBEs; nothing of its QoS 1 backlog may be
    // treated as droppable QoS 0 on the way out.
    const { url, device } = await setup();
    const payload = Buffer.alloc(2048, 3);
    const n = 1500; // 3 MB queued against a 512 KiB socket high-water mark
    await Promise.all(Array.from({ length: n }, () => device.publishAsync(TOPIC, payload, { qos: 1 })));
    const got = await reconnectAndCollect(url, n);
    expect(got).toHaveLength(n);
    expect(broker!.metrics().droppedQos0).toBe(0);
  });

  it('sends the backlog before live messages when a session comes back (order per publisher kept)', async () => {
    // Aedes restores the subscription before it replays the queue; without the replay gate
    // the messages published during the replay were written among (before) the backlog.
    const { url, device } = await setup();
    const backlog = 3000;
    const live = 1000;
    await Promise.all(Array.from({ length: backlog }, (_, i) => device.publishAsync(TOPIC, `m${i}`, { qos: 1 })));
    const got: string[] = [];
    const edge = await mqttClient(url, { clientId: 'edge:q', username: 'edge', password: EDGE_PASSWORD, clean: false });
    clients.push(edge);
    edge.on('message', (t, payload) => { if (t === TOPIC) got.push(payload.toString()); });
    // Published while the backlog is going out.
    await Promise.all(Array.from({ length: live }, (_, i) => device.publishAsync(TOPIC, `m${backlog + i}`, { qos: 1 })));
    await waitFor(() => got.length >= backlog + live, `${backlog + live} messages`);
    expect(broker!.metrics().heldForReplay).toBeGreaterThan(0);
    expect(got).toEqual(Array.from({ length: backlog + live }, (_, i) => `m${i}`));
    // After the replay, live delivery is direct again.
    await device.publishAsync(TOPIC, 'after', { qos: 1 });
    await waitFor(() => got.at(-1) === 'after', 'a live message after the replay');
    expect(got).toHaveLength(backlog + live + 1);
  });

  it('a subscriber gone with more than 65,535 messages in flight gets every one back, once the ids wrapped', async () => {
    // Aedes reuses packet ids past 65,535 unacknowledged deliveries; the PUBACKs of the
    // returning connection must still clear exactly the messages they acknowledge.
    const { url, device } = await setup();
    const raw = await import('node:net');
    const mqttPacket = (await import('mqtt-packet')).default;
    const port = Number(new URL(url).port);
    type Pub = { topic: string; messageId?: number; payload: Buffer };
    const open = (onPublish: (p: Pub, s: import('node:net').Socket) => void): import('node:net').Socket => {
      const s = raw.connect(port, '127.0.0.1');
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on('packet', (p) => { if (p.cmd === 'publish' && p.qos === 1) onPublish(p as Pub, s); });
      s.on('data', (d) => parser.parse(d));
      s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: 'edge:q', username: 'edge', password: Buffer.from(EDGE_PASSWORD), keepalive: 0 }));
      return s;
    };
    const n = 70_000;
    let first = 0;
    const silent = open((p) => { if (p.topic === TOPIC) first++; }); // receives, never acknowledges
    for (let i = 0; i < n; i += 5000) await Promise.all(Array.from({ length: 5000 }, (_, k) => device.publishAsync(TOPIC, `m${i + k}`, { qos: 1 })));
    await waitFor(() => first >= n, `${n} in flight`, 60_000);
    silent.destroy();
    const got: string[] = [];
    const back = open((p, s) => { if (p.topic === TOPIC) got.push(p.payload.toString()); s.write(mqttPacket.generate({ cmd: 'puback', messageId: p.messageId })); });
    clients.push({ end: () => back.destroy() } as unknown as MqttClient);
    await Promise.all(Array.from({ length: 2000 }, (_, k) => device.publishAsync(TOPIC, `m${n + k}`, { qos: 1 })));
    await waitFor(() => got.length >= n + 2000 && broker!.metrics().sessionQueued === 0, 'all acknowledged', 60_000);
    expect(got).toEqual(Array.from({ length: n + 2000 }, (_, i) => `m${i}`));
    expect(broker!.metrics().droppedQueued).toBe(0);
  }, 120_000);

  it('bounds an offline session: keeps the newest, drops and counts the oldest', async () => {
    const { url, device } = await setup({ YULAN_BROKER_SESSION_QUEUE_LIMIT: '50' });
    for (let i = 0; i < 120; i++) await device.publishAsync(TOPIC, `m${i}`, { qos: 1 });
    // 121 queued: the device's presence message, then m0..m119; the 71 oldest go.
    await waitFor(() => broker!.metrics().droppedQueued === 71, '71 dropped');
    const got = await reconnectAndCollect(url, 50);
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `m${i + 70}`));
  });
});

describe('indexed persistence, unit', () => {
  type P = {
    outgoingEnqueueCombi(subs: { clientId: string }[], p: object): Promise<void>;
    outgoingUpdate(c: { id: string }, p: object): Promise<void>;
    outgoingClearMessageId(c: { id: string }, p: { messageId: number }): Promise<{ payload: unknown } | undefined>;
    outgoingStream(c: { id: string; connecting?: boolean }): AsyncIterable<{ payload: unknown; messageId?: number }>;
    cleanSubscriptions(c: { id: string }): Promise<unknown>;
  };
  const packet = (n: number): object => ({ cmd: 'publish', topic: 't', payload: `p${n}`, qos: 1, brokerId: 'b', brokerCounter: n });
  const make = (max = 100) => {
    const drops: number[] = [];
    const made = createPersistence({ maxQueuedPerClient: max, onDrop: (_c, n) => drops.push(n) });
    const p = (made.persistence as { asyncPersistence: P }).asyncPersistence;
    return { p, drops, gate: made.replay };
  };
  /** Replays as Aedes does: each message read is handed back through outgoingUpdate with a
   * new message id before the next is written (the replay ends only after that). */
  const replay = async <T,>(p: P, conn: { id: string; connecting?: boolean }, each: (x: { payload: unknown; messageId?: number }) => T): Promise<T[]> => {
    const out: T[] = [];
    let id = 1000;
    for await (const x of p.outgoingStream(conn)) {
      out.push(each(x));
      await p.outgoingUpdate(conn, { ...x, messageId: (x as { cmd?: string }).cmd === 'publish' ? id++ : x.messageId });
    }
    return out;
  };
  const list = async (p: P, id: string) => replay(p, { id }, (x) => x.payload);

  it('updates by broker identity, clears by message id, keeps order', async () => {
    const { p } = make();
    for (let i = 1; i <= 5; i++) await p.outgoingEnqueueCombi([{ clientId: 'a' }], packet(i));
    for (let i = 1; i <= 5; i++) await p.outgoingUpdate({ id: 'a' }, { ...packet(i), messageId: 100 + i });
    expect((await p.outgoingClearMessageId({ id: 'a' }, { messageId: 103 }))?.payload).toBe('p3');
    expect(await p.outgoingClearMessageId({ id: 'a' }, { messageId: 103 })).toBeUndefined();
    // PUBREC → PUBREL (QoS 2): replaced in place, found by message id.
    await p.outgoingUpdate({ id: 'a' }, { cmd: 'pubrel', messageId: 102 });
    // A replay keeps the order; QoS 1 messages leave the previous connection's ids behind
    // (Aedes numbers them afresh as they go out, flagged DUP), a PUBREL keeps its own.
    const after = await replay(p, { id: 'a' }, (x) => [(x as { cmd?: string }).cmd, x.messageId, (x as { dup?: boolean }).dup]);
    expect(after).toEqual([['publish', undefined, true], ['pubrel', 102, undefined], ['publish', undefined, true], ['publish', undefined, true]]);
    await expect(p.outgoingUpdate({ id: 'a' }, { ...packet(99), messageId: 999 })).rejects.toThrow('no such packet');
  });

  it('two in-flight messages with the same packet id: each PUBACK clears the oldest, none is stranded', async () => {
    // Aedes wraps packet ids at 65,535 without checking what is in flight.
    const { p } = make();
    for (let i = 1; i <= 3; i++) await p.outgoingEnqueueCombi([{ clientId: 'a' }], packet(i));
    await p.outgoingUpdate({ id: 'a' }, { ...packet(1), messageId: 7 });
    await p.outgoingUpdate({ id: 'a' }, { ...packet(2), messageId: 8 });
    // Aedes picked id 7 again while p1 is unacked: the packet about to be written gets the
    // next free id instead, so each PUBACK names exactly one message.
    const third = { ...packet(3), messageId: 7 };
    await p.outgoingUpdate({ id: 'a' }, third);
    expect(third.messageId).toBe(9);
    expect((await p.outgoingClearMessageId({ id: 'a' }, { messageId: 7 }))?.payload).toBe('p1');
    expect(await p.outgoingClearMessageId({ id: 'a' }, { messageId: 7 })).toBeUndefined();
    expect((await p.outgoingClearMessageId({ id: 'a' }, { messageId: 9 }))?.payload).toBe('p3');
    // A message re-sent under its own id does not double it in the index.
    await p.outgoingUpdate({ id: 'a' }, { ...packet(2), messageId: 8 });
    expect((await p.outgoingClearMessageId({ id: 'a' }, { messageId: 8 }))?.payload).toBe('p2');
    expect(await p.outgoingClearMessageId({ id: 'a' }, { messageId: 8 })).toBeUndefined();
    expect(await list(p, 'a')).toEqual([]);
  });

  it('drops the oldest past the bound and forgets a session that turns clean', async () => {
    const { p, drops } = make(3);
    for (let i = 1; i <= 5; i++) await p.outgoingEnqueueCombi([{ clientId: 'a' }, { clientId: 'b' }], packet(i));
    expect(await list(p, 'a')).toEqual(['p3', 'p4', 'p5']);
    expect(drops.reduce((x, y) => x + y, 0)).toBe(4);
    await p.cleanSubscriptions({ id: 'a' });
    expect(await list(p, 'a')).toEqual([]);
    expect(await list(p, 'b')).toEqual(['p3', 'p4', 'p5']);
  });

  it('a replay reads the queue live and holds live deliveries until it has sent them', async () => {
    const { p, gate } = make();
    for (let i = 1; i <= 3; i++) await p.outgoingEnqueueCombi([{ clientId: 'a' }], packet(i));
    const conn = { id: 'a', connecting: true };
    // Subscriptions restored, replay not started: queued messages wait for it.
    expect(gate.holdsLive(conn, packet(3))).toBe(true);
    expect(gate.holdsLive(conn, packet(99))).toBe(false); // not queued: not the gate's business
    expect(gate.holdsLive({ id: 'a', connecting: false }, packet(3))).toBe(false);
    const seen: unknown[] = [];
    const it = p.outgoingStream(conn)[Symbol.asyncIterator]();
    let r = await it.next();
    seen.push(r.value.payload);
    await p.outgoingUpdate(conn, { ...r.value, messageId: 11 });
    // Enqueued during the replay: held for it, and the replay reaches it after the backlog.
    await p.outgoingEnqueueCombi([{ clientId: 'a' }, { clientId: 'b' }], packet(4));
    expect(gate.holdsLive(conn, packet(4))).toBe(true);
    while (!(r = await it.next()).done) {
      seen.push(r.value.payload);
      await p.outgoingUpdate(conn, { ...r.value, messageId: 10 + seen.length });
    }
    expect(seen).toEqual(['p1', 'p2', 'p3', 'p4']);
    // Replay over (Aedes still says connecting until its pipeline ends): a message the
    // replay already wrote is not written again by the live path …
    expect(gate.holdsLive(conn, packet(4))).toBe(true);
    // … but one enqueued now is delivered live.
    await p.outgoingEnqueueCombi([{ clientId: 'a' }], packet(5));
    expect(gate.holdsLive(conn, packet(5))).toBe(false);
  });

  it('a replay ends only once every message it read was handed back for writing, not when its read-ahead reached the end', async () => {
    // Aedes' replay pipeline reads ~17 messages ahead of what it has written. A message
    // enqueued while the last of them were still buffered went out live, ahead of them:
    // one device's newer reading before its older ones (bench/test/chaos-pipeline.test.ts).
    const { p, gate } = make();
    for (let i = 1; i <= 3; i++) await p.outgoingEnqueueCombi([{ clientId: 'a' }], packet(i));
    const conn = { id: 'a', connecting: true };
    const it = p.outgoingStream(conn)[Symbol.asyncIterator]();
    const read: { payload: unknown; messageId?: number }[] = [];
    for (let i = 0; i < 3; i++) read.push((await it.next()).value);
    // Let the stream read ahead as far as it will: the queue's end is in sight.
    await new Promise((resolve) => setImmediate(resolve));
    await p.outgoingEnqueueCombi([{ clientId: 'a' }], packet(4));
    expect(gate.holdsLive(conn, packet(4))).toBe(true);
    let settled = false;
    const fourth = it.next().then((r) => { settled = true; return r; });
    for (const [i, x] of read.entries()) {
      await new Promise((resolve) => setImmediate(resolve));
      expect(settled).toBe(false); // waits while any read message is unwritten
      await p.outgoingUpdate(conn, { ...x, messageId: 21 + i });
    }
    const r4 = await fourth;
    expect(r4.done).toBe(false);
    expect(r4.value.payload).toBe('p4');
    // p4 read, not yet written: still the replay's, and the replay is not over.
    await p.outgoingEnqueueCombi([{ clientId: 'a' }], packet(5));
    expect(gate.holdsLive(conn, packet(5))).toBe(true);
    await p.outgoingUpdate(conn, { ...r4.value, messageId: 24 });
    const r5 = await it.next();
    expect(r5.value.payload).toBe('p5');
    await p.outgoingUpdate(conn, { ...r5.value, messageId: 25 });
    expect((await it.next()).done).toBe(true);
    // Over: what it wrote stays its own, what comes now goes live.
    expect(gate.holdsLive(conn, packet(5))).toBe(true);
    await p.outgoingEnqueueCombi([{ clientId: 'a' }], packet(6));
    expect(gate.holdsLive(conn, packet(6))).toBe(false);
  });

  it('a replay cut short (client gone) stops holding live deliveries', async () => {
    const { p, gate } = make();
    for (let i = 1; i <= 3; i++) await p.outgoingEnqueueCombi([{ clientId: 'a' }], packet(i));
    const conn = { id: 'a', connecting: true };
    const stream = p.outgoingStream(conn) as AsyncIterable<unknown> & { destroy(): void; once(e: string, f: () => void): void };
    expect(gate.holdsLive(conn, packet(3))).toBe(true);
    const closed = new Promise<void>((resolve) => stream.once('close', resolve));
    stream.destroy();
    await closed;
    expect(gate.holdsLive(conn, packet(3))).toBe(false);
  });
});
