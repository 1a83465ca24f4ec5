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
const settledAfter = (h: number): number => h + H + SETTLE;
/** hours (local, from DAY) in which env-a measures PM2.5 150 µg/m³: the site mean is then
 * (150 + 20) / 2 = 85 → AQI 113, above the alert level 100 */
const HIGH = (local: number): boolean => (local >= 10 && local < 13) || (local >= 20 && local < 22);

function aggregates(): StoreRecord[] {
  const out: StoreRecord[] = [];
  const f = (v: number) => ({ count: 6, min: v, max: v + 1, mean: v, last: v });
  for (let t = DAY - 8 * H; t < DAY + 31 * H; t += M) {
    const local = (t - DAY) / H;
    const hourOfDay = ((Math.floor(local) % 24) + 24) % 24;
    const isDay = hourOfDay >= 6 && hourOfDay < 22;
    out.push({ type: 'aggregate', deviceId: 'env-a', site: 'site-1', kind: 'env-monitor', windowStartMs: t,
      fields: { pm25_ugm3: f(HIGH(local) ? 150 : 20), noise_dba: f(isDay ? 58 : 40) } });
    out.push({ type: 'aggregate', deviceId: 'env-b', site: 'site-1', kind: 'env-monitor', windowStartMs: t,
      fields: { pm25_ugm3: f(20), noise_dba: f(isDay ? 50 : 40) } });
  }
  return out;
}

describe('site exceedances are stored events with since and until (real SQLite store)', () => {
  let dir: string;
  let store: SqliteStore;
  const config = airConfig({ YULAN_NOISE_SITE_ZONES: 'site-1=1', YULAN_AQI_ALERT_LEVEL: '100' });
  const monitors = () => [{ deviceId: 'env-a', site: 'site-1' }, { deviceId: 'env-b', site: 'site-1' }];
  const service = (backfillHours = 3) => new AirService({
    store, config, monitors, emit: (r) => queued.push(r), logger: pino({ level: 'silent' }), settleMs: SETTLE, backfillHours,
  });
  const queued: StoreRecord[][] = [];
  const pass = async (s: AirService, now: number): Promise<void> => {
    await s.run(now);
    for (const batch of queued.splice(0)) await store.write(batch);
  };
  const siteEvents = async (type: string = DerivedEvent.AqiExceeded) =>
    (await store.queryEvents({ deviceId: 'site:site-1', fromMs: DAY - 24 * H, toMs: DAY + 48 * H, limit: 100 })).filter((e) => e.type === type);
  const spans = async () => (await siteEvents()).map((e) => [e.attributes.since, e.attributes.until]);
  let first: AirService;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yulan-site-exc-'));
    store = new SqliteStore(join(dir, 'telemetry.db'));
    await store.init();
    await store.write(aggregates());
    first = service();
    await pass(first, settledAfter(DAY + 8 * H)); // the hours before: nothing above
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens when the site AQI goes above the level, stays one event while it lasts, closes with until', async () => {
    expect(await spans()).toEqual([]);
    await pass(first, settledAfter(DAY + 10 * H));
    const open = await siteEvents();
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ ts: DAY + 10 * H, deviceId: 'site:site-1', severity: 'warning' });
    expect(open[0]?.attributes).toMatchObject({ since: iso(DAY + 10 * H), until: '', peak_aqi: '113', alert_level: '100', scope: 'site' });

    await pass(first, settledAfter(DAY + 11 * H)); // the same exceedance evaluated again
    await pass(first, settledAfter(DAY + 12 * H));
    expect(await spans()).toEqual([[iso(DAY + 10 * H), '']]);

    await pass(first, settledAfter(DAY + 13 * H));
    expect(await spans()).toEqual([[iso(DAY + 10 * H), iso(DAY + 13 * H)]]);
    // the monitor has its own event; the site's are not among a monitor's
    const a = (await store.queryEvents({ deviceId: 'env-a', fromMs: DAY, toMs: DAY + 48 * H, limit: 100 })).filter((e) => e.type === DerivedEvent.AqiExceeded);
    expect(a.map((e) => e.attributes.scope)).toEqual([undefined]);
  });

  it('re-opens later as a new event; a restart in the middle keeps its since and adds no duplicate', async () => {
    await pass(first, settledAfter(DAY + 20 * H));
    expect(await spans()).toEqual([[iso(DAY + 10 * H), iso(DAY + 13 * H)], [iso(DAY + 20 * H), '']]);

    // a new process that computes only the newest hour: the episode's start is read back
    // from the site's stored hourly AQI
    const restarted = service(1);
    await pass(restarted, settledAfter(DAY + 21 * H));
    expect(await spans()).toEqual([[iso(DAY + 10 * H), iso(DAY + 13 * H)], [iso(DAY + 20 * H), '']]);
    await pass(restarted, settledAfter(DAY + 22 * H));
    expect(await spans()).toEqual([[iso(DAY + 10 * H), iso(DAY + 13 * H)], [iso(DAY + 20 * H), iso(DAY + 22 * H)]]);
    // and once more from scratch over the same hours: still the same two
    await pass(service(), settledAfter(DAY + 22 * H));
    expect(await spans()).toEqual([[iso(DAY + 10 * H), iso(DAY + 13 * H)], [iso(DAY + 20 * H), iso(DAY + 22 * H)]]);
  });

  it('a day over the zone limit is a site noise event from the day start to the night start', async () => {
    const noise = await siteEvents(DerivedEvent.NoiseExceeded);
    expect(noise.map((e) => [e.attributes.period, e.attributes.since, e.attributes.until, e.attributes.zone, e.attributes.limit_dba]))
      .toEqual([['day', iso(DAY + 6 * H), iso(DAY + 22 * H), '1', '55']]);
  });

  it('operators read them, counted, through GET /v1/air-quality/site-events; /v1/events cannot reach them', async () => {
    const app = buildHttpApi({
      token: TOKEN, store, latest: new LatestCache(), metrics: () => createMetrics(), outboxDepth: () => 0, logger: pino({ level: 'silent' }),
    });
    registerAirRoutes(app, store, () => DAY + 23 * H, 100);
    const auth = { authorization: `Bearer ${TOKEN}` };
    try {
      const r = await app.inject({ url: '/v1/air-quality/site-events?site=site-1', headers: auth });
      expect(r.statusCode, r.body).toBe(200);
      const body = r.json() as { counts: Record<string, number>; events: { type: string; since: string; until: string | null }[] };
      expect(body.counts).toEqual({ total: 3, open: 0, aqi: 2, noise: 1 });
      expect(body.events.map((e) => [e.type, e.since, e.until])).toEqual([
        ['air.noise_exceeded', iso(DAY + 6 * H), iso(DAY + 22 * H)],
        ['air.aqi_exceeded', iso(DAY + 10 * H), iso(DAY + 13 * H)],
        ['air.aqi_exceeded', iso(DAY + 20 * H), iso(DAY + 22 * H)],
      ]);
      // a range that starts inside an episode still shows it
      const late = await app.inject({ url: `/v1/air-quality/site-events?site=site-1&from=${DAY + 12 * H}&to=${DAY + 14 * H}`, headers: auth });
      expect((late.json() as { events: { since: string }[] }).events.map((e) => e.since)).toEqual([iso(DAY + 6 * H), iso(DAY + 10 * H)]);
      const open = await app.inject({ url: '/v1/air-quality/site-events?site=site-1&open=true', headers: auth });
      expect((open.json() as { events: unknown[] }).events).toEqual([]);
      expect((await app.inject({ url: '/v1/air-quality/site-events?site=../x', headers: auth })).statusCode).toBe(400);
      expect((await app.inject({ url: `/v1/air-quality/site-events?site=site-1&from=${DAY}&to=${DAY + 40 * 24 * H}`, headers: auth })).statusCode).toBe(400);
      expect((await app.inject({ url: '/v1/air-quality/site-events?site=site-1' })).statusCode).toBe(401);
      expect((await app.inject({ url: `/v1/events?deviceId=${encodeURIComponent('site:site-1')}`, headers: auth })).statusCode).toBe(400);
    } finally {
      await app.close();
    }
  });
});

