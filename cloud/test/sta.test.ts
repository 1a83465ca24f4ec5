import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpApi, createMetrics, LatestCache, registerAirRoutes, SqliteStore, type StoreRecord } from '../../edge/src/index.js';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { silentLogger } from './helpers.js';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const EDGE_TOKEN = 'edge-token-0123456789';
const auth = { authorization: `Bearer ${ADMIN}` };
const NOT_PUBLIC = ['fall-1', 'locker-1', 'ev-1', 'home-site', 'Grandma', 'resident'];

// A real edge query API over a real SQLite store holding env-1's readings.
describe('OGC SensorThings API 1.1 (public, read-only, env monitors only)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'yulan-sta-'));
  const store = new SqliteStore(join(dir, 'telemetry.db'));
  let edgeApi: ReturnType<typeof buildHttpApi>;
  const edgeRequests: string[] = [];
  let repo: SqliteDeviceRepository;
  let app: FastifyInstance;
  const t0 = Date.now() - 3_600_000;

  const make = (sta: { rateLimitMax: number; edgeCallsMax?: number }, globalMax = 1200) => buildApp({
    logger: silentLogger, devices: repo, control: { connected: () => true, publishRevoke: async () => {} },
    edge: createHttpEdgeClient({ baseUrl: `http://127.0.0.1:${(edgeApi.server.address() as AddressInfo).port}`, token: EDGE_TOKEN }),
    adminTokenDigest: digestToken(ADMIN), brokerToken: 'broker-token-for-tests', dashboardDir: null,
    rateLimit: { max: globalMax }, sta,
  });
  const get = async (url: string, target = app, headers: Record<string, string> = {}) => {
    const r = await target.inject({ url, headers });
    return { status: r.statusCode, body: r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {}, headers: r.headers, raw: r.body };
  };

  beforeAll(async () => {
    await store.init();
    const recs: StoreRecord[] = [1, 2, 3].map((seq) => ({
      type: 'reading', deviceId: 'env-1', site: 'xuhui', kind: 'env-monitor', seq, tsMs: t0 + seq * 1000,
      fields: { pm25_ugm3: 30 + seq, noise_dba: 50 + seq }, text: {},
    }));
    const H = 3_600_000;
    const hour = Math.floor(t0 / H) * H;
    recs.push(
      { type: 'air-index', deviceId: 'env-1', site: 'xuhui', kind: 'env-monitor', scope: 'device', measure: 'aqi', period: 'hour', tsMs: hour - H, endMs: hour,
        value: 75, values: { 'iaqi.pm25': 75 }, labels: { level: '二级', category: '良', category_en: 'Good', colour: '#FFFF00', primary: 'pm25' } },
      { type: 'air-index', deviceId: 'env-1', site: 'xuhui', kind: 'env-monitor', scope: 'device', measure: 'aqi', period: 'hour', tsMs: hour, endMs: hour + H,
        value: null, values: {}, labels: { level: '', category: '', category_en: '', colour: '', primary: '' } },
    );
    recs.push({ type: 'reading', deviceId: 'fall-1', site: 'home-site', kind: 'fall-sensor', seq: 1, tsMs: t0, fields: { heart_rate_bpm: 70 }, text: {} });
    await store.write(recs);
    edgeApi = buildHttpApi({ token: EDGE_TOKEN, store, latest: new LatestCache(), metrics: () => createMetrics(), outboxDepth: () => 0, logger: silentLogger as never });
    edgeApi.addHook('onRequest', async (req) => void edgeRequests.push(req.url));
    registerAirRoutes(edgeApi, store);
    await edgeApi.listen({ host: '127.0.0.1', port: 0 });

    repo = new SqliteDeviceRepository({ file: ':memory:' });
    await repo.createSite({ id: 'xuhui', nameZh: '徐汇区', nameEn: 'Xuhui', lat: 31.1885, lon: 121.4365 });
    await repo.createSite({ id: 'pudong', nameZh: '浦东新区', nameEn: 'Pudong', lat: 31.2215, lon: 121.5446 });
    await repo.createSite({ id: 'home-site', nameZh: '家', nameEn: 'Home', lat: 31.2, lon: 121.4 });
    for (const [id, site, kind, name] of [
      ['env-1', 'xuhui', 'env-monitor', 'Xuhui station'], ['env-2', 'pudong', 'env-monitor', null],
      ['fall-1', 'home-site', 'fall-sensor', 'Grandma bathroom'], ['locker-1', 'xuhui', 'parcel-locker', null], ['ev-1', 'xuhui', 'ev-charger', null],
    ] as const) await repo.create({ id, site, kind, name, secretHash: 'h' });
    app = await make({ rateLimitMax: 10_000 });
  });
  afterAll(async () => {
    await app?.close();
    await edgeApi?.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the entity sets from its root', async () => {
    const r = await get('/sta/v1.1');
    expect(r.status).toBe(200);
    expect((r.body.value as { name: string }[]).map((v) => v.name)).toEqual(['Things', 'Locations', 'HistoricalLocations', 'Datastreams', 'Sensors', 'ObservedProperties', 'Observations', 'FeaturesOfInterest']);
  });

  it('exposes env monitors only: no fall sensor, locker, charger, their sites or names, anywhere — and never asks the edge about them', async () => {
    const urls = [
      '/sta/v1.1/Things', '/sta/v1.1/Locations', '/sta/v1.1/Datastreams?$top=1000', '/sta/v1.1/Sensors', '/sta/v1.1/ObservedProperties',
      '/sta/v1.1/FeaturesOfInterest', '/sta/v1.1/HistoricalLocations?$expand=Thing,Locations',
      "/sta/v1.1/Things('env-1')/Datastreams", "/sta/v1.1/Things('env-1')/Locations", "/sta/v1.1/Locations('xuhui')/Things",
      "/sta/v1.1/Datastreams('env-1:pm25_ugm3')/Observations",
      // nested $expand from every side, and filters that go looking for other kinds
      '/sta/v1.1/Sensors?$expand=Datastreams($top=1000;$expand=Thing($expand=Locations))',
      '/sta/v1.1/ObservedProperties?$expand=Datastreams($expand=Thing/Locations)',
      '/sta/v1.1/Locations?$expand=Things($expand=Datastreams($top=1))',
      "/sta/v1.1/Things?$filter=properties/kind ne 'env-monitor' or properties/site eq 'home-site'",
      "/sta/v1.1/Things?$filter=startswith(id,'fall') or substringof('Grandma',name)",
    ];
    for (const u of urls) {
      const r = await get(u);
      expect(r.status, u).toBe(200);
      for (const secret of NOT_PUBLIC) expect(r.raw, `${u} leaks ${secret}`).not.toContain(secret);
    }
    expect(((await get('/sta/v1.1/Things')).body.value as { '@iot.id': string }[]).map((t) => t['@iot.id'])).toEqual(['env-2', 'env-1', 'site:pudong', 'site:xuhui']); // registry order: site, then id; then the site Things
    for (const u of [
      "/sta/v1.1/Things('fall-1')", "/sta/v1.1/Things('locker-1')/Datastreams", "/sta/v1.1/Things('ev-1')/Locations",
      "/sta/v1.1/Datastreams('fall-1:pm25_ugm3')", "/sta/v1.1/Datastreams('fall-1:heart_rate_bpm')/Observations",
      "/sta/v1.1/Datastreams('fall-1:pm25_ugm3')/Observations", "/sta/v1.1/Locations('home-site')", "/sta/v1.1/Locations('home-site')/Things",
      "/sta/v1.1/Observations('fall-1:heart_rate_bpm:1')", "/sta/v1.1/Observations('fall-1:pm25_ugm3:1:1')/Datastream",
      "/sta/v1.1/FeaturesOfInterest('home-site')", "/sta/v1.1/Things('fall-1')/HistoricalLocations",
    ]) {
      const r = await get(u);
      expect(r.status, u).toBe(404);
      expect(r.raw).not.toContain('Grandma');
      // the same answer as for an id that does not exist: no oracle of what is registered
      const none = await get(u.replace(/fall-1|locker-1|ev-1|home-site/, 'nobody-9'));
      expect(none.status).toBe(404);
      expect(none.raw.replace('nobody-9', 'X')).toBe(r.raw.replace(/fall-1|locker-1|ev-1|home-site/, 'X'));
    }
    expect(edgeRequests.some((u) => u.includes('fall-1') || u.includes('locker-1') || u.includes('ev-1'))).toBe(false);
  });

  it('Locations are GeoJSON points [lon, lat] with the zh/en names; Datastreams carry units of measurement', async () => {
    const loc = await get("/sta/v1.1/Locations('xuhui')");
    expect(loc.body).toMatchObject({ encodingType: 'application/geo+json', location: { type: 'Point', coordinates: [121.4365, 31.1885] }, properties: { nameZh: '徐汇区', nameEn: 'Xuhui' } });
    const ds = await get("/sta/v1.1/Datastreams('env-1:co_mgm3')");
    expect(ds.body).toMatchObject({ '@iot.id': 'env-1:co_mgm3', unitOfMeasurement: { symbol: 'mg/m³' } });
    expect((await get("/sta/v1.1/Datastreams('env-1:noise_dba')/ObservedProperty")).body).toMatchObject({ name: 'Noise LAeq' });
    expect((await get("/sta/v1.1/Datastreams('env-1:noise_dba')/Thing")).body).toMatchObject({ '@iot.id': 'env-1' });
  });

  it('pages with $top/$skip, $count and @iot.nextLink until every datastream was seen once; $select trims', async () => {
    const first = await get('/sta/v1.1/Datastreams?$top=7&$count=true');
    expect(first.body['@iot.count']).toBe(68); // 2 monitors × (10 quantities + hourly and daily AQI) + 2 sites × 22 site figures
    const seen: string[] = [];
    let next: string | undefined = '/sta/v1.1/Datastreams?$top=7';
    while (next) {
      const r = await get(next.replace(/^https?:\/\/[^/]+/, ''));
      seen.push(...(r.body.value as { '@iot.id': string }[]).map((v) => v['@iot.id']));
      next = r.body['@iot.nextLink'] as string | undefined;
    }
    expect(seen).toHaveLength(68);
    expect(new Set(seen).size).toBe(68);
    const sel = await get("/sta/v1.1/Things?$select=@iot.id,name&$top=2");
    expect(sel.body.value).toEqual([{ '@iot.id': 'env-2', name: 'env-2' }, { '@iot.id': 'env-1', name: 'Xuhui station' }]);
  });

  it('Observations come from the edge store', async () => {
    const r = await get("/sta/v1.1/Datastreams('env-1:pm25_ugm3')/Observations?$top=2");
    expect((r.body.value as { result: number }[]).map((o) => o.result)).toEqual([31, 32]);
    expect(decodeURIComponent(String(r.body['@iot.nextLink']))).toContain('$skip=2');
    const rest = await get("/sta/v1.1/Datastreams('env-1:pm25_ugm3')/Observations?$top=2&$skip=2");
    expect((rest.body.value as { result: number; phenomenonTime: string }[]).map((o) => [o.result, o.phenomenonTime])).toEqual([[33, new Date(t0 + 3000).toISOString()]]);
    expect(rest.body['@iot.nextLink']).toBeUndefined();
  });

  it('hourly and daily AQI are datastreams; an invalid hour is a null result, not a guess', async () => {
    const ds = await get("/sta/v1.1/Datastreams('env-1:aqi_hour')");
    expect(ds.body).toMatchObject({ unitOfMeasurement: { symbol: 'AQI' }, name: 'AQI (hourly, HJ 633-2012) at env-1' });
    const r = await get("/sta/v1.1/Datastreams('env-1:aqi_hour')/Observations");
    expect(r.status).toBe(200);
    const obs = r.body.value as { result: number | null; phenomenonTime: string; parameters: Record<string, unknown> }[];
    expect(obs.map((o) => o.result)).toEqual([75, null]);
    expect(obs[0]?.parameters).toMatchObject({ valid: true, category: '良', categoryEn: 'Good', colour: '#FFFF00', primaryPollutants: ['pm25'] });
    expect(obs[0]?.phenomenonTime).toMatch(/^\d{4}-.*Z\/\d{4}-.*Z$/);
    expect(obs[1]?.parameters).toMatchObject({ valid: false });
    expect(((await get("/sta/v1.1/Datastreams('env-1:aqi_hour')/Observations?$filter=result ge 50")).body.value as unknown[])).toHaveLength(1);
    expect(((await get("/sta/v1.1/Datastreams('env-2:aqi_day')/Observations")).body.value as unknown[])).toEqual([]);
  });

  it('$filter with comparison, logical, string and time operators; $orderby', async () => {
    const ids = async (u: string) => ((await get(u)).body.value as { '@iot.id': string }[]).map((v) => v['@iot.id']);
    expect(await ids("/sta/v1.1/Datastreams?$filter=unitOfMeasurement/symbol eq 'mg/m³'")).toEqual(['env-2:co_mgm3', 'env-1:co_mgm3']);
    expect(await ids("/sta/v1.1/Things?$filter=properties/site eq 'xuhui' and startswith(name,'Xuhui')")).toEqual(['env-1', 'site:xuhui']);
    expect(await ids("/sta/v1.1/Things?$filter=not (properties/site eq 'xuhui') or name eq 'nobody'")).toEqual(['env-2', 'site:pudong']);
    expect(await ids("/sta/v1.1/Things?$filter=substringof('station', tolower(name))")).toEqual(['env-1']);
    expect(await ids('/sta/v1.1/Things?$orderby=@iot.id asc')).toEqual(['env-1', 'env-2', 'site:pudong', 'site:xuhui']);
    expect(await ids("/sta/v1.1/Things?$filter=id eq 'env-2'")).toEqual(['env-2']);
    // and binds tighter than or
    expect(await ids("/sta/v1.1/Things?$filter=id eq 'env-2' or id eq 'env-1' and name eq 'nobody'")).toEqual(['env-2']);
    expect(await ids('/sta/v1.1/ObservedProperties?$orderby=name desc&$top=2')).toEqual(['so2_ugm3', 'humidity_pct']); // 'SO2' > 'Relative humidity' > 'PM2.5' …
    const obs = async (q: string) => ((await get(`/sta/v1.1/Datastreams('env-1:pm25_ugm3')/Observations?${q}`)).body.value as { result: number }[]).map((o) => o.result);
    expect(await obs(`$filter=phenomenonTime ge ${new Date(t0 + 2500).toISOString()}`)).toEqual([33]);
    expect(await obs(`$filter=result gt 31 and phenomenonTime lt ${new Date(t0 + 3000).toISOString()}`)).toEqual([32]);
    expect(await obs(`$filter=year(phenomenonTime) eq ${new Date(t0).getUTCFullYear()}&$orderby=phenomenonTime desc&$top=1`)).toEqual([33]);
    // arithmetic, math, more string and time functions (STA 1.1 Table 25)
    expect(await obs('$filter=result add 1 eq 33')).toEqual([32]);
    expect(await obs('$filter=result mul 2 sub 4 ge 60 and result mod 2 eq 1')).toEqual([33]);
    expect(await obs('$filter=round(result div 10) eq 3 and floor(result div 2) eq 16')).toEqual([32, 33]);
    expect(await obs(`$filter=date(phenomenonTime) eq '${new Date(t0 + 1000).toISOString().slice(0, 10)}' and fractionalseconds(phenomenonTime) ge 0 and phenomenonTime gt mindatetime() and phenomenonTime lt now()`)).toEqual([31, 32, 33]);
    expect(await ids("/sta/v1.1/Things?$filter=indexof(name,'station') eq 6 and substring(name,0,5) eq 'Xuhui' and concat(trim(' a '),'b') eq 'ab'")).toEqual(['env-1']);
    // a month back is fetched from the edge when the filter asks for it
    expect(await obs(`$filter=phenomenonTime gt ${new Date(t0 - 20 * 86_400_000).toISOString()}`)).toEqual([31, 32, 33]);
  });

  it('$expand inlines navigation properties with their own options, and pages them', async () => {
    const r = await get("/sta/v1.1/Datastreams?$filter=@iot.id eq 'env-1:pm25_ugm3'&$expand=Observations($top=2;$orderby=phenomenonTime desc),Thing");
    expect(r.status, r.raw).toBe(200);
    const [ds] = r.body.value as Record<string, unknown>[];
    expect((ds?.Observations as { result: number }[]).map((o) => o.result)).toEqual([33, 32]);
    expect(decodeURIComponent(String(ds?.['Observations@iot.nextLink']))).toContain("Datastreams('env-1:pm25_ugm3')/Observations?");
    expect(ds?.Thing).toMatchObject({ '@iot.id': 'env-1' });
    const things = await get("/sta/v1.1/Things?$filter=properties/kind eq 'env-monitor'&$expand=Datastreams($filter=unitOfMeasurement/symbol eq 'dB(A)';$select=name),Locations");
    expect(things.body.value).toHaveLength(2);
    for (const t of things.body.value as Record<string, unknown>[]) {
      expect(t.Datastreams).toHaveLength(1);
      expect(Object.keys((t.Datastreams as object[])[0] ?? {})).toEqual(['name']);
      expect(t.Locations).toHaveLength(1);
    }
    for (const secret of NOT_PUBLIC) expect(things.raw).not.toContain(secret);
  });

  it('nested $expand, with options at each level and as a path; counts and pages inside', async () => {
    const r = await get("/sta/v1.1/Things?$filter=id eq 'env-1'&$expand=Datastreams($filter=id eq 'env-1:pm25_ugm3' or id eq 'env-1:aqi_hour';$orderby=id;$count=true;$expand=ObservedProperty($select=name),Observations($top=1;$orderby=phenomenonTime desc;$count=true))");
    expect(r.status, r.raw).toBe(200);
    const [t] = r.body.value as Record<string, unknown>[];
    const ds = t?.Datastreams as Record<string, unknown>[];
    expect(t?.['Datastreams@iot.count']).toBe(2);
    expect(ds.map((d) => d['@iot.id'])).toEqual(['env-1:aqi_hour', 'env-1:pm25_ugm3']);
    expect(ds.map((d) => d.ObservedProperty)).toEqual([{ name: 'AQI (hourly, HJ 633-2012)' }, { name: 'PM2.5' }]);
    expect((ds[1]?.Observations as { result: number }[]).map((o) => o.result)).toEqual([33]);
    expect(ds[1]?.['Observations@iot.count']).toBe(3);
    expect(decodeURIComponent(String(ds[1]?.['Observations@iot.nextLink']))).toContain('$skip=1');
    // the path form means the same as the nested one
    const a = await get("/sta/v1.1/Things?$expand=Datastreams/ObservedProperty&$select=@iot.id");
    const b = await get("/sta/v1.1/Things?$expand=Datastreams($expand=ObservedProperty)&$select=@iot.id");
    expect(a.status, a.raw).toBe(200);
    expect(a.raw).toBe(b.raw);
    const first = (a.body.value as { Datastreams: { ObservedProperty: { '@iot.id': string } }[] }[])[0];
    expect(first?.Datastreams).toHaveLength(12);
    expect(first?.Datastreams[0]?.ObservedProperty['@iot.id']).toBe('pm25_ugm3');
    // the reverse way round: an ObservedProperty's Datastreams with their Things and sites
    const op = await get("/sta/v1.1/ObservedProperties('noise_dba')?$expand=Datastreams($expand=Thing($expand=Locations))");
    expect(op.status, op.raw).toBe(200);
    const things = (op.body.Datastreams as { Thing: { '@iot.id': string; Locations: { '@iot.id': string }[] } }[]).map((d) => [d.Thing['@iot.id'], d.Thing.Locations[0]?.['@iot.id']]);
    expect(things).toEqual([['env-2', 'pudong'], ['env-1', 'xuhui']]);
  });

  it('an Observation by its selfLink, with its Datastream; AQI periods filter by their start', async () => {
    const list = await get("/sta/v1.1/Datastreams('env-1:pm25_ugm3')/Observations?$top=1");
    const o = (list.body.value as { '@iot.id': string; '@iot.selfLink': string; result: number }[])[0]!;
    const one = await get(`${o['@iot.selfLink'].replace(/^https?:\/\/[^/]+/, '')}?$expand=Datastream($select=name)`);
    expect(one.status, one.raw).toBe(200);
    expect(one.body).toMatchObject({ '@iot.id': o['@iot.id'], result: 31, Datastream: { name: 'PM2.5 at env-1' } });
    expect((await get(`/sta/v1.1/Observations('${o['@iot.id'].replace(/:\d+$/, ':99')}')`)).status).toBe(404);
    expect((await get("/sta/v1.1/Observations('fall-1:pm25_ugm3:1:1')")).status).toBe(404);
    expect((await get('/sta/v1.1/Observations')).status).toBe(400);
    // the set, pinned to one Datastream by the filter (what many clients send)
    const pinned = await get(`/sta/v1.1/Observations?$filter=Datastream/@iot.id eq 'env-1:pm25_ugm3' and result ge 32&$orderby=phenomenonTime desc&$count=true`);
    expect(pinned.status, pinned.raw).toBe(200);
    expect((pinned.body.value as { result: number }[]).map((x) => x.result)).toEqual([33, 32]);
    expect(pinned.body['@iot.count']).toBe(2);
    expect(((await get("/sta/v1.1/Observations?$filter=Datastream/@iot.id eq 'fall-1:pm25_ugm3'")).body.value as unknown[])).toEqual([]);
    expect((await get("/sta/v1.1/Observations?$filter=Datastream/@iot.id eq 'env-1:pm25_ugm3' or result gt 1")).status).toBe(400);
    const H = 3_600_000;
    const hour = Math.floor(t0 / H) * H;
    const aq = await get(`/sta/v1.1/Datastreams('env-1:aqi_hour')/Observations?$filter=phenomenonTime ge ${new Date(hour).toISOString()}`);
    expect((aq.body.value as { result: number | null }[]).map((x) => x.result)).toEqual([null]);
  });

  it('$resultFormat=dataArray: Observations as one array per Datastream, components in $select order', async () => {
    const r = await get("/sta/v1.1/Datastreams('env-1:pm25_ugm3')/Observations?$resultFormat=dataArray&$select=phenomenonTime,result&$top=2");
    expect(r.status, r.raw).toBe(200);
    const [g] = r.body.value as Record<string, unknown>[];
    expect(g).toMatchObject({ components: ['phenomenonTime', 'result'], 'dataArray@iot.count': 2 });
    expect(decodeURIComponent(String(g?.['Datastream@iot.navigationLink']))).toMatch(/Datastreams\('env-1:pm25_ugm3'\)$/);
    expect(g?.dataArray).toEqual([[new Date(t0 + 1000).toISOString(), 31], [new Date(t0 + 2000).toISOString(), 32]]);
    expect(decodeURIComponent(String(r.body['@iot.nextLink']))).toContain('$resultFormat=dataArray');
    const all = await get("/sta/v1.1/Datastreams('env-1:pm25_ugm3')/Observations?$resultFormat=dataArray");
    expect((all.body.value as { components: string[] }[])[0]?.components).toEqual(['id', 'phenomenonTime', 'resultTime', 'result']);
    expect((await get('/sta/v1.1/Things?$resultFormat=dataArray')).status).toBe(400);
  });

  it('FeaturesOfInterest are the sites (GeoJSON); each monitor has one HistoricalLocation, from registration', async () => {
    const foi = await get("/sta/v1.1/FeaturesOfInterest('xuhui')");
    expect(foi.body).toMatchObject({ encodingType: 'application/geo+json', feature: { type: 'Point', coordinates: [121.4365, 31.1885] } });
    expect(((await get('/sta/v1.1/FeaturesOfInterest')).body.value as { '@iot.id': string }[]).map((f) => f['@iot.id'])).toEqual(['pudong', 'xuhui']);
    const o = ((await get("/sta/v1.1/Datastreams('env-1:pm25_ugm3')/Observations?$top=1&$expand=FeatureOfInterest($select=@iot.id)")).body.value as Record<string, unknown>[])[0];
    expect(o?.FeatureOfInterest).toEqual({ '@iot.id': 'xuhui' });
    const hl = await get("/sta/v1.1/Things('env-1')/HistoricalLocations?$expand=Locations($select=name),Thing($select=@iot.id)");
    const [h] = hl.body.value as Record<string, unknown>[];
    expect(h).toMatchObject({ Locations: [{ name: 'Xuhui' }], Thing: { '@iot.id': 'env-1' } });
    expect((await get(String(h?.['@iot.selfLink']).replace(/^https?:\/\/[^/]+/, ''))).status).toBe(200);
    expect((await get("/sta/v1.1/HistoricalLocations('env-1@1')")).status).toBe(404);
  });

  it('refuses a query that would fan out into too many edge reads', async () => {
    const before = edgeRequests.length;
    const r = await get("/sta/v1.1/Datastreams?$top=1000&$filter=properties/scope eq 'device'&$expand=Observations");
    expect(r.status).toBe(200); // 24 monitor datastreams: within the budget
    expect(edgeRequests.length - before).toBe(24);
    const small = await make({ rateLimitMax: 10_000, edgeCallsMax: 23 });
    try {
      const many = await get('/sta/v1.1/Datastreams?$top=1000&$expand=Observations', small);
      expect(many.status).toBe(400);
      expect(String(many.body.message)).toMatch(/more than 23 Observation collections/);
      expect((await get('/sta/v1.1/Datastreams?$top=23&$expand=Observations', small)).status).toBe(200);
    } finally {
      await small.close();
    }
  });

  it('says what it does not support, and what is wrong, instead of ignoring it', async () => {
    for (const q of [
      '$filter=name eq', "$filter=name eq 'x", '$filter=frob(name) eq 1', "$filter=substring(name) eq 'x'", '$filter=result add', '$orderby=name sideways', '$expand=Observations',
      '$expand=Datastreams($expand=Thing($expand=Datastreams($expand=Thing)))', '$expand=Datastreams,Datastreams', '$frobnicate=1', '$select=', '$top=1&$top=2', '$top=-1', '$top=5000', '$count=maybe', '$resultFormat=dataArray', '$resultFormat=csv',
    ]) {
      const r = await get(`/sta/v1.1/Things?${q}`);
      expect(r.status, q).toBe(400);
    }
    const wide = await get(`/sta/v1.1/Datastreams('env-1:pm25_ugm3')/Observations?$filter=phenomenonTime gt ${new Date(t0 - 40 * 86_400_000).toISOString()}`);
    expect(wide.status).toBe(400);
    expect((await get("/sta/v1.1/FeaturesOfInterest('xuhui')/Observations")).status).toBe(400);
    expect((await get('/sta/v1.1/Nope')).status).toBe(404);
  });

  it('sends an ETag and Cache-Control; If-None-Match answers 304', async () => {
    const r = await get('/sta/v1.1/Locations');
    expect(r.headers['cache-control']).toBe('public, max-age=60');
    const etag = String(r.headers.etag);
    expect((await app.inject({ url: '/sta/v1.1/Locations', headers: { 'if-none-match': etag } })).statusCode).toBe(304);
  });

  it('has its own per-address rate limit, which cannot spend the authenticated API budget', async () => {
    const limited = await make({ rateLimitMax: 3 }, 5);
    try {
      const from = (remoteAddress: string, url: string, headers: Record<string, string> = {}) => limited.inject({ url, remoteAddress, headers });
      for (let i = 0; i < 3; i++) expect((await from('10.0.0.1', '/sta/v1.1/Things')).statusCode).toBe(200);
      const blocked = await from('10.0.0.1', '/sta/v1.1/Things');
      expect(blocked.statusCode).toBe(429);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
      for (let i = 0; i < 10; i++) await from('10.0.0.1', '/sta/v1.1/Things'); // far past the global max of 5
      // the same address still has its whole API budget: authenticated and not
      expect((await from('10.0.0.1', '/api/v1/devices', auth)).statusCode).toBe(200);
      expect((await from('10.0.0.1', '/api/v1/devices')).statusCode).toBe(401); // not 429
      // another address has its own open-data budget
      expect((await from('10.0.0.2', '/sta/v1.1/Things')).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
