import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchInfluxd, shouldSkipInflux, type Influxd } from '@yulan/testkit';
import { airConfig } from '../src/air/air-config.js';
import { AirService } from '../src/air/air-service.js';
import { DerivedEvent } from '../src/domain/air-index.js';
import { InfluxStore, type StoreRecord } from '../src/index.js';

const H = 3_600_000;
const M = 60_000;
const DAY = Date.UTC(2024, 4, 31, 16, 0, 0); // local 2024-06-01 00:00 +08:00
const iso = (ms: number): string => new Date(ms).toISOString();

// The same site episode as in site-exceedances.test.ts, through a real influxd: the
// `site:<id>` key is a tag like any device id, and re-deriving overwrites the one point.
describe.skipIf(shouldSkipInflux())('site exceedance events in InfluxDB (real influxd)', () => {
  let influxd: Influxd;
  let store: InfluxStore;
  const log = pino({ level: 'silent' });
  const queued: StoreRecord[][] = [];
  const service = (backfillHours: number) => new AirService({
    store, config: airConfig({ YULAN_AQI_ALERT_LEVEL: '100' }), logger: log, settleMs: 11 * M, backfillHours, emit: (r) => queued.push(r),
    monitors: () => [{ deviceId: 'env-a', site: 'site-1' }, { deviceId: 'env-b', site: 'site-1' }],
  });
  const pass = async (s: AirService, lastHour: number): Promise<void> => {
    await s.run(lastHour + H + 11 * M);
    for (const b of queued.splice(0)) await store.write(b);
  };
  const spans = async () => (await store.queryEvents({ deviceId: 'site:site-1', fromMs: DAY, toMs: DAY + 24 * H, limit: 100 }))
    .filter((e) => e.type === DerivedEvent.AqiExceeded).map((e) => [e.attributes.since, e.attributes.until]);

  beforeAll(async () => {
    influxd = await launchInfluxd();
    store = new InfluxStore({ url: influxd.url, api: 'v1', db: 'site_events' }, log);
    await store.init();
    const recs: StoreRecord[] = [];
    const f = (v: number) => ({ count: 6, min: v, max: v, mean: v, last: v });
    for (let t = DAY; t < DAY + 8 * H; t += M) {
      const high = t >= DAY + 2 * H && t < DAY + 5 * H;
      recs.push({ type: 'aggregate', deviceId: 'env-a', site: 'site-1', kind: 'env-monitor', windowStartMs: t, fields: { pm25_ugm3: f(high ? 150 : 20) } });
      recs.push({ type: 'aggregate', deviceId: 'env-b', site: 'site-1', kind: 'env-monitor', windowStartMs: t, fields: { pm25_ugm3: f(20) } });
    }
    await store.write(recs);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await influxd?.dispose();
  });

  it('opens, stays one, closes with until; a restart reading its history from InfluxDB adds none', async () => {
    const s = service(4);
    await pass(s, DAY + 3 * H);
    expect(await spans()).toEqual([[iso(DAY + 2 * H), '']]);
    // restarted: only the newest hour computed, the start read back from the stored site AQI
    await pass(service(1), DAY + 4 * H);
    expect(await spans()).toEqual([[iso(DAY + 2 * H), '']]);
    await pass(service(1), DAY + 5 * H);
    expect(await spans()).toEqual([[iso(DAY + 2 * H), iso(DAY + 5 * H)]]);
  });
});
