import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { H, NOT_PUBLIC, openFixture, type OpenFixture } from './open-data-support.js';

type Obs = { '@iot.id': string; '@iot.selfLink': string; phenomenonTime: string; result: unknown; parameters: Record<string, unknown> };

// A real edge (SQLite store + query API) holding xuhui's site indices, and a real registry
// where home-site has only a fall sensor.
describe('SensorThings: a site is a Thing with its AQI, IAQIs, category, primary pollutant and Ld/Ln as Datastreams', () => {
  let fx: OpenFixture;
  let app: FastifyInstance;
  const now = Date.now();
  const lastHour = Math.floor(now / H) * H;
  const get = async (url: string, target = app) => {
    const r = await target.inject({ url });
    return { status: r.statusCode, body: r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {}, raw: r.body, headers: r.headers };
  };
  const strip = (u: string): string => u.replace(/^https?:\/\/[^/]+/, '');

  beforeAll(async () => {
    fx = await openFixture(now);
    // the newest hour with its IAQIs (the fixture's has none); an upsert of the same period
    await fx.store.write([{
      type: 'air-index', deviceId: '', site: 'xuhui', kind: 'env-monitor', scope: 'site', measure: 'aqi', period: 'hour',
      tsMs: lastHour - H, endMs: lastHour, value: 120, values: { 'iaqi.pm25': 120, 'iaqi.pm10': 64, 'c.pm25_1h': 91 },
      labels: { level: '三级', category: '轻度污染', category_en: 'Lightly polluted', colour: '#FF7E00', primary: 'pm25' },
    }, {
      type: 'air-index', deviceId: '', site: 'xuhui', kind: 'env-monitor', scope: 'site', measure: 'aqi', period: 'hour',
      tsMs: lastHour - 30 * H, endMs: lastHour - 29 * H, value: null, values: {}, labels: { level: '', category: '', category_en: '', colour: '', primary: '' },
    }]);
    app = await fx.app();
  });
  afterAll(async () => fx?.close());

  it("the site Thing sits at the site's Location, next to its monitors, with 22 Datastreams that have units", async () => {
    const t = await get("/sta/v1.1/Things('site:xuhui')?$expand=Locations,Datastreams($top=100)");
    expect(t.status, t.raw).toBe(200);
    expect(t.body).toMatchObject({ '@iot.id': 'site:xuhui', properties: { site: 'xuhui', kind: 'site', nameZh: '徐汇区' } });
    expect(t.body.Locations).toMatchObject([{ '@iot.id': 'xuhui', location: { type: 'Point', coordinates: [121.4365, 31.1885] } }]);
    const ds = t.body.Datastreams as { '@iot.id': string; unitOfMeasurement: Record<string, unknown>; observationType: string }[];
    expect(ds).toHaveLength(22);
    expect(ds.find((d) => d['@iot.id'] === 'site:xuhui:aqi_hour')?.unitOfMeasurement).toMatchObject({ symbol: 'AQI' });
    expect(ds.find((d) => d['@iot.id'] === 'site:xuhui:noise_ld')?.unitOfMeasurement).toMatchObject({ symbol: 'dB(A)' });
    expect(ds.find((d) => d['@iot.id'] === 'site:xuhui:category_day')).toMatchObject({
      unitOfMeasurement: { name: null, symbol: null, definition: null }, observationType: expect.stringMatching(/OM_CategoryObservation$/),
    });
    const here = await get("/sta/v1.1/Locations('xuhui')/Things?$select=@iot.id");
    expect((here.body.value as { '@iot.id': string }[]).map((x) => x['@iot.id'])).toEqual(['env-1', 'env-3', 'site:xuhui']);
    const hl = await get("/sta/v1.1/Things('site:xuhui')/HistoricalLocations?$expand=Thing($select=@iot.id)");
    const [h] = hl.body.value as { '@iot.selfLink': string; Thing: unknown }[];
    expect(h?.Thing).toEqual({ '@iot.id': 'site:xuhui' });
    expect((await get(strip(h!['@iot.selfLink']))).status).toBe(200);
    expect((await get("/sta/v1.1/Datastreams('site:xuhui:aqi_hour')/Sensor")).body).toMatchObject({ '@iot.id': 'yulan-site-index' });
    expect((await get("/sta/v1.1/Sensors('yulan-site-index')/Datastreams?$count=true&$top=1")).body['@iot.count']).toBe(22); // env-2's pudong is not a registered site: no site Thing
  });

  it('the query of the issue: a site’s datastreams by $filter, each with its last 24 hours expanded', async () => {
    const u = "/sta/v1.1/Datastreams?$filter=properties/site eq 'xuhui' and properties/scope eq 'site' and properties/period eq 'hour'"
      + '&$expand=Observations($top=24;$orderby=phenomenonTime desc)';
    const r = await get(u);
    expect(r.status, r.raw).toBe(200);
    const byId = new Map((r.body.value as { '@iot.id': string; Observations: Obs[] }[]).map((d) => [d['@iot.id'], d.Observations]));
    expect([...byId.keys()].sort()).toEqual([
      'site:xuhui:aqi_hour', 'site:xuhui:category_hour', 'site:xuhui:iaqi_co_hour', 'site:xuhui:iaqi_no2_hour', 'site:xuhui:iaqi_o3_1h_hour',
      'site:xuhui:iaqi_o3_8h_hour', 'site:xuhui:iaqi_pm10_hour', 'site:xuhui:iaqi_pm25_hour', 'site:xuhui:iaqi_so2_hour', 'site:xuhui:primary_hour',
    ]);
    const aqi = byId.get('site:xuhui:aqi_hour') ?? [];
    expect(aqi).toHaveLength(24);
    expect(aqi[0]).toMatchObject({
      phenomenonTime: `${new Date(lastHour - H).toISOString()}/${new Date(lastHour).toISOString()}`, result: 120,
      parameters: { valid: true, category: '轻度污染', categoryEn: 'Lightly polluted', colour: '#FF7E00', primaryPollutants: ['pm25'] },
    });
    expect(aqi.map((o) => o.result)).toEqual([120, ...Array.from({ length: 23 }, (_, i) => 62 + i)]);
    expect(byId.get('site:xuhui:iaqi_pm25_hour')?.[0]?.result).toBe(120);
    expect(byId.get('site:xuhui:iaqi_so2_hour')?.[0]?.result).toBeNull(); // no valid SO2 mean that hour
    expect(byId.get('site:xuhui:category_hour')?.map((o) => o.result).slice(0, 2)).toEqual(['轻度污染', '良']);
    expect(byId.get('site:xuhui:primary_hour')?.[0]?.result).toBe('pm25');
    for (const s of NOT_PUBLIC) expect(r.raw).not.toContain(s);
  });

  it('$filter on results and time, $count, paging, and an invalid hour as a null result', async () => {
    const base = "/sta/v1.1/Datastreams('site:xuhui:aqi_hour')/Observations";
    const high = await get(`${base}?$filter=result gt 100&$count=true`);
    expect(high.status, high.raw).toBe(200);
    expect(high.body['@iot.count']).toBe(1);
    const from = new Date(lastHour - 31 * H).toISOString();
    const old = await get(`${base}?$filter=phenomenonTime ge ${from} and phenomenonTime lt ${new Date(lastHour - 29 * H).toISOString()}`);
    expect((old.body.value as Obs[]).map((o) => [o.result, o.parameters.valid])).toEqual([[null, false]]);
    const page = await get(`${base}?$top=10&$orderby=result desc`);
    expect((page.body.value as Obs[])).toHaveLength(10);
    const next = await get(strip(String(page.body['@iot.nextLink'])));
    expect((next.body.value as Obs[])).toHaveLength(10);
    // the set pinned to a site Datastream, and one Observation by its selfLink
    const days = await get("/sta/v1.1/Observations?$filter=Datastream/@iot.id eq 'site:xuhui:aqi_day' and result ge 72&$orderby=result");
    expect((days.body.value as Obs[]).map((o) => o.result)).toEqual([72, 73]);
    const one = (high.body.value as Obs[])[0]!;
    const again = await get(`${strip(one['@iot.selfLink'])}?$expand=Datastream($select=name),FeatureOfInterest`);
    expect(again.status, again.raw).toBe(200);
    expect(again.body).toMatchObject({ result: 120, Datastream: { name: 'AQI (hourly, HJ 633-2012) at Xuhui' }, FeatureOfInterest: { '@iot.id': 'xuhui' } });
    const ld = await get("/sta/v1.1/Datastreams('site:xuhui:noise_ld')/Observations");
    expect((ld.body.value as Obs[]).map((o) => [o.result, o.parameters])).toEqual([[63.2, { valid: true, zone: '2', limitDba: 60, exceeded: true, minutes: 900 }]]);
  });

  it('no site Thing for a site without an env monitor, and the edge is never asked about it', async () => {
    const before = fx.edgeRequests.length;
    for (const u of [
      "/sta/v1.1/Things('site:home-site')", "/sta/v1.1/Things('site:home-site')/Datastreams", "/sta/v1.1/Datastreams('site:home-site:aqi_hour')",
      "/sta/v1.1/Datastreams('site:home-site:aqi_hour')/Observations", "/sta/v1.1/Observations('site:home-site:aqi_hour:0')",
      "/sta/v1.1/Datastreams('site:xuhui:heart_rate')", "/sta/v1.1/Things('site:nobody-9')",
    ]) {
      const r = await get(u);
      expect(r.status, u).toBe(404);
      expect(r.raw).not.toContain('Grandma');
    }
    const pinned = await get("/sta/v1.1/Observations?$filter=Datastream/@iot.id eq 'site:home-site:aqi_hour'");
    expect(pinned.body.value).toEqual([]);
    for (const u of ['/sta/v1.1/Things', '/sta/v1.1/Datastreams?$top=1000', '/sta/v1.1/HistoricalLocations', '/sta/v1.1/Things?$expand=Datastreams($top=1;$expand=Observations($top=1))']) {
      const r = await get(u);
      expect(r.status, u).toBe(200);
      for (const s of NOT_PUBLIC) expect(r.raw, `${u} leaks ${s}`).not.toContain(s);
    }
    expect(fx.edgeRequests.slice(before).filter((u) => u.includes('home-site'))).toEqual([]);
  });

  it('site queries spend the same per-address public budget, not the authenticated one', async () => {
    const small = await fx.app({ rateLimitMax: 2 });
    const u = "/sta/v1.1/Datastreams('site:xuhui:aqi_day')/Observations";
    expect((await get(u, small)).status).toBe(200);
    expect((await get(u, small)).status).toBe(200);
    const third = await get(u, small);
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBeDefined();
  });
});
