import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { airConfig } from '../src/air/air-config.js';
import { registerAirRoutes } from '../src/air/air-routes.js';
import { AirService } from '../src/air/air-service.js';
import { DerivedEvent } from '../src/domain/air-index.js';
import { energyMean } from '../src/domain/noise.js';
import { buildHttpApi, createMetrics, LatestCache, SqliteStore, type StoreRecord } from '../src/index.js';

const H = 3_600_000;
const M = 60_000;
// Local day 2024-06-01 in Shanghai (+08:00) starts at 2024-05-31T16:00Z.
const DAY = Date.UTC(2024, 4, 31, 16, 0, 0);
const SETTLE = 11 * M;
const TOKEN = 'test-token-0123456789';
const iso = (ms: number): string => new Date(ms).toISOString();
/** `now` at which hour [h, h+1h) has just settled. */
const settledAfter = (h: number): number => h + H + SETTLE;

/** env-a: PM2.5 150 µg/m³ from 10:00 to 13:00 local (IAQI 200), 30 otherwise; only 40
 * minutes of data in the 05:00 hour; 58 dB(A) by day, 40 at night. env-b: PM2.5 20,
 * 50 dB(A) by day. Both at site-1, a GB 3096 class 1 zone (55 / 45 dB(A)). */
function aggregates(): StoreRecord[] {
  const out: StoreRecord[] = [];
  for (let t = DAY - 8 * H; t < DAY + 31 * H; t += M) {
    const local = (t - DAY) / H;
    const hourOfDay = ((Math.floor(local) % 24) + 24) % 24;
    const isDay = hourOfDay >= 6 && hourOfDay < 22;
    const f = (v: number) => ({ count: 6, min: v, max: v + 2, mean: v, last: v });
    const common = { no2_ugm3: f(40), co_mgm3: f(0.5), o3_ugm3: f(60), so2_ugm3: f(8), pm10_ugm3: f(50) };
    if (!(local >= 5 && local < 6 && (t - DAY - 5 * H) / M >= 40)) {
      const pmA = local >= 10 && local < 13 ? 150 : 30;
      out.push({ type: 'aggregate', deviceId: 'env-a', site: 'site-1', kind: 'env-monitor', windowStartMs: t,
        fields: { ...common, pm25_ugm3: f(pmA), noise_dba: f(isDay ? 58 : 40) } });
    }
    out.push({ type: 'aggregate', deviceId: 'env-b', site: 'site-1', kind: 'env-monitor', windowStartMs: t,
      fields: { ...common, pm25_ugm3: f(20), noise_dba: f(isDay ? 50 : 40) } });
  }
  return out;
}

