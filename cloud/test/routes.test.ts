import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type AppOptions } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import type { ControlPublisher } from '../src/mqtt-link.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { deadUrl, silentLogger, startEdgeStub, type EdgeStub } from './helpers.js';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const BROKER = 'broker-token-for-tests';
const auth = { authorization: `Bearer ${ADMIN}` };
const brokerAuth = { authorization: `Bearer ${BROKER}` };

/** Records revokes; the real MQTT path is covered in mqtt.test.ts. */
const revoked: string[] = [];
const control: ControlPublisher = { connected: () => true, publishRevoke: async (id) => void revoked.push(id) };

let edge: EdgeStub;
const apps: FastifyInstance[] = [];
async function makeApp(over: Partial<AppOptions> = {}, edgeUrl?: string): Promise<FastifyInstance> {
  const app = await buildApp({
    logger: silentLogger,
    devices: new SqliteDeviceRepository({ file: ':memory:' }),
    edge: createHttpEdgeClient({ baseUrl: edgeUrl ?? edge.url, token: edge.token }),
    control,
    adminTokenDigest: digestToken(ADMIN),
    brokerToken: BROKER,
    dashboardDir: null,
    ...over,
  });
  apps.push(app);
  return app;
}

let app: FastifyInstance;
beforeAll(async () => {
  edge = await startEdgeStub();
  app = await makeApp();
});
afterAll(async () => {
  for (const a of apps) await a.close();
  await edge.close();
});

async function register(body: Record<string, unknown>, target = app) {
  return target.inject({ method: 'POST', url: '/api/v1/devices', headers: auth, payload: body });
}

describe('admin authentication', () => {
  it('401 without a token, with a wrong token and with a wrong scheme', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: `Basic ${ADMIN}` }]) {
      const r = await app.inject({ method: 'GET', url: '/api/v1/devices', headers });
      expect(r.statusCode).toBe(401);
      expect(r.json()).toMatchObject({ statusCode: 401, error: 'Unauthorized', code: 'E_UNAUTHORIZED' });
      expect(r.headers['www-authenticate']).toContain('Bearer');
    }
  });

  it('429 for wrong tokens after too many from one address; the right token still works there', async () => {
    const limited = await makeApp({ rateLimit: { authFailures: 3 } });
    const remoteAddress = '10.1.2.3';
    for (let i = 0; i < 3; i++) {
      expect((await limited.inject({ url: '/api/v1/devices', remoteAddress, headers: { authorization: 'Bearer bad' } })).statusCode).toBe(401);
    }
    const blocked = await limited.inject({ url: '/api/v1/devices', remoteAddress, headers: { authorization: 'Bearer bad' } });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().code).toBe('E_TOO_MANY_REQUESTS');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await limited.inject({ url: '/api/v1/devices', remoteAddress, headers: auth })).statusCode).toBe(200);
    // Other addresses have their own budget.
    expect((await limited.inject({ url: '/api/v1/devices', remoteAddress: '10.9.9.9', headers: { authorization: 'Bearer bad' } })).statusCode).toBe(401);
  });
});

