import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { deadUrl, silentLogger, startEdgeStub, type EdgeStub } from './helpers.js';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const auth = { authorization: `Bearer ${ADMIN}` };

let edge: EdgeStub;
let app: FastifyInstance;
let down: FastifyInstance;

async function make(edgeUrl: string, connected: boolean): Promise<FastifyInstance> {
  const devices = new SqliteDeviceRepository({ file: ':memory:' });
  await devices.create({ id: 'ev-9', site: 'pudong', kind: 'ev-charger', secretHash: 'x' });
  return buildApp({
    logger: silentLogger,
    devices,
    edge: createHttpEdgeClient({ baseUrl: edgeUrl, token: edge.token }),
    control: { connected: () => connected, publishRevoke: async () => undefined },
    adminTokenDigest: digestToken(ADMIN),
    brokerToken: 'b',
    dashboardDir: null,
  });
}

beforeAll(async () => {
  edge = await startEdgeStub();
  app = await make(edge.url, true);
  down = await make(await deadUrl(), false);
});
afterAll(async () => {
  await app.close();
  await down.close();
  await edge.close();
});

describe('telemetry and events proxy', () => {
  it('forwards the query with the edge token and returns the edge answer', async () => {
    edge.requests.length = 0;
    const from = '2030-01-01T00:00:00Z';
    const r = await app.inject({ url: `/api/v1/devices/ev-9/telemetry?from=${from}&to=1893456000000&fields=power_w,energy_kwh&resolution=1m&limit=10`, headers: auth });
    expect(r.statusCode, r.body).toBe(200);
    const fromMs = Date.parse(from);
    expect(edge.requests).toEqual([
      { path: '/v1/telemetry', query: { deviceId: 'ev-9', from: String(fromMs), to: '1893456000000', fields: 'power_w,energy_kwh', resolution: '1m', limit: '10' } },
    ]);
    expect(r.json()).toEqual({ deviceId: 'ev-9', resolution: '1m', points: [{ ts: fromMs + 1000, seq: 1, fields: { power_w: 7200 } }] });
  });

  it('proxies events', async () => {
    const r = await app.inject({ url: '/api/v1/devices/ev-9/events?limit=5', headers: auth });
    expect(r.statusCode).toBe(200);
    expect(r.json().events[0]).toMatchObject({ deviceId: 'ev-9', type: 'fall', attributes: { room: 'bedroom' } });
    expect(edge.requests.at(-1)).toEqual({ path: '/v1/events', query: { deviceId: 'ev-9', limit: '5' } });
  });

  it('404 for an unknown device without asking the edge', async () => {
    edge.requests.length = 0;
    for (const what of ['telemetry', 'events']) {
      const r = await app.inject({ url: `/api/v1/devices/ghost/${what}`, headers: auth });
      expect(r.statusCode).toBe(404);
    }
    expect(edge.requests).toEqual([]);
  });

  it('400 for bad times, ranges and field lists', async () => {
    edge.requests.length = 0;
    // a limit past the edge's page size is the cloud's own 400, not a pass-through of the edge's
    for (const qs of ['from=yesterday', 'from=10&to=5', 'fields=Power-W', 'resolution=5m', 'limit=0', 'limit=10001']) {
      const r = await app.inject({ url: `/api/v1/devices/ev-9/telemetry?${qs}`, headers: auth });
      expect(r.statusCode, qs).toBe(400);
      expect(r.json().code).toBe('E_VALIDATION');
    }
    const events = await app.inject({ url: '/api/v1/devices/ev-9/events?limit=10001', headers: auth });
    expect(events.statusCode).toBe(400);
    expect(edge.requests).toEqual([]);
    expect((await app.inject({ url: '/api/v1/devices/ev-9/telemetry?limit=10000', headers: auth })).statusCode).toBe(200);
  });

  it('passes an edge 400 through as a 400 with its message', async () => {
    edge.failTelemetry = { status: 400, message: 'field "nope" is unknown' };
    const r = await app.inject({ url: '/api/v1/devices/ev-9/telemetry?fields=nope', headers: auth });
    edge.failTelemetry = undefined;
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'E_EDGE_BAD_REQUEST', message: 'field "nope" is unknown' });
  });

  it('502 with a clear message when the edge fails or is unreachable', async () => {
    edge.failTelemetry = { status: 500, message: 'influx exploded at 10.0.0.3' };
    const r500 = await app.inject({ url: '/api/v1/devices/ev-9/telemetry', headers: auth });
    edge.failTelemetry = undefined;
    expect(r500.statusCode).toBe(502);
    expect(r500.json()).toMatchObject({ statusCode: 502, code: 'E_EDGE_BAD_RESPONSE' });
    expect(r500.body).not.toContain('10.0.0.3');
    for (const what of ['telemetry', 'events']) {
      const r = await down.inject({ url: `/api/v1/devices/ev-9/${what}`, headers: auth });
      expect(r.statusCode).toBe(502);
      expect(r.json()).toMatchObject({ statusCode: 502, error: 'Bad Gateway', code: 'E_EDGE_UNREACHABLE' });
      expect(r.json().message).toContain('edge unreachable');
    }
  });

  it('requires the admin token', async () => {
    expect((await app.inject({ url: '/api/v1/devices/ev-9/telemetry' })).statusCode).toBe(401);
  });
});

describe('health and docs', () => {
  it('/healthz reports db, mqtt and edge without auth', async () => {
    const ok = await app.inject({ url: '/healthz' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ status: 'ok', db: true, mqtt: true, edge: true });
    const degraded = await down.inject({ url: '/healthz' });
    expect(degraded.statusCode).toBe(200);
    expect(degraded.json()).toEqual({ status: 'degraded', db: true, mqtt: false, edge: false });
  });

  it('/openapi.json documents every route with its security', async () => {
    const r = await app.inject({ url: '/openapi.json' });
    expect(r.statusCode).toBe(200);
    const doc = r.json() as { openapi: string; paths: Record<string, Record<string, { security?: unknown[] }>> };
    expect(doc.openapi).toMatch(/^3\./);
    const ops = Object.entries(doc.paths).flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`));
    expect(ops).toEqual(
      expect.arrayContaining([
        'POST /api/v1/devices',
        'GET /api/v1/devices',
        'GET /api/v1/devices/{id}',
        'POST /api/v1/devices/{id}/disable',
        'GET /api/v1/devices/{id}/telemetry',
        'GET /api/v1/devices/{id}/events',
        'POST /api/v1/internal/device-auth',
        'GET /healthz',
      ]),
    );
    expect(doc.paths['/api/v1/devices']?.post?.security).toEqual([{ adminToken: [] }]);
    expect(doc.paths['/api/v1/internal/device-auth']?.post?.security).toEqual([{ brokerToken: [] }]);
    const ui = await app.inject({ url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toContain('text/html');
  });
});
