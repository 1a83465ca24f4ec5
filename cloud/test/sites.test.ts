import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { silentLogger, startEdgeStub, tempDir, type EdgeStub } from './helpers.js';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const auth = { authorization: `Bearer ${ADMIN}` };

describe('site registry: coordinates and zh/en names (admin API)', () => {
  let edge: EdgeStub;
  let app: FastifyInstance;
  const tmp = tempDir('yulan-sites-');
  const file = `${tmp.dir}/registry.db`;
  const make = () => buildApp({
    logger: silentLogger, devices: new SqliteDeviceRepository({ file }),
    edge: createHttpEdgeClient({ baseUrl: edge.url, token: edge.token }),
    control: { connected: () => true, publishRevoke: async () => {} },
    adminTokenDigest: digestToken(ADMIN), brokerToken: 'broker-token-for-tests', dashboardDir: null,
  });
  const xuhui = { id: 'xuhui', nameZh: '徐汇区', nameEn: 'Xuhui District', lat: 31.1885, lon: 121.4365 };

  beforeAll(async () => {
    edge = await startEdgeStub();
    app = await make();
  });
  afterAll(async () => {
    await app?.close();
    await edge.close();
    tmp.cleanup();
  });

  it('registers a site, lists it and reads it back', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/v1/sites', headers: auth, payload: xuhui });
    expect(r.statusCode).toBe(201);
    expect(r.json()).toMatchObject(xuhui);
    expect(Date.parse(r.json().createdAt)).toBeGreaterThan(0);
    const list = await app.inject({ url: '/api/v1/sites', headers: auth });
    expect(list.json().items.map((s: { id: string }) => s.id)).toEqual(['xuhui']);
    const one = await app.inject({ url: '/api/v1/sites/xuhui', headers: auth });
    expect(one.json()).toMatchObject({ nameZh: '徐汇区', lat: 31.1885 });
  });

  it('refuses the same id again (409) and keeps the first', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/v1/sites', headers: auth, payload: { ...xuhui, nameEn: 'Other' } });
    expect(r.statusCode).toBe(409);
    expect(r.json().code).toBe('E_DUPLICATE');
    expect((await app.inject({ url: '/api/v1/sites/xuhui', headers: auth })).json().nameEn).toBe('Xuhui District');
  });

  it('rejects coordinates off the globe, blank names, bad ids, missing fields (400), an unknown site (404)', async () => {
    const bad = [
      { ...xuhui, id: 'a', lat: 91 }, { ...xuhui, id: 'b', lon: -180.5 }, { ...xuhui, id: 'c', nameZh: ' ' },
      { ...xuhui, id: 'd', nameEn: '' }, { ...xuhui, id: '../x' }, { id: 'f', nameZh: 'x', nameEn: 'x', lat: 1 }
    ];
    for (const payload of bad) {
      const r = await app.inject({ method: 'POST', url: '/api/v1/sites', headers: auth, payload });
      expect(r.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect((await app.inject({ url: '/api/v1/sites/nowhere', headers: auth })).statusCode).toBe(404);
  });

  it('needs the admin token', async () => {
    expect((await app.inject({ url: '/api/v1/sites' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/api/v1/sites', payload: { ...xuhui, id: 'p' } })).statusCode).toBe(401);
  });

  it('keeps sites across a restart (the registry file is migrated, not recreated)', async () => {
    await app.close();
    app = await make();
    expect((await app.inject({ url: '/api/v1/sites', headers: auth })).json().items).toHaveLength(1);
  });
});