describe('registration', () => {
  it('registers a device and returns the secret once', async () => {
    const r = await register({ id: 'ev-001', site: 'xuhui-1', kind: 'ev-charger', name: '徐汇 1号桩', firmwareVersion: '2.0.1' });
    expect(r.statusCode).toBe(201);
    const body = r.json();
    expect(body.device).toMatchObject({ id: 'ev-001', site: 'xuhui-1', kind: 'ev-charger', name: '徐汇 1号桩', status: 'offline', lastSeen: null, firmwareVersion: '2.0.1', lastValues: null });
    expect(new Date(body.device.createdAt).toString()).not.toBe('Invalid Date');
    expect(body.secret.length).toBeGreaterThanOrEqual(40);
    const again = await app.inject({ url: '/api/v1/devices/ev-001', headers: auth });
    expect(again.statusCode).toBe(200);
    expect(again.body).not.toContain(body.secret);
  });

  it('generates an id when none is given', async () => {
    const r = await register({ site: 'xuhui-1', kind: 'env-monitor' });
    expect(r.statusCode).toBe(201);
    expect(r.json().device.id).toMatch(/^env-monitor-[0-9a-f]{10}$/);
  });

  it('409 on a duplicate id', async () => {
    await register({ id: 'dup-1', site: 's1', kind: 'fall-sensor' });
    const r = await register({ id: 'dup-1', site: 's2', kind: 'fall-sensor' });
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ code: 'E_DUPLICATE', message: expect.stringContaining('dup-1') });
  });

  it('400 for ids reserved for service accounts', async () => {
    for (const id of ['edge', 'cloud', 'Edge', 'gateway', 'GATEWAY']) {
      const r = await register({ id, site: 's1', kind: 'env-monitor' });
      expect(r.statusCode, id).toBe(400);
      expect(r.json().message).toContain('reserved');
    }
  });

  it('400 with a message naming the field for invalid bodies', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ site: 's1', kind: 'toaster' }, 'kind'],
      [{ id: 'bad/id', site: 's1', kind: 'ev-charger' }, 'id'],
      [{ id: 'ok', site: '+', kind: 'ev-charger' }, 'site'],
      [{ kind: 'ev-charger' }, 'site'],
    ];
    for (const [body, field] of cases) {
      const r = await register(body);
      expect(r.statusCode, JSON.stringify(body)).toBe(400);
      expect(r.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'E_VALIDATION' });
      expect(r.json().message).toContain(field);
    }
    const notJson = await app.inject({ method: 'POST', url: '/api/v1/devices', headers: { ...auth, 'content-type': 'application/json' }, payload: '{' });
    expect(notJson.statusCode).toBe(400);
  });

  it('404 with a clear message for an unknown device', async () => {
    const r = await app.inject({ url: '/api/v1/devices/ghost-1', headers: auth });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ code: 'E_NOT_FOUND', message: 'device "ghost-1" is not registered' });
  });
});

describe('device-auth for the broker', () => {
  let secret = '';
  beforeAll(async () => {
    secret = (await register({ id: 'locker-7', site: 'jingan', kind: 'parcel-locker' })).json().secret;
  });
  const call = (body: unknown, headers: Record<string, string> = brokerAuth) =>
    app.inject({ method: 'POST', url: '/api/v1/internal/device-auth', headers, payload: body as Record<string, unknown> });

  it('accepts the issued secret', async () => {
    const r = await call({ deviceId: 'locker-7', secret });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ ok: true, device: { id: 'locker-7', site: 'jingan', kind: 'parcel-locker' } });
  });

  it('answers wrong secret, unknown id and malformed id identically', async () => {
    const answers = [
      await call({ deviceId: 'locker-7', secret: `${secret}x` }),
      await call({ deviceId: 'nobody', secret }),
      await call({ deviceId: '#/+', secret }),
    ];
    for (const r of answers) {
      expect(r.statusCode).toBe(401);
      expect(r.json()).toEqual({ ok: false, reason: 'bad-credentials' });
    }
  });

  it('requires the broker token (the admin token is not enough)', async () => {
    expect((await call({ deviceId: 'locker-7', secret }, {})).statusCode).toBe(401);
    expect((await call({ deviceId: 'locker-7', secret }, auth)).statusCode).toBe(401);
  });

  it('403 disabled after disable, revoke published; 200 again after enable', async () => {
    const d = await app.inject({ method: 'POST', url: '/api/v1/devices/locker-7/disable', headers: auth });
    expect(d.statusCode).toBe(200);
    expect(d.json().status).toBe('disabled');
    expect(d.headers['x-yulan-revoke']).toBe('published');
    expect(revoked).toContain('locker-7');
    expect((await call({ deviceId: 'locker-7', secret })).json()).toEqual({ ok: false, reason: 'disabled' });
    expect((await call({ deviceId: 'locker-7', secret })).statusCode).toBe(403);
    // A wrong secret for a disabled device still only learns "bad-credentials".
    expect((await call({ deviceId: 'locker-7', secret: 'wrong' })).statusCode).toBe(401);
    const e = await app.inject({ method: 'POST', url: '/api/v1/devices/locker-7/enable', headers: auth });
    expect(e.json().status).toBe('offline');
    expect((await call({ deviceId: 'locker-7', secret })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/api/v1/devices/none/disable', headers: auth })).statusCode).toBe(404);
  });

  it('400 when fields are missing', async () => {
    expect((await call({ deviceId: 'locker-7' })).statusCode).toBe(400);
  });
});