describe('a site figure is of all its monitors, also when one of them is new', () => {
  let dir: string;
  let store: SqliteStore;
  let known = [{ deviceId: 'env-b', site: 'site-1' }];
  const queued: StoreRecord[][] = [];
  const s = () => new AirService({
    store, config: airConfig({ YULAN_AQI_ALERT_LEVEL: '100' }), monitors: () => known, emit: (r) => queued.push(r),
    logger: pino({ level: 'silent' }), settleMs: SETTLE, backfillHours: 3,
  });
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yulan-site-new-'));
    store = new SqliteStore(join(dir, 'telemetry.db'));
    await store.init();
    await store.write(aggregates());
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a monitor first seen later backfills its hours into the site mean instead of replacing it', async () => {
    const service = s();
    await service.run(settledAfter(DAY + 10 * H));
    for (const b of queued.splice(0)) await store.write(b);
    known = [{ deviceId: 'env-a', site: 'site-1' }, { deviceId: 'env-b', site: 'site-1' }];
    await service.run(settledAfter(DAY + 11 * H)); // env-a: hours 9–11; env-b: hour 11 only
    for (const b of queued.splice(0)) await store.write(b);
    const site = await store.queryAirIndex({ scope: 'site', id: 'site-1', measure: 'aqi', period: 'hour', fromMs: DAY + 9 * H, toMs: DAY + 12 * H, limit: 10 });
    // (150 + 20) / 2 = 85 µg/m³ at 10:00 and 11:00 (env-a alone would be 150, AQI 200)
    expect(site.map((p) => [p.ts, p.values['c.pm25_1h'], p.value])).toEqual([[DAY + 9 * H, 20, 29], [DAY + 10 * H, 85, 113], [DAY + 11 * H, 85, 113]]);
    const ev = await store.queryEvents({ deviceId: 'site:site-1', fromMs: DAY, toMs: DAY + 24 * H, limit: 10 });
    expect(ev.map((e) => [e.attributes.since, e.attributes.peak_aqi])).toEqual([[iso(DAY + 10 * H), '113']]);
  });

  it("and its Ld into the site's energy mean", async () => {
    known = [{ deviceId: 'env-b', site: 'site-1' }];
    const service = s();
    await service.run(settledAfter(DAY + 22 * H)); // env-b's Ld (ends 22:00, in hour 21)
    known = [{ deviceId: 'env-a', site: 'site-1' }, { deviceId: 'env-b', site: 'site-1' }];
    await service.run(settledAfter(DAY + 23 * H)); // env-a backfills hour 21: its Ld now
    for (const b of queued.splice(0)) await store.write(b);
    const ld = await store.queryAirIndex({ scope: 'site', id: 'site-1', measure: 'noise', period: 'day', fromMs: DAY, toMs: DAY + 24 * H, limit: 10 });
    expect(ld.map((p) => p.ts)).toEqual([DAY + 6 * H]);
    expect(ld[0]?.value).toBeCloseTo(energyMean([58, 50]) as number, 2);
  });
});