describe('AQI and noise computed at the edge (real SQLite store)', () => {
  let dir: string;
  let store: SqliteStore;
  const config = airConfig({ YULAN_NOISE_SITE_ZONES: 'site-1=1', YULAN_AQI_ALERT_LEVEL: '150' });
  const monitors = () => [{ deviceId: 'env-a', site: 'site-1' }, { deviceId: 'env-b', site: 'site-1' }];
  const service = (queued: StoreRecord[][]) => new AirService({
    store, config, monitors, emit: (r) => queued.push(r), logger: pino({ level: 'silent' }), settleMs: SETTLE, backfillHours: 40,
  });
  const runAndStore = async (s: AirService, now: number, queued: StoreRecord[][]): Promise<number> => {
    const n = await s.run(now);
    for (const batch of queued.splice(0)) await store.write(batch);
    return n;
  };
  const aqi = (scope: 'device' | 'site', id: string, period: 'hour' | 'day') =>
    store.queryAirIndex({ scope, id, measure: 'aqi', period, fromMs: DAY - 24 * H, toMs: DAY + 48 * H, limit: 1000 });
  const aqiEvents = async (deviceId: string) =>
    (await store.queryEvents({ deviceId, fromMs: DAY - 24 * H, toMs: DAY + 48 * H, limit: 100 })).filter((e) => e.type === DerivedEvent.AqiExceeded);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yulan-air-'));
    store = new SqliteStore(join(dir, 'telemetry.db'));
    await store.init();
    await store.write(aggregates());
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens an exceedance episode while the AQI is above the level (until empty), closes it with until', async () => {
    const queued: StoreRecord[][] = [];
    const s = service(queued);
    await runAndStore(s, settledAfter(DAY + 11 * H), queued);
    const open = await aqiEvents('env-a');
    expect(open).toHaveLength(1);
    expect(open[0]?.attributes).toMatchObject({ since: iso(DAY + 10 * H), until: '', peak_aqi: '200', alert_level: '150' });
    expect(open[0]?.ts).toBe(DAY + 10 * H);
    expect(await aqiEvents('env-b')).toEqual([]);

    await runAndStore(s, settledAfter(DAY + 29 * H), queued);
    const closed = await aqiEvents('env-a');
    expect(closed).toHaveLength(1);
    expect(closed[0]?.attributes).toMatchObject({ since: iso(DAY + 10 * H), until: iso(DAY + 13 * H), peak_aqi: '200' });
  });

  it('stores the hourly AQI per monitor: IAQIs, primary pollutant, category; an hour under 45 minutes is invalid', async () => {
    const hours = await aqi('device', 'env-a', 'hour');
    const at = (h: number) => hours.find((p) => p.ts === DAY + h * H);
    expect(at(10)).toMatchObject({
      endMs: DAY + 11 * H, site: 'site-1', value: 200,
      values: { 'iaqi.pm25': 200, 'iaqi.pm10': 50, 'iaqi.no2': 20, 'iaqi.co': 5, 'iaqi.so2': 3, 'iaqi.o3_1h': 19, 'iaqi.o3_8h': 30, 'c.pm25_1h': 150 },
      labels: { level: '四级', category: '中度污染', colour: '#FF0000', primary: 'pm25' },
    });
    expect(at(9)).toMatchObject({ value: 50, labels: { category: '优', primary: '' } }); // PM10 50 and PM2.5 30 → 50
    // 05:00 has 40 minutes: no 1-hour mean is valid; only the O3 8-hour moving mean (7 of
    // its 8 hours valid) still gives an index
    expect(at(5)?.values).toEqual({ 'iaqi.o3_8h': 30, 'c.o3_8h': 60 });
    expect(at(5)?.value).toBe(30);
    // env-b has no data before DAY - 8h: the first backfilled hours are invalid, not zero
    const b = await aqi('device', 'env-b', 'hour');
    expect(b.find((p) => p.ts === DAY - 9 * H)).toMatchObject({ value: null, values: {}, labels: { level: '', primary: '' } });
    // every hour from the backfill start to the last settled one, once
    expect(new Set(hours.map((p) => p.ts)).size).toBe(hours.length);
  });

  it('stores the daily AQI from 24-hour means (the invalid hour left out) and the site AQI from the monitors’ mean', async () => {
    const [day] = (await aqi('device', 'env-a', 'day')).filter((p) => p.ts === DAY);
    const pm25 = (20 * 30 + 3 * 150) / 23; // 23 valid hours
    expect(day?.values['c.pm25_24h']).toBeCloseTo(pm25, 3);
    expect(day?.value).toBe(Math.ceil(50 + (50 / 40) * (pm25 - 35)));
    expect(day?.labels.primary).toBe('pm25');
    const site = await aqi('site', 'site-1', 'hour');
    expect(site.find((p) => p.ts === DAY + 10 * H)).toMatchObject({ value: 113, values: { 'c.pm25_1h': 85 } }); // (150 + 20) / 2
    // at 05:00 env-a is invalid: the site is env-b alone
    expect(site.find((p) => p.ts === DAY + 5 * H)?.values['c.pm25_1h']).toBe(20);
  });

  it('stores Ld and Ln per monitor and site against the zone limits, with an event for the exceeded day', async () => {
    const q = { measure: 'noise' as const, fromMs: DAY - 24 * H, toMs: DAY + 48 * H, limit: 10 };
    const ld = await store.queryAirIndex({ ...q, scope: 'device', id: 'env-a', period: 'day' });
    expect(ld.find((p) => p.ts === DAY + 6 * H)).toMatchObject({
      endMs: DAY + 22 * H, value: 58, values: { limit_dba: 55, minutes: 960, max_dba: 60 }, labels: { zone: '1', exceeded: 'true' },
    });
    const ln = await store.queryAirIndex({ ...q, scope: 'device', id: 'env-a', period: 'night' });
    expect(ln.find((p) => p.ts === DAY + 22 * H)).toMatchObject({ value: 40, values: { limit_dba: 45 }, labels: { exceeded: 'false' } });
    const siteLd = await store.queryAirIndex({ ...q, scope: 'site', id: 'site-1', period: 'day' });
    expect(siteLd.find((p) => p.ts === DAY + 6 * H)?.value).toBeCloseTo(energyMean([58, 50]) as number, 2);
    const noiseEvents = (await store.queryEvents({ deviceId: 'env-a', fromMs: DAY, toMs: DAY + 48 * H, limit: 100 }))
      .filter((e) => e.type === DerivedEvent.NoiseExceeded);
    expect(noiseEvents.map((e) => [e.attributes.period, e.attributes.since, e.attributes.until])).toEqual([
      ['day', iso(DAY + 6 * H), iso(DAY + 22 * H)],
    ]);
  });

  it('after a restart recomputes the same records: no duplicate events, the episode keeps its since and until', async () => {
    const queued: StoreRecord[][] = [];
    const before = (await aqi('device', 'env-a', 'hour')).length;
    expect(await runAndStore(service(queued), settledAfter(DAY + 29 * H), queued)).toBeGreaterThan(0);
    expect((await aqi('device', 'env-a', 'hour')).length).toBe(before);
    const evs = await aqiEvents('env-a');
    expect(evs.map((e) => [e.attributes.since, e.attributes.until])).toEqual([[iso(DAY + 10 * H), iso(DAY + 13 * H)]]);
  });

  it('a pass with nothing newly settled queues nothing', async () => {
    const queued: StoreRecord[][] = [];
    const s = service(queued);
    await runAndStore(s, settledAfter(DAY + 29 * H), queued);
    expect(await s.run(settledAfter(DAY + 29 * H) + 30 * M)).toBe(0);
  });

  it('operators see the episode through the events API, and the indices through /v1/air-quality', async () => {
    const app = buildHttpApi({
      token: TOKEN, store, latest: new LatestCache(), metrics: () => createMetrics(), outboxDepth: () => 0, logger: pino({ level: 'silent' }),
    });
    registerAirRoutes(app, store);
    const auth = { authorization: `Bearer ${TOKEN}` };
    try {
      const ev = await app.inject({ url: `/v1/events?deviceId=env-a&from=${DAY}&to=${DAY + 48 * H}`, headers: auth });
      expect(ev.statusCode).toBe(200);
      const aqiEv = (ev.json() as { events: { type: string; attributes: Record<string, string> }[] }).events.filter((e) => e.type === 'air.aqi_exceeded');
      expect(aqiEv.map((e) => [e.attributes.since, e.attributes.until])).toEqual([[iso(DAY + 10 * H), iso(DAY + 13 * H)]]);

      const res = await app.inject({ url: `/v1/air-quality?scope=site&id=site-1&period=day&from=${DAY}&to=${DAY + H}`, headers: auth });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ scope: 'site', id: 'site-1', measure: 'aqi', period: 'day', points: [{ ts: DAY }] });
      const bad = await app.inject({ url: '/v1/air-quality?id=env-a&measure=aqi&period=night', headers: auth });
      expect(bad.statusCode).toBe(400);
      const badId = await app.inject({ url: '/v1/air-quality?id=../x', headers: auth });
      expect(badId.statusCode).toBe(400);
      expect((await app.inject({ url: '/v1/air-quality?id=env-a' })).statusCode).toBe(401);
    } finally {
      await app.close();
    }
  });
});
