import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { can, permissionFor } from '../src/console/permissions.js';
import { startBroker as startYulanBroker, type BrokerHandle } from '../../broker/src/index.js';
import { BROKER_TOKEN, CLOUD_PASSWORD, FakeDeviceAuth, logger as brokerLogger, mqttClient, testConfig } from '../../broker/test/helpers.js';
import { cloudEnv, silentLogger, startEdgeStub, tempDir, waitFor, type EdgeStub } from './helpers.js';

/** The console's broker view (docs/console.md): the cloud's /api/v1/broker proxy against the
 * real Yulan broker (its admin API), real MQTT clients, people signed in by cookie. */
const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const PASSWORD = 'a long enough password';
const tmp = tempDir('yulan-console-broker-');
const auth = new FakeDeviceAuth();
let broker: BrokerHandle; let edge: EdgeStub; let cloud: CloudHandle; let unwired: CloudHandle;
let mqttUrl = '';
const cookies: Record<string, string> = {};
const ids: Record<string, string> = {};
const clients: MqttClient[] = [];

async function call(method: string, path: string, who: string | null, c: CloudHandle = cloud): Promise<Response> {
  const headers: Record<string, string> = {};
  if (who === 'token') headers.authorization = `Bearer ${ADMIN}`;
  else if (who !== null) headers.cookie = cookies[who]!;
  return fetch(c.url + path, { method, headers });
}
async function ok<T>(method: string, path: string, who: string, status = 200): Promise<T> {
  const r = await call(method, path, who);
  const text = await r.text();
  expect(r.status, `${method} ${path} as ${who}: ${text}`).toBe(status);
  return (text ? JSON.parse(text) : undefined) as T;
}
const listed = async (who = 'operator'): Promise<string[]> =>
  (await ok<{ clients: { id: string }[] }>('GET', '/api/v1/broker/clients?limit=500', who)).clients.map((c) => c.id);
