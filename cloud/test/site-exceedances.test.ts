import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AirService, airConfig, type StoreRecord } from '../../edge/src/index.js';
import { ADMIN, H, openFixture, type OpenFixture } from './open-data-support.js';

const M = 60_000;
const auth = { authorization: `Bearer ${ADMIN}` };
const iso = (ms: number): string => new Date(ms).toISOString();
type Body = { counts: Record<string, number>; events: { type: string; since: string; until: string | null; attributes: Record<string, string> }[] };

// The edge's real air-quality computation over a real SQLite store, read by operators
// through the cloud's admin API.
describe('operators see site exceedances as stored events with since and until, counted', () => {
  let fx: OpenFixture;
  let app: FastifyInstance;
  const now = Date.now();
  const T0 = Math.floor(now / H) * H - 10 * H;
  const monitors = () => [{ deviceId: 'env-1', site: 'xuhui' }, { deviceId: 'env-3', site: 'xuhui' }];
  const run = async (): Promise<void> => {
    const queued: StoreRecord[][] = [];
    const s = new AirService({
      store: fx.store, config: airConfig({ YULAN_AQI_ALERT_LEVEL: '100' }), monitors, emit: (r) => queued.push(r),
      logger: pino({ level: 'silent' }), settleMs: 11 * M, backfillHours: 10,
    });
    await s.run(T0 + 9 * H + 11 * M);
    for (const b of queued) await fx.store.write(b);
  };

  beforeAll(async () => {
    fx = await openFixture(now);
    // env-1 150 µg/m³ PM2.5 for three hours, env-3 20: the site mean 85 is AQI 113
    const recs: StoreRecord[] = [];
    const f = (v: number) => ({ count: 6, min: v, max: v, mean: v, last: v });
    for (let t = T0; t < T0 + 8 * H; t += M) {
      const high = t >= T0 + 2 * H && t < T0 + 5 * H;
      recs.push({ type: 'aggregate', deviceId: 'env-1', site: 'xuhui', kind: 'env-monitor', windowStartMs: t, fields: { pm25_ugm3: f(high ? 150 : 20) } });
      recs.push({ type: 'aggregate', deviceId: 'env-3', site: 'xuhui', kind: 'env-monitor', windowStartMs: t, fields: { pm25_ugm3: f(20) } });
    }
    await fx.store.write(recs);
    await run();
    app = await fx.app();
  });
  afterAll(async () => fx?.close());

  it("a site's exceedance: since, until, peak, counts; evaluated again it is still one", async () => {
    const r = await app.inject({ url: '/api/v1/sites/xuhui/exceedances', headers: auth });
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json() as Body & { aqiAlertLevel: number };
    expect(body.aqiAlertLevel).toBe(100);
    expect(body.events.map((e) => [e.type, e.since, e.until, e.attributes.peak_aqi])).toEqual([
      ['air.aqi_exceeded', iso(T0 + 2 * H), iso(T0 + 5 * H), '113'],
    ]);
    expect(body.counts).toEqual({ total: 1, open: 0, aqi: 1, noise: 0 });

    await run(); // a restarted edge computing the same hours again
    const again = (await app.inject({ url: '/api/v1/sites/xuhui/exceedances', headers: auth })).json() as Body;
    expect(again.events).toEqual(body.events);
    expect((await app.inject({ url: '/api/v1/sites/xuhui/exceedances?open=true', headers: auth })).json()).toMatchObject({ events: [] });
  });

  it('the list over all sites names only those with exceedances, with the totals', async () => {
    const r = await app.inject({ url: `/api/v1/exceedances?from=${T0}`, headers: auth });
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json() as { counts: Record<string, number>; sites: { site: string; nameZh: string; events: unknown[] }[] };
    expect(body.sites.map((s) => [s.site, s.nameZh, s.events.length])).toEqual([['xuhui', '徐汇区', 1]]);
    expect(body.counts).toEqual({ total: 1, open: 0, aqi: 1, noise: 0 });
  });

  it('refuses what is wrong: no token, an unknown site, a bad time, a range over 31 days', async () => {
    expect((await app.inject({ url: '/api/v1/sites/xuhui/exceedances' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/v1/exceedances' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/v1/sites/nowhere/exceedances', headers: auth })).statusCode).toBe(404);
    expect((await app.inject({ url: '/api/v1/sites/xuhui/exceedances?from=yesterday', headers: auth })).statusCode).toBe(400);
    const long = await app.inject({ url: `/api/v1/sites/xuhui/exceedances?from=${T0 - 40 * 24 * H}&to=${T0}`, headers: auth });
    expect(long.statusCode).toBe(400);
    expect(long.json()).toMatchObject({ message: 'at most 31 days at a time' });
  });
});
