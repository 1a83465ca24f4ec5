import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAirRoutes } from '../src/air/air-routes.js';
import { aqiEpisodes, noiseEpisodes, type IndexPoint } from '../src/domain/air-episodes.js';
import { buildHttpApi, createMetrics, LatestCache, SqliteStore, type StoreRecord } from '../src/index.js';

const H = 3_600_000;
const T = Date.UTC(2024, 5, 1);
const iso = (ms: number): string => new Date(ms).toISOString();
const hours = (values: (number | null)[], from = T): IndexPoint[] => values.map((value, i) => ({ ts: from + i * H, endMs: from + (i + 1) * H, value }));

describe('site exceedance episodes from the stored indices', () => {
  it('a run of contiguous hours above the level, with its peak; equal to the level is not above', () => {
    expect(aqiEpisodes(hours([90, 101, 180, 120, 100, 60]), 100)).toEqual([
      { measure: 'aqi', since: iso(T + H), until: iso(T + 4 * H), peak: 180, hours: 3, alertLevel: 100 },
    ]);
  });

  it('an invalid hour or a missing hour ends a run (never bridged by a guess); the last run is still open', () => {
    const pts = [...hours([150, null, 150]), ...hours([150, 160], T + 4 * H)];
    expect(aqiEpisodes(pts, 100).map((e) => [e.since, e.until, e.hours])).toEqual([
      [iso(T), iso(T + H), 1], [iso(T + 2 * H), iso(T + 3 * H), 1], [iso(T + 4 * H), null, 2],
    ]);
    expect(aqiEpisodes(hours([50, null]), 100)).toEqual([]);
    expect(aqiEpisodes([], 100)).toEqual([]);
  });

  it('order of the input does not matter', () => {
    const pts = hours([120, 130, 40]);
    expect(aqiEpisodes([...pts].reverse(), 100)).toEqual(aqiEpisodes(pts, 100));
  });

  it('noise: each exceeded day or night period, with the limit and zone', () => {
    const pts: IndexPoint[] = [
      { ts: T, endMs: T + 16 * H, value: 63.2, values: { limit_dba: 60 }, labels: { zone: '2', exceeded: 'true' } },
      { ts: T + 24 * H, endMs: T + 40 * H, value: 58, values: { limit_dba: 60 }, labels: { zone: '2', exceeded: 'false' } },
      { ts: T + 48 * H, endMs: T + 64 * H, value: null, values: { limit_dba: 60 }, labels: { zone: '2', exceeded: 'false' } },
    ];
    expect(noiseEpisodes(pts, 'day')).toEqual([{ measure: 'noise', since: iso(T), until: iso(T + 16 * H), peak: 63.2, period: 'day', limitDba: 60, zone: '2' }]);
  });

  describe('GET /v1/air-quality/exceedances (real SQLite store)', () => {
    let dir: string;
    let store: SqliteStore;
    let app: ReturnType<typeof buildHttpApi>;
    const auth = { authorization: 'Bearer test-token-0123456789' };
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'yulan-episodes-'));
      store = new SqliteStore(join(dir, 'telemetry.db'));
      await store.init();
      const recs: StoreRecord[] = [120, 160, 90, 155].map((value, i) => ({
        type: 'air-index', deviceId: '', site: 'xuhui', kind: 'env-monitor', scope: 'site', measure: 'aqi', period: 'hour',
        tsMs: T + i * H, endMs: T + (i + 1) * H, value, values: {}, labels: {},
      }));
      recs.push({ type: 'air-index', deviceId: '', site: 'xuhui', kind: 'env-monitor', scope: 'site', measure: 'noise', period: 'night',
        tsMs: T - 8 * H, endMs: T, value: 52.5, values: { limit_dba: 50 }, labels: { zone: '2', exceeded: 'true' } });
      recs.push({ type: 'air-index', deviceId: '', site: 'pudong', kind: 'env-monitor', scope: 'site', measure: 'aqi', period: 'hour',
        tsMs: T, endMs: T + H, value: 300, values: {}, labels: {} });
      await store.write(recs);
      app = buildHttpApi({ token: 'test-token-0123456789', store, latest: new LatestCache(), metrics: () => createMetrics(), outboxDepth: () => 0, logger: pino({ level: 'silent' }) });
      registerAirRoutes(app, store, () => T + 10 * H, 150);
    });
    afterAll(async () => {
      await app?.close();
      await store?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("a site's AQI episodes above the configured level and its noise periods over the limit, oldest first", async () => {
      const r = await app.inject({ url: `/v1/air-quality/exceedances?scope=site&id=xuhui&from=${T - 24 * H}`, headers: auth });
      expect(r.statusCode, r.body).toBe(200);
      const body = r.json() as { aqiAlertLevel: number; episodes: { measure: string; since: string; until: string | null; peak: number }[] };
      expect(body.aqiAlertLevel).toBe(150);
      expect(body.episodes.map((e) => [e.measure, e.since, e.until, e.peak])).toEqual([
        ['noise', iso(T - 8 * H), iso(T), 52.5], ['aqi', iso(T + H), iso(T + 2 * H), 160], ['aqi', iso(T + 3 * H), null, 155],
      ]);
    });

    it('refuses more than 31 days, a bad id, and no token', async () => {
      expect((await app.inject({ url: `/v1/air-quality/exceedances?id=xuhui&from=${T - 40 * 24 * H}`, headers: auth })).statusCode).toBe(400);
      expect((await app.inject({ url: '/v1/air-quality/exceedances?id=../x', headers: auth })).statusCode).toBe(400);
      expect((await app.inject({ url: '/v1/air-quality/exceedances?id=xuhui' })).statusCode).toBe(401);
    });
  });
});