async function device(id: string): Promise<MqttClient> {
  const c = await mqttClient(mqttUrl, { clientId: id, username: id, password: `secret-${id}` });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  for (const id of ['dev-1', 'dev-2', 'dev-3']) auth.add(id);
  broker = await startYulanBroker(await testConfig(tmp.dir), brokerLogger, { deviceAuth: auth });
  mqttUrl = `mqtt://127.0.0.1:${broker.mqttPort}`;
  edge = await startEdgeStub();
  const env = cloudEnv(tmp.dir, { url: mqttUrl, published: [], close: async () => undefined }, edge, CLOUD_PASSWORD, {
    YULAN_ADMIN_TOKEN: ADMIN, YULAN_BROKER_TOKEN: BROKER_TOKEN, YULAN_BROKER_ADMIN_URL: `http://127.0.0.1:${broker.wsPort}/`,
  });
  cloud = await startCloud(loadCloudConfig(env), silentLogger, { dashboardDir: null });
  // A second cloud without YULAN_BROKER_ADMIN_URL: no broker view, said plainly.
  const { YULAN_BROKER_ADMIN_URL: _unused, ...rest } = env;
  unwired = await startCloud(loadCloudConfig({ ...rest, YULAN_DATA_DIR: `${tmp.dir}/unwired` }), silentLogger, { dashboardDir: null });
  for (const role of ['admin', 'operator', 'family']) {
    const created = await fetch(`${cloud.url}/api/v1/people`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ login: `p-${role}`, name: role, role, password: PASSWORD }) });
    ids[role] = ((await created.json()) as { person: { id: string } }).person.id;
    const login = await fetch(`${cloud.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: `p-${role}`, password: PASSWORD }) });
    expect(login.status).toBe(200);
    cookies[role] = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  }
  const d1 = await device('dev-1');
  await d1.subscribeAsync('yulan/v1/site-1/env-monitor/dev-1/cmd', { qos: 1 });
  await device('dev-2');
});
afterAll(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => undefined);
  await unwired?.close(); await cloud?.close(); await edge?.close(); await broker?.close();
  tmp.cleanup();
});

describe('broker view permissions', () => {
  it('reading the broker is `view`; disconnecting is `broker`, held by admins and operators only', () => {
    const person = (role: 'operator' | 'family' | 'worker' | 'callcentre') => ({ kind: 'person' as const, userId: 'u', role, name: 'x', locale: 'en' as const });
    expect(permissionFor('GET', '/api/v1/broker/clients')).toBe('view');
    expect(permissionFor('POST', '/api/v1/broker/clients/:id/disconnect')).toBe('broker');
    expect(can(person('operator'), 'broker')).toBe(true);
    for (const role of ['family', 'worker', 'callcentre'] as const) expect(can(person(role), 'broker')).toBe(false);
  });

  it('operators and admins see the connected clients and search them; care roles get 403, nobody 401', async () => {
    const ids1 = await listed('operator');
    expect(ids1).toEqual(expect.arrayContaining(['dev-1', 'dev-2']));
    expect(ids1.some((id) => id.startsWith('cloud:'))).toBe(true);
    expect(await listed('admin')).toEqual(ids1);
    const found = await ok<{ total: number; clients: { id: string; username: string; subscriptions: number }[] }>('GET', '/api/v1/broker/clients?q=dev-1', 'operator');
    expect(found.clients.map((c) => c.id)).toEqual(['dev-1']);
    expect(found.clients[0]!.subscriptions).toBe(1);
    expect((await call('GET', '/api/v1/broker/clients', 'family')).status).toBe(403);
    expect((await call('GET', '/api/v1/broker/retained', 'family')).status).toBe(403);
    expect((await call('GET', '/api/v1/broker/clients', null)).status).toBe(401);
    expect((await call('GET', '/api/v1/broker/clients?limit=0', 'operator')).status).toBe(400);
  });

  it('shows a client\'s subscriptions; a client that is not connected is 404', async () => {
    const s = await ok<{ subscriptions: { topic: string; qos: number }[] }>('GET', '/api/v1/broker/clients/dev-1/subscriptions', 'operator');
    expect(s.subscriptions).toEqual([{ topic: 'yulan/v1/site-1/env-monitor/dev-1/cmd', qos: 1 }]);
    expect((await call('GET', '/api/v1/broker/clients/nobody/subscriptions', 'operator')).status).toBe(404);
  });

  it('a family member cannot disconnect; an operator can, it is audited with their id, and again is 404', async () => {
    const d3 = await device('dev-3');
    let closed = false;
    d3.once('close', () => { closed = true; });
    expect((await call('POST', '/api/v1/broker/clients/dev-3/disconnect', 'family')).status).toBe(403);
    expect(await listed()).toContain('dev-3');
    await ok('POST', '/api/v1/broker/clients/dev-3/disconnect', 'operator', 204);
    await waitFor(() => closed, 'dev-3 disconnected');
    await waitFor(async () => !(await listed()).includes('dev-3'), 'dev-3 gone from the list');
    expect((await call('POST', '/api/v1/broker/clients/dev-3/disconnect', 'operator')).status).toBe(404);
    const audit = await ok<{ items: { actor: string; action: string; detail: string }[] }>('GET', `/api/v1/audit?actor=${ids.operator}`, 'token');
    const rows = audit.items.filter((a) => a.action === 'broker.disconnect');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.detail).toBe('client dev-3');
  });

  it('lists retained messages and the counters through the proxy; a bad filter is 400', async () => {
    const r = await waitFor(async () => {
      const b = await ok<{ count: number; messages: { topic: string; payloadHex?: string }[] }>('GET', '/api/v1/broker/retained?filter=yulan/v1/%2B/env-monitor/%23', 'operator');
      return b.count >= 2 ? b : undefined;
    }, 'presence retained');
    expect(r.messages.every((m) => /^[0-9a-f]*$/.test(m.payloadHex ?? ''))).toBe(true);
    expect((await call('GET', '/api/v1/broker/retained?filter=a/%23/b', 'operator')).status).toBe(400);
    const counters = await ok<{ connections: { current: number } }>('GET', '/api/v1/broker/counters', 'operator');
    expect(counters.connections.current).toBe(broker.metrics().connections.current);
  });

  it('without YULAN_BROKER_ADMIN_URL the broker view answers 503 and says why', async () => {
    const r = await call('GET', '/api/v1/broker/clients', 'token', unwired);
    expect(r.status).toBe(503);
    expect(((await r.json()) as { message: string }).message).toContain('YULAN_BROKER_ADMIN_URL');
  });
  it('pushes client changes and counters over /broker/live; the stream ends when the person signs out; care roles get 403', async () => {
    expect((await call('GET', '/api/v1/broker/live', 'family')).status).toBe(403);
    const login = await fetch(`${cloud.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: 'p-operator', password: PASSWORD }) });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const res = await fetch(`${cloud.url}/api/v1/broker/live`, { headers: { cookie } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const until = async (pattern: RegExp): Promise<void> => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${pattern}: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    await until(/event: counters\ndata: \{/);
    await device('dev-3');
    await until(/event: clients\ndata: \[\{"id":"dev-3","connected":true\}\]/);
    expect((await fetch(`${cloud.url}/api/v1/auth/logout`, { method: 'POST', headers: { cookie } })).status).toBe(204);
    await until(/event: end\ndata: \{"reason":/);
    await reader.cancel().catch(() => undefined);
  });
});
