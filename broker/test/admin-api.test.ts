import fs from 'node:fs';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceKind, type KnownKind } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../src/index.js';
import { BROKER_TOKEN, EDGE_PASSWORD, FakeDeviceAuth, logger, mqttClient, tempDir, testConfig, waitFor } from './helpers.js';

// The admin API against a real broker with real MQTT clients (docs/console.md, "Broker view").
describe('broker admin API', () => {
  const dir = tempDir('admin');
  const auth = new FakeDeviceAuth();
  let broker: BrokerHandle;
  let base: string;
  let mqttUrl: string;
  const open: MqttClient[] = [];

  const get = (path: string, token: string | null = BROKER_TOKEN, method = 'GET'): Promise<Response> =>
    fetch(`${base}${path}`, { method, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  const device = async (id: string): Promise<MqttClient> => {
    const c = await mqttClient(mqttUrl, { clientId: id, username: id, password: `secret-${id}` });
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    auth.add('dev-a1');
    auth.add('dev-a2');
    auth.add('dev-b1');
    auth.add('fall-1', { kind: DeviceKind.FALL_SENSOR as KnownKind });
    broker = await startBroker(await testConfig(dir), logger, { deviceAuth: auth });
    base = `http://127.0.0.1:${broker.wsPort}`;
    mqttUrl = `mqtt://127.0.0.1:${broker.mqttPort}`;
  });
  afterAll(async () => {
    for (const c of open) await c.endAsync(true).catch(() => undefined);
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses every admin endpoint without the broker token, or with a wrong one, and counts it', async () => {
    const before = broker.metrics().adminRefused;
    for (const path of ['/admin/clients', '/admin/retained', '/admin/counters', '/admin/clients/x/subscriptions']) {
      expect((await get(path, null)).status).toBe(401);
      expect((await get(path, 'broker-token-for-tests-0123456780')).status).toBe(401);
    }
    expect((await get('/admin/clients/x/disconnect', 'wrong', 'POST')).status).toBe(401);
    expect(broker.metrics().adminRefused).toBe(before + 9);
  });

  it('lists connected clients with who, where and since when, searches and pages them', async () => {
    const before = Date.now();
    await device('dev-a1');
    await device('dev-a2');
    await device('dev-b1');
    const edge = await mqttClient(mqttUrl, { clientId: 'edge:1', username: 'edge', password: EDGE_PASSWORD });
    open.push(edge);
    await edge.subscribeAsync('yulan/v1/+/+/+/telemetry', { qos: 1 });

    const all = await (await get('/admin/clients')).json() as { total: number; clients: { id: string; username: string; address: string; connectedSince: number; lastActivity: number; subscriptions: number }[] };
    expect(all.clients.map((c) => c.id)).toEqual(['dev-a1', 'dev-a2', 'dev-b1', 'edge:1']);
    const e = all.clients.find((c) => c.id === 'edge:1')!;
    expect(e.username).toBe('edge');
    expect(e.address).toMatch(/127\.0\.0\.1/);
    expect(e.connectedSince).toBeGreaterThanOrEqual(before);
    expect(e.lastActivity).toBeGreaterThanOrEqual(e.connectedSince);
    expect(e.subscriptions).toBe(1);

    const found = await (await get('/admin/clients?q=DEV-A')).json() as typeof all;
    expect(found.total).toBe(2);
    expect(found.clients.map((c) => c.id)).toEqual(['dev-a1', 'dev-a2']);
    const byUser = await (await get('/admin/clients?q=edge')).json() as typeof all;
    expect(byUser.clients.map((c) => c.id)).toEqual(['edge:1']);

    const page2 = await (await get('/admin/clients?limit=2&offset=2')).json() as typeof all;
    expect(page2.total).toBe(4);
    expect(page2.clients.map((c) => c.id)).toEqual(['dev-b1', 'edge:1']);
    expect((await get('/admin/clients?limit=0')).status).toBe(400);
    expect((await get('/admin/clients?offset=-1')).status).toBe(400);
  });

  it('shows one client\'s subscriptions, and 404 for a client that is not connected', async () => {
    const c = await device('dev-a1');
    await c.subscribeAsync('yulan/v1/site-1/env-monitor/dev-a1/cmd', { qos: 1 });
    const body = await (await get('/admin/clients/dev-a1/subscriptions')).json() as { subscriptions: { topic: string; qos: number }[] };
    expect(body.subscriptions).toEqual([{ topic: 'yulan/v1/site-1/env-monitor/dev-a1/cmd', qos: 1 }]);
    expect((await get('/admin/clients/nobody/subscriptions')).status).toBe(404);
  });

  it('disconnects a client: it is gone from the list, and a second disconnect is a 404', async () => {
    const c = await device('dev-b1');
    let closed = false;
    c.once('close', () => { closed = true; });
    expect((await get('/admin/clients/dev-b1/disconnect', BROKER_TOKEN, 'GET')).status).toBe(405);
    expect((await get('/admin/clients/dev-b1/disconnect', BROKER_TOKEN, 'POST')).status).toBe(204);
    expect(broker.metrics().adminDisconnects).toBe(1);
    await waitFor(() => closed, 'the client\'s connection closed');
    const list = async (): Promise<string[]> =>
      ((await (await get('/admin/clients')).json()) as { clients: { id: string }[] }).clients.map((x) => x.id);
    const deadline = Date.now() + 10_000;
    while ((await list()).includes('dev-b1') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await list()).not.toContain('dev-b1');
    expect((await get('/admin/clients/dev-b1/disconnect', BROKER_TOKEN, 'POST')).status).toBe(404);
    // It may come back: a disconnect is not a ban (disable the device for that).
    await device('dev-b1');
    expect(await list()).toContain('dev-b1');
  });

  it('lists retained messages by filter with count and size, payloads as hex, fall sensors\' hidden', async () => {
    await device('fall-1'); // the broker retains its online presence
    const body = async (q: string): Promise<{ count: number; bytes: number; messages: { topic: string; size: number; payloadHex?: string; payloadHidden?: boolean }[] }> => {
      const r = await get(`/admin/retained${q}`);
      expect(r.status).toBe(200);
      return await r.json() as never;
    };
    const wait = async (q: string, n: number): Promise<Awaited<ReturnType<typeof body>>> => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const b = await body(q);
        if (b.count >= n || Date.now() > deadline) return b;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const fall = await wait('?filter=yulan/v1/%2B/fall-sensor/%23', 1);
    expect(fall.count).toBe(1);
    expect(fall.messages[0]!.topic).toBe('yulan/v1/site-1/fall-sensor/fall-1/presence');
    expect(fall.messages[0]!.payloadHidden).toBe(true);
    expect(fall.messages[0]!.payloadHex).toBeUndefined();
    expect(fall.messages[0]!.size).toBeGreaterThan(0);

    const env = await wait('?filter=yulan/v1/site-1/env-monitor/%23', 3);
    expect(env.count).toBeGreaterThanOrEqual(3);
    const one = env.messages[0]!;
    expect(one.payloadHex).toMatch(/^[0-9a-f]+$/);
    expect(one.payloadHex!.length).toBe(Math.min(one.size, 64) * 2);
    expect(env.bytes).toBe(env.messages.reduce((s, m) => s + m.size, 0));

    const limited = await body('?filter=%23&limit=1');
    expect(limited.messages).toHaveLength(1);
    expect(limited.count).toBeGreaterThanOrEqual(4);
    expect((await get('/admin/retained?filter=a/%23/b')).status).toBe(400);
    expect((await get('/admin/retained?filter=a%2B/b')).status).toBe(400);
  });

  it('serves the broker\'s counters, the same as /metrics', async () => {
    const r = await get('/admin/counters');
    expect(r.status).toBe(200);
    const c = await r.json() as { connections: { current: number; total: number }; messagesIn: number };
    expect(c.connections.current).toBe(broker.metrics().connections.current);
    expect(c.connections.total).toBeGreaterThanOrEqual(5);
    expect((await get('/admin/nothing')).status).toBe(404);
  });
});
