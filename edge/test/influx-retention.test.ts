import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxStore, type StoreRecord } from '../src/index.js';
import { launchInfluxd, shouldSkipInflux, type Influxd } from '@yulan/testkit';
import { storeContract } from './support/store-contract.js';

const skip = shouldSkipInflux();

// The whole store contract again with every kind of data in its own policy (INF, since the
// contract writes 2024 timestamps): reads, upserts and deletes must find each measurement.
storeContract('influxdb 1.x with retention policies (real influxd)', async () => {
  const influxd = await launchInfluxd();
  const store = new InfluxStore({ url: influxd.url, api: 'v1', db: 'contract_rp', retention: { rawDays: 0, aggregatesDays: 0, eventsDays: 0 } }, pino({ level: 'silent' }));
  return { store, cleanup: () => influxd.dispose() };
}, skip);

type Shown = { results: { series?: { columns: string[]; values: unknown[][] }[] }[] };

describe.skipIf(skip)('InfluxDB retention policies created by the edge (real influxd)', () => {
  let influxd: Influxd;
  const log = pino({ level: 'silent' });
  beforeAll(async () => { influxd = await launchInfluxd(); });
  afterAll(async () => { await influxd?.dispose(); });

  const policies = async (db: string): Promise<Record<string, { duration: string; default: boolean }>> => {
    const r = (await influxd.query(`SHOW RETENTION POLICIES ON "${db}"`)) as Shown;
    const s = r.results[0]!.series![0]!;
    const at = (c: string): number => s.columns.indexOf(c);
    return Object.fromEntries(s.values.map((v) => [String(v[at('name')]), { duration: String(v[at('duration')]), default: v[at('default')] === true }]));
  };
  const count = async (db: string, from: string): Promise<number> => {
    const r = (await influxd.query(`SELECT count(*) FROM ${from}`, db)) as Shown;
    const row = r.results[0]?.series?.[0]?.values[0];
    return row ? Math.max(...row.slice(1).map(Number)) : 0;
  };

  it('one policy per kind with the configured days, raw the default; each kind written to its own', async () => {
    const store = new InfluxStore({ url: influxd.url, api: 'v1', db: 'city', retention: { rawDays: 30, aggregatesDays: 730, eventsDays: 0 } }, log);
    await store.init();
    expect(await policies('city')).toMatchObject({
      yulan_raw: { duration: '720h0m0s', default: true },
      yulan_agg: { duration: '17520h0m0s', default: false },
      yulan_events: { duration: '0s', default: false },
    });
    const now = Date.now() - 60_000;
    const ref = { deviceId: 'env-1', site: 's1', kind: 'env-monitor' as const };
    const recs: StoreRecord[] = [
      { type: 'reading', ...ref, seq: 1, tsMs: now, fields: { pm25_ugm3: 12 }, text: {} },
      { type: 'aggregate', ...ref, windowStartMs: now - (now % 60_000), fields: { pm25_ugm3: { count: 1, min: 12, max: 12, mean: 12, last: 12 } } },
      { type: 'event', ...ref, seq: 2, tsMs: now, eventType: 'air.test', severity: 'INFO', message: 'm', attributes: {} },
    ];
    await store.write(recs);
    expect(await count('city', '"yulan_raw"."reading"')).toBe(1);
    expect(await count('city', '"yulan_agg"."agg_1m"')).toBe(1);
    expect(await count('city', '"yulan_events"."event"')).toBe(1);
    expect(await count('city', '"autogen"."reading"')).toBe(0);
    // Read back through the store, which names the policies.
    const range = { deviceId: 'env-1', fromMs: now - 120_000, toMs: now + 60_000, limit: 10 };
    expect((await store.queryRaw(range)).map((p) => p.seq)).toEqual([1]);
    expect(await store.queryAggregates(range)).toHaveLength(1);
    expect((await store.queryEvents(range)).map((e) => e.type)).toEqual(['air.test']);

    // A reading older than its policy is expired, not a failed batch: the rest is stored.
    const old = Date.now() - 40 * 86_400_000;
    await store.write([
      { type: 'reading', ...ref, seq: 3, tsMs: old, fields: { pm25_ugm3: 1 }, text: {} },
      { type: 'reading', ...ref, seq: 4, tsMs: now + 1, fields: { pm25_ugm3: 2 }, text: {} },
    ]);
    expect((await store.queryRaw(range)).map((p) => p.seq)).toEqual([1, 4]);
    await store.close();
  });

  it('a changed setting alters the existing policies at the next start; 0 keeps forever', async () => {
    const first = new InfluxStore({ url: influxd.url, api: 'v1', db: 'town', retention: { rawDays: 30, aggregatesDays: 730, eventsDays: 1825 } }, log);
    await first.init();
    expect((await policies('town')).yulan_raw!.duration).toBe('720h0m0s');
    const again = new InfluxStore({ url: influxd.url, api: 'v1', db: 'town', retention: { rawDays: 7, aggregatesDays: 0, eventsDays: 1825 } }, log);
    await again.init();
    expect(await policies('town')).toMatchObject({
      yulan_raw: { duration: '168h0m0s', default: true },
      yulan_agg: { duration: '0s' },
      yulan_events: { duration: '43800h0m0s' },
    });
  });
});
