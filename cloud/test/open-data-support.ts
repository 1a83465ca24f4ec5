import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildHttpApi, createMetrics, LatestCache, registerAirRoutes, SqliteStore, type StoreRecord } from '../../edge/src/index.js';
import { buildApp, type AppOptions } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import type { StaOptions } from '../src/sta/routes.js';
import { silentLogger } from './helpers.js';

export const EDGE_TOKEN_FOR_TESTS = 'edge-token-0123456789';
export const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const EDGE_TOKEN = 'edge-token-0123456789';
export const H = 3_600_000;
export const DAY = 24 * H;
/** Strings that belong to what must never be public: other kinds, a home, a person. */
export const NOT_PUBLIC = ['fall-1', 'locker-1', 'ev-1', 'home-site', 'Grandma'];

/**
 * A real edge (SQLite store + its HTTP query API) and a real registry, with two sites of
 * env monitors next to a fall sensor, a locker and a charger. The data: `day` (a local
 * UTC+8 day that has ended) of minute means at xuhui, hourly and daily site AQI, Ld/Ln.
 */
export interface OpenFixture {
  dir: string;
  store: SqliteStore;
  repo: SqliteDeviceRepository;
  edgeUrl: string;
  /** the edge's newest reading per device (what /v1/latest answers) */
  latest: LatestCache;
  /** edge requests seen (path + query) */
  edgeRequests: string[];
  /** local date of the seeded full day, and its start (epoch ms) */
  day: string;
  dayStartMs: number;
  app(opts?: Partial<StaOptions> & { globalMax?: number; dashboardDir?: string | null; extra?: Partial<AppOptions> }): Promise<FastifyInstance>;
  close(): Promise<void>;
}

export async function openFixture(now = Date.now()): Promise<OpenFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'yulan-open-'));
  const store = new SqliteStore(join(dir, 'telemetry.db'));
  await store.init();
  // yesterday in UTC+8
  const localMidnight = Math.floor((now + 8 * H) / DAY) * DAY - 8 * H;
  const dayStartMs = localMidnight - DAY;
  const day = new Date(dayStartMs + 8 * H).toISOString().slice(0, 10);
  const recs: StoreRecord[] = [];
  const agg = (deviceId: string, site: string, kind: string, ts: number, fields: Record<string, number>): StoreRecord => ({
    type: 'aggregate', deviceId, site, kind, windowStartMs: ts,
    fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, { count: 6, min: v, max: v, mean: v, last: v }])),
  } as StoreRecord);
  for (let m = 0; m < 3; m++) recs.push(agg('env-1', 'xuhui', 'env-monitor', dayStartMs + m * 60_000, { pm25_ugm3: 40 + m, noise_dba: 55.5, co_mgm3: 0.8 }));
  recs.push(agg('env-3', 'xuhui', 'env-monitor', dayStartMs + 60_000, { pm25_ugm3: 12 }));
  recs.push(agg('env-1', 'xuhui', 'env-monitor', dayStartMs - 60_000, { pm25_ugm3: 999 })); // the day before
  recs.push(agg('locker-1', 'xuhui', 'parcel-locker', dayStartMs + 60_000, { door_open: 1 }));
  const label = (value: number) => value > 100
    ? { level: '三级', category: '轻度污染', category_en: 'Lightly polluted', colour: '#FF7E00', primary: 'pm25' }
    : { level: '二级', category: '良', category_en: 'Good', colour: '#FFFF00', primary: 'pm25' };
  const lastHour = Math.floor(now / H) * H;
  for (let h = 1; h <= 24; h++) {
    const v = h === 1 ? 120 : 60 + h;
    recs.push({ type: 'air-index', deviceId: '', site: 'xuhui', kind: 'env-monitor', scope: 'site', measure: 'aqi', period: 'hour',
      tsMs: lastHour - h * H, endMs: lastHour - (h - 1) * H, value: v, values: {}, labels: label(v) });
  }
  for (let dd = 1; dd <= 3; dd++) {
    recs.push({ type: 'air-index', deviceId: '', site: 'xuhui', kind: 'env-monitor', scope: 'site', measure: 'aqi', period: 'day',
      tsMs: localMidnight - dd * DAY, endMs: localMidnight - (dd - 1) * DAY, value: 70 + dd, values: {}, labels: label(70 + dd) });
  }
  recs.push({ type: 'air-index', deviceId: '', site: 'xuhui', kind: 'env-monitor', scope: 'site', measure: 'noise', period: 'day',
    tsMs: dayStartMs + 6 * H, endMs: dayStartMs + 22 * H, value: 63.2, values: { limit_dba: 60, minutes: 900, expected_minutes: 960 }, labels: { zone: '2', exceeded: 'true' } });
  await store.write(recs);
  const edgeRequests: string[] = [];
  const latest = new LatestCache();
  latest.offer('env-1', { ts: now - 5000, seq: 9, site: 'xuhui', kind: 'env-monitor', fields: { pm25_ugm3: 88, noise_dba: 71 }, text: {} });
  latest.offer('fall-1', { ts: now - 5000, seq: 9, site: 'home-site', kind: 'fall-sensor', fields: { heart_rate_bpm: 70 }, text: {} });
  const edgeApi = buildHttpApi({ token: EDGE_TOKEN, store, latest, metrics: () => createMetrics(), outboxDepth: () => 0, logger: silentLogger as never });
  edgeApi.addHook('onRequest', async (req) => void edgeRequests.push(req.url));
  registerAirRoutes(edgeApi, store);
  await edgeApi.listen({ host: '127.0.0.1', port: 0 });
  const edgeUrl = `http://127.0.0.1:${(edgeApi.server.address() as AddressInfo).port}`;

  const repo = new SqliteDeviceRepository({ file: ':memory:' });
  await repo.createSite({ id: 'xuhui', nameZh: '徐汇区', nameEn: 'Xuhui', lat: 31.1885, lon: 121.4365 });
  await repo.createSite({ id: 'home-site', nameZh: '家', nameEn: 'Home', lat: 31.2, lon: 121.4 });
  for (const [id, site, kind, name] of [
    ['env-1', 'xuhui', 'env-monitor', 'Xuhui station'], ['env-3', 'xuhui', 'env-monitor', null], ['env-2', 'pudong', 'env-monitor', null],
    ['fall-1', 'home-site', 'fall-sensor', 'Grandma bathroom'], ['locker-1', 'xuhui', 'parcel-locker', null], ['ev-1', 'xuhui', 'ev-charger', null],
  ] as const) await repo.create({ id, site, kind, name, secretHash: 'h' });

  const apps: FastifyInstance[] = [];
  return {
    dir, store, repo, edgeUrl, latest, edgeRequests, day, dayStartMs,
    async app(o = {}) {
      const { globalMax, dashboardDir, extra, ...sta } = o;
      const a = await buildApp({
        logger: silentLogger, devices: repo, control: { connected: () => true, publishRevoke: async () => {} },
        edge: createHttpEdgeClient({ baseUrl: edgeUrl, token: EDGE_TOKEN }),
        adminTokenDigest: digestToken(ADMIN), brokerToken: 'broker-token-for-tests', dashboardDir: dashboardDir ?? null,
        rateLimit: { max: globalMax ?? 1200 }, sta: { rateLimitMax: 10_000, ...sta }, ...extra,
      });
      apps.push(a);
      return a;
    },
    async close() {
      for (const a of apps) await a.close();
      await edgeApi.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
