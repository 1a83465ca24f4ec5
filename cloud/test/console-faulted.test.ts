import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KindSlug } from '@yulan/protos';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { silentLogger, startEdgeStub, type EdgeStub } from './helpers.js';

/** "Faulted" in the console's fleet counts and filter: the edge names the faulted devices
 * (edge/src/domain/faults.ts), the registry counts them per site and kind. */
const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const KINDS: KindSlug[] = ['ev-charger', 'parcel-locker', 'fall-sensor', 'env-monitor'];
let app: FastifyInstance;
let devices: SqliteDeviceRepository;
let edge: EdgeStub;
const get = async <T>(url: string): Promise<T> => {
  const r = await app.inject({ url, headers: { authorization: `Bearer ${ADMIN}` } });
  expect(r.statusCode, r.body).toBe(200);
  return r.json() as T;
};
type Counts = { bySiteKind: { site: string; kind: string; faulted: number; online: number; offline: number; total: number }[]; faultedAvailable: boolean };

beforeAll(async () => {
  devices = new SqliteDeviceRepository({ file: ':memory:' });
  for (let i = 0; i < 40; i++) {
    const kind = KINDS[i % 4]!;
    await devices.create({ id: `${kind}-${i}`, site: `site-${i % 2}`, kind, secretHash: 'x' });
  }
  await devices.setDisabled('ev-charger-4', true);
  edge = await startEdgeStub();
  const f = (deviceId: string, kind: string, reason: string) => ({ deviceId, site: 'edge-site', kind, ts: 1, reason });
  edge.faulted = [
    f('ev-charger-0', 'ev-charger', 'fault_code'), f('ev-charger-8', 'ev-charger', 'status_faulted'),
    f('parcel-locker-1', 'parcel-locker', 'tamper'),
    f('ev-charger-4', 'ev-charger', 'fault_code'), // disabled: not counted
    f('ev-charger-999', 'ev-charger', 'fault_code'), // not registered: not counted
  ];
  app = await buildApp({
    logger: silentLogger, devices, edge: createHttpEdgeClient({ baseUrl: edge.url, token: edge.token }),
    control: { connected: () => true, publishRevoke: async () => undefined },
    adminTokenDigest: digestToken(ADMIN), brokerToken: 'broker-token-for-tests', dashboardDir: null,
  });
});
afterAll(async () => {
  await app.close();
  await devices.close();
  await edge.close();
});

describe('faulted devices in the fleet', () => {
  it('counts enabled registered devices the edge reports faulted, by the registry\'s site and kind', async () => {
    const c = await get<Counts>('/api/v1/fleet/counts');
    expect(c.faultedAvailable).toBe(true);
    const faulted = c.bySiteKind.filter((x) => x.faulted > 0).map((x) => [x.site, x.kind, x.faulted]);
    expect(faulted).toEqual([['site-0', 'ev-charger', 2], ['site-1', 'parcel-locker', 1]]);
  });

  it('filters the table to the faulted devices, combined with the other filters', async () => {
    const all = await get<{ items: { id: string }[]; total: number }>('/api/v1/fleet?faulted=true');
    expect(all.items.map((d) => d.id).sort()).toEqual(['ev-charger-0', 'ev-charger-4', 'ev-charger-8', 'parcel-locker-1']);
    const lockers = await get<{ items: { id: string }[]; total: number }>('/api/v1/fleet?faulted=true&kind=parcel-locker');
    expect(lockers.items.map((d) => d.id)).toEqual(['parcel-locker-1']);
    expect((await get<{ total: number }>('/api/v1/fleet?faulted=false')).total).toBe(40);
  });

  it('a cleared fault leaves the filter at once; an edge answering garbage makes the filter a 502', async () => {
    edge.faulted = [];
    const c = await get<Counts>('/api/v1/fleet?faulted=true');
    expect(c).toMatchObject({ total: 0 });
    edge.faulted = 'nonsense' as never;
    const r = await app.inject({ url: '/api/v1/fleet?faulted=true', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(r.statusCode).toBe(502);
  });
});