describe('listing', () => {
  let lst: FastifyInstance;
  beforeAll(async () => {
    lst = await makeApp();
    const devices: [string, string, string][] = [
      ['a-env-1', 'north', 'env-monitor'], ['a-env-2', 'north', 'env-monitor'], ['a-ev-1', 'north', 'ev-charger'],
      ['b-fall-1', 'south', 'fall-sensor'], ['b-fall-2', 'south', 'fall-sensor'],
    ];
    for (const [id, site, kind] of devices) expect((await register({ id, site, kind }, lst)).statusCode).toBe(201);
    await lst.inject({ method: 'POST', url: '/api/v1/devices/b-fall-2/disable', headers: auth });
    edge.latest['a-env-1'] = { ts: Date.UTC(2030, 0, 1), seq: 3, fields: { pm25_ugm3: 12.5 }, text: {} };
  });
  const list = async (qs: string, target = lst) => {
    const r = await target.inject({ url: `/api/v1/devices${qs}`, headers: auth });
    expect(r.statusCode, r.body).toBe(200);
    return r.json() as { items: { id: string; status: string; lastSeen: string | null; lastValues: unknown }[]; total: number; edgeAvailable: boolean };
  };

  it('filters by site, kind and status', async () => {
    expect((await list('?site=north')).items.map((d) => d.id)).toEqual(['a-env-1', 'a-env-2', 'a-ev-1']);
    expect((await list('?kind=fall-sensor')).total).toBe(2);
    expect((await list('?status=disabled')).items.map((d) => d.id)).toEqual(['b-fall-2']);
    expect((await list('?status=offline&site=south')).items.map((d) => d.id)).toEqual(['b-fall-1']);
  });

  it('paginates with a stable order and a total', async () => {
    const all = await list('');
    const p1 = await list('?limit=2&offset=0');
    const p2 = await list('?limit=2&offset=2');
    const p3 = await list('?limit=2&offset=4');
    expect(p1.total).toBe(all.total);
    expect([...p1.items, ...p2.items, ...p3.items].map((d) => d.id)).toEqual(all.items.map((d) => d.id));
  });

  it('400 for invalid filters', async () => {
    for (const qs of ['?status=sleeping', '?limit=0', '?limit=501', '?offset=-1', '?kind=x', '?site=a/b']) {
      const r = await lst.inject({ url: `/api/v1/devices${qs}`, headers: auth });
      expect(r.statusCode, qs).toBe(400);
      expect(r.json().code).toBe('E_VALIDATION');
    }
  });

  it('enriches with edge lastValues in one batch call; lastSeen takes the fresher edge time', async () => {
    edge.requests.length = 0;
    const page = await list('?site=north');
    expect(edge.requests.filter((q) => q.path === '/v1/latest')).toEqual([{ path: '/v1/latest', query: { deviceId: 'a-env-1,a-env-2,a-ev-1' } }]);
    expect(page.edgeAvailable).toBe(true);
    const env1 = page.items.find((d) => d.id === 'a-env-1');
    expect(env1?.lastValues).toEqual({ ts: '2030-01-01T00:00:00.000Z', fields: { pm25_ugm3: 12.5 }, text: {} });
    expect(env1?.lastSeen).toBe('2030-01-01T00:00:00.000Z');
    expect(page.items.find((d) => d.id === 'a-env-2')?.lastValues).toBeNull();
  });

  it('still serves the registry when the edge is down, flagged edgeAvailable: false', async () => {
    const noEdge = await makeApp({}, await deadUrl());
    await register({ id: 'solo', site: 'x', kind: 'ev-charger' }, noEdge);
    const page = await list('', noEdge);
    expect(page).toMatchObject({ total: 1, edgeAvailable: false });
    expect(page.items[0]?.lastValues).toBeNull();
    const one = await noEdge.inject({ url: '/api/v1/devices/solo', headers: auth });
    expect(one.statusCode).toBe(200);
    expect(one.headers['x-yulan-edge-available']).toBe('false');
  });
});

describe('errors', () => {
  it('hides 5xx details and keeps the error shape', async () => {
    const repo = new SqliteDeviceRepository({ file: ':memory:' });
    repo.list = async () => {
      throw new Error('disk on fire at /secret/path');
    };
    const broken = await makeApp({ devices: repo });
    const r = await broken.inject({ url: '/api/v1/devices', headers: auth });
    expect(r.statusCode).toBe(500);
    expect(r.json()).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'internal error; see the server log', code: 'E_INTERNAL' });
  });

  it('404 shape for unknown routes', async () => {
    const r = await app.inject({ url: '/nope' });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ statusCode: 404, code: 'E_NOT_FOUND' });
  });
});
