import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KindSlug } from '@yulan/protos';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { deadUrl, silentLogger } from './helpers.js';

/** The console's fleet endpoint over a real SQLite registry of 2,000 devices. */
const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const KINDS: KindSlug[] = ['ev-charger', 'parcel-locker', 'fall-sensor', 'env-monitor'];
const N = 2000;
let app: FastifyInstance;
let devices: SqliteDeviceRepository;
let clock = Date.UTC(2026, 0, 1);

type Page = { items: { id: string; site: string; kind: string; status: string; firmwareVersion: string | null; lastSeen: string | null }[]; total: number; edgeAvailable: boolean };
async function fleet(query: string): Promise<Page> {
  const r = await app.inject({ url: `/api/v1/fleet?${query}`, headers: { authorization: `Bearer ${ADMIN}` } });
  expect(r.statusCode, r.body).toBe(200);
  return r.json() as Page;
}

beforeAll(async () => {
  devices = new SqliteDeviceRepository({ file: ':memory:', now: () => clock });
  for (let i = 0; i < N; i++) {
    const kind = KINDS[i % 4]!;
    await devices.create({ id: `${kind}-${String(i).padStart(5, '0')}`, site: `site-${i % 10}`, kind, name: i === 7 ? '田林 100%_sensor' : null, firmwareVersion: `1.${i % 3}.0`, secretHash: 'x' });
  }
  // A third online (presence 10 min ago), device 5 disabled.
  await devices.applyPresence(Array.from({ length: N }, (_, i) => i).filter((i) => i % 3 === 0)
    .map((i) => ({ deviceId: `${KINDS[i % 4]}-${String(i).padStart(5, '0')}`, online: true, ts: clock - 600_000 + i })));
  await devices.setDisabled('parcel-locker-00005', true);
  app = await buildApp({
    logger: silentLogger, devices,
    edge: createHttpEdgeClient({ baseUrl: await deadUrl(), token: 'x', latestTimeoutMs: 200 }),
    control: { connected: () => true, publishRevoke: async () => undefined },
    adminTokenDigest: digestToken(ADMIN), brokerToken: 'broker-token-for-tests', dashboardDir: null,
  });
});
afterAll(async () => {
  await app.close();
  await devices.close();
});

describe('GET /api/v1/fleet', () => {
  it('finds one device among 2,000 by a substring of its id, case-insensitively', async () => {
    const page = await fleet('q=LOCKER-01233');
    expect(page.items.map((d) => d.id)).toEqual(['parcel-locker-01233']);
    expect(page.total).toBe(1);
    // The edge is down: the page still comes, flagged.
    expect(page.edgeAvailable).toBe(false);
  });

  it("treats LIKE's wildcards in the search text literally and searches names too", async () => {
    expect((await fleet(`q=${encodeURIComponent('100%_')}`)).items.map((d) => d.id)).toEqual(['env-monitor-00007']);
    expect((await fleet(`q=${encodeURIComponent('%')}`)).total).toBe(1);
  });

  it('combines site, kind, status and firmware filters; total counts all matches, not the page', async () => {
    const page = await fleet('site=site-3&kind=env-monitor&status=online&firmware=1.1.0&limit=5');
    const all = await devices.list({ site: 'site-3', kind: 'env-monitor', status: 'online', limit: 1000, offset: 0 });
    const expected = all.items.filter((d) => d.firmwareVersion === '1.1.0').map((d) => d.id).sort();
    expect(page.total).toBe(expected.length);
    expect(page.items.map((d) => d.id)).toEqual(expected.slice(0, 5));
    expect((await fleet('status=disabled')).items.map((d) => d.id)).toEqual(['parcel-locker-00005']);
  });

  it('sorts on the server in either direction and pages without gaps or repeats', async () => {
    const seen = new Set<string>();
    for (let offset = 0; offset < N; offset += 500) {
      for (const d of (await fleet(`sort=lastSeen&order=desc&limit=500&offset=${offset}`)).items) seen.add(d.id);
    }
    expect(seen.size).toBe(N);
    const first = (await fleet('sort=lastSeen&order=desc&limit=3')).items;
    expect(first.map((d) => d.lastSeen)).toEqual([...first.map((d) => d.lastSeen)].sort().reverse());
    // The newest presence went to device 1998 (the last multiple of 3).
    expect(first[0]!.id).toBe('fall-sensor-01998');
    const byId = (await fleet('sort=id&order=desc&limit=1')).items[0]!.id;
    expect(byId).toBe('parcel-locker-01997');
  });

  it('refuses a sort key or status it does not know with 400', async () => {
    const r = await app.inject({ url: '/api/v1/fleet?sort=secret_hash', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(r.statusCode).toBe(400);
    expect((await app.inject({ url: '/api/v1/fleet?status=faulty', headers: { authorization: `Bearer ${ADMIN}` } })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/v1/fleet' })).statusCode).toBe(401);
  });
});

describe('GET /api/v1/fleet/counts', () => {
  it('counts per site and kind by state, and what changed in the last hour', async () => {
    const r = await app.inject({ url: '/api/v1/fleet/counts', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(r.statusCode).toBe(200);
    const c = r.json() as { bySiteKind: { site: string; kind: string; online: number; offline: number; disabled: number; total: number }[]; lastHour: Record<string, number> };
    expect(c.bySiteKind.reduce((n, x) => n + x.total, 0)).toBe(N);
    expect(c.bySiteKind.reduce((n, x) => n + x.online, 0)).toBe(Math.ceil(N / 3));
    expect(c.bySiteKind.reduce((n, x) => n + x.disabled, 0)).toBe(1);
    for (const x of c.bySiteKind) expect(x.online + x.offline + x.disabled).toBe(x.total);
    expect(c.bySiteKind.find((x) => x.site === 'site-5' && x.kind === 'parcel-locker')?.disabled).toBe(1);
    expect(c.lastHour).toEqual({ wentOnline: Math.ceil(N / 3), wentOffline: 0, registered: N });
    // The edge is down: no faulted counts, and the answer says they are unknown rather than 0.
    expect((c as unknown as { faultedAvailable: boolean }).faultedAvailable).toBe(false);
    expect(c.bySiteKind.every((x) => (x as unknown as { faulted: number }).faulted === 0)).toBe(true);
  });
});
