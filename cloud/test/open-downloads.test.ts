import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, NOT_PUBLIC, openFixture, type OpenFixture } from './open-data-support.js';

describe('open data: site summaries, bulk downloads per site and day, caching, the shared public budget', () => {
  let fx: OpenFixture;
  let app: FastifyInstance;
  beforeAll(async () => {
    fx = await openFixture();
    app = await fx.app();
  });
  afterAll(async () => fx?.close());

  it("a site's day as CSV: licence, units and timezone first, then every env monitor's minute means of that day only", async () => {
    const r = await app.inject({ url: `/open/v1/sites/xuhui/days/${fx.day}.csv` });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/csv/);
    expect(r.headers['content-disposition']).toBe(`attachment; filename="yulan-xuhui-${fx.day}.csv"`);
    const lines = r.body.trimEnd().split('\r\n');
    const meta = lines.filter((l) => l.startsWith('#')).join('\n');
    expect(meta).toContain('licence: CC-BY-4.0 https://creativecommons.org/licenses/by/4.0/');
    expect(meta).toContain('pm25_ugm3=µg/m³');
    expect(meta).toContain('co_mgm3=mg/m³');
    expect(meta).toContain('noise_dba=dB(A)');
    expect(meta).toContain('UTC+08:00');
    const rows = lines.filter((l) => !l.startsWith('#'));
    const header = rows[0]!.split(',');
    expect(header.slice(0, 3)).toEqual(['time_utc', 'monitor', 'pm25_ugm3']);
    const data = rows.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i], v])));
    expect(data.map((d) => [d.monitor, d.pm25_ugm3])).toEqual([['env-1', '40'], ['env-1', '41'], ['env-1', '42'], ['env-3', '12']]);
    expect(data[0]).toMatchObject({ time_utc: new Date(fx.dayStartMs).toISOString(), noise_dba: '55.5', co_mgm3: '0.8', no2_ugm3: '' });
    for (const s of NOT_PUBLIC) expect(r.body).not.toContain(s);
    expect(r.body).not.toContain('999'); // the day before is not in it
  });

  it('the same day as JSON, with the metadata as an object and the site hourly AQI', async () => {
    const r = await app.inject({ url: `/open/v1/sites/xuhui/days/${fx.day}.json` });
    expect(r.statusCode, r.body).toBe(200);
    const body = JSON.parse(r.body) as { metadata: Record<string, any>; readings: Record<string, unknown>[]; aqiHourly: { aqi: number | null }[] };
    expect(body.metadata.licence).toEqual({ id: 'CC-BY-4.0', url: 'https://creativecommons.org/licenses/by/4.0/' });
    expect(body.metadata.units.pm25_ugm3).toMatchObject({ symbol: 'µg/m³' });
    expect(body.metadata.site).toMatchObject({ id: 'xuhui', nameZh: '徐汇区', lat: 31.1885 });
    expect(body.readings).toHaveLength(4);
    expect(body.readings[3]).toMatchObject({ monitor: 'env-3', pm25_ugm3: 12, noise_dba: null });
    expect(body.aqiHourly.length).toBeGreaterThan(0);
    for (const s of NOT_PUBLIC) expect(r.body).not.toContain(s);
  });

  it('ETag and Cache-Control: a finished day is cached an hour; If-None-Match answers 304 with no body', async () => {
    const url = `/open/v1/sites/xuhui/days/${fx.day}.csv`;
    const first = await app.inject({ url });
    expect(first.headers['cache-control']).toBe('public, max-age=3600');
    const etag = String(first.headers.etag);
    const again = await app.inject({ url, headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    // a different representation has a different tag
    const json = await app.inject({ url: url.replace('.csv', '.json'), headers: { 'if-none-match': etag } });
    expect(json.statusCode).toBe(200);
    expect(json.headers.etag).not.toBe(etag);
  });

  it('refuses what is not a public site or not a day, with the same answer for a private site as for none', async () => {
    const home = await app.inject({ url: `/open/v1/sites/home-site/days/${fx.day}.csv` });
    const none = await app.inject({ url: `/open/v1/sites/nowhere/days/${fx.day}.csv` });
    expect(home.statusCode).toBe(404);
    expect(none.statusCode).toBe(404);
    expect(home.body.replace('home-site', 'X')).toBe(none.body.replace('nowhere', 'X'));
    expect((await app.inject({ url: '/open/v1/sites/xuhui/days/2026-02-30.csv' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/open/v1/sites/xuhui/days/2999-01-01.json' })).statusCode).toBe(400);
    expect((await app.inject({ url: `/open/v1/sites/xuhui/days/${fx.day}.xml` })).statusCode).toBe(400);
    expect(fx.edgeRequests.some((u) => /fall-1|locker-1|ev-1|home-site/.test(u))).toBe(false);
  });

  it("summaries for the page: each site's newest valid hourly AQI with colour and category, and noise against its zone limit", async () => {
    const r = await app.inject({ url: '/open/v1/sites' });
    expect(r.statusCode).toBe(200);
    const body = JSON.parse(r.body) as { sites: Record<string, any>[] };
    expect(body.sites.map((s) => s.id)).toEqual(['pudong', 'xuhui']);
    const x = body.sites[1]!;
    expect(x).toMatchObject({ nameZh: '徐汇区', monitors: 2, aqi: { value: 120, category: '轻度污染', categoryEn: 'Lightly polluted', colour: '#FF7E00', primary: ['pm25'] } });
    expect(x.noise).toMatchObject({ period: 'day', leq: 63.2, limit: 60, zone: '2', exceeded: true });
    expect(body.sites[0]).toMatchObject({ id: 'pudong', nameEn: 'pudong', aqi: null, noise: null });
    for (const s of NOT_PUBLIC) expect(r.body).not.toContain(s);
    const h = JSON.parse((await app.inject({ url: '/open/v1/sites/xuhui/history' })).body) as { hours: unknown[]; days: unknown[]; noise: unknown[]; exceedances: { episodes: unknown[] } };
    expect(h.exceedances.episodes).toHaveLength(2);
    expect(h.hours).toHaveLength(24);
    expect(h.days).toHaveLength(3);
    expect(h.noise).toHaveLength(1);
    expect((await app.inject({ url: '/open/v1/sites/home-site/history' })).statusCode).toBe(404);
  });

  it("a site's exceedance episodes (AQI above the edge's alert level, noise over the zone limit), with since and until", async () => {
    const r = await app.inject({ url: '/open/v1/sites/xuhui/exceedances?days=7' });
    expect(r.statusCode, r.body).toBe(200);
    const body = JSON.parse(r.body) as { aqiAlertLevel: number; episodes: Record<string, unknown>[] };
    expect(body.aqiAlertLevel).toBe(100);
    const aqi = body.episodes.filter((e) => e.measure === 'aqi');
    expect(aqi).toHaveLength(1);
    expect(aqi[0]).toMatchObject({ peak: 120, hours: 1, until: null }); // the newest hour, still above
    expect(body.episodes.filter((e) => e.measure === 'noise')).toMatchObject([{ period: 'day', peak: 63.2, limitDba: 60, zone: '2' }]);
    expect((await app.inject({ url: '/open/v1/sites/home-site/exceedances' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/open/v1/sites/xuhui/exceedances?days=40' })).statusCode).toBe(400);
  });

  it('one open-data budget per address across SensorThings, summaries and downloads; the authenticated API and other addresses keep theirs', async () => {
    const limited = await fx.app({ rateLimitMax: 4, globalMax: 6 });
    const from = (remoteAddress: string, url: string, headers: Record<string, string> = {}) => limited.inject({ url, remoteAddress, headers });
    expect((await from('10.0.0.1', '/sta/v1.1/Things')).statusCode).toBe(200);
    expect((await from('10.0.0.1', '/open/v1/sites')).statusCode).toBe(200);
    expect((await from('10.0.0.1', `/open/v1/sites/xuhui/days/${fx.day}.csv`)).statusCode).toBe(200);
    expect((await from('10.0.0.1', '/open/v1/sites/xuhui/history')).statusCode).toBe(200);
    const blocked = await from('10.0.0.1', `/open/v1/sites/xuhui/days/${fx.day}.json`);
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await from('10.0.0.1', '/sta/v1.1/Things')).statusCode).toBe(429);
    for (let i = 0; i < 10; i++) await from('10.0.0.1', '/open/v1/sites'); // far beyond the API's 6
    expect((await from('10.0.0.1', '/api/v1/devices', { authorization: `Bearer ${ADMIN}` })).statusCode).toBe(200);
    expect((await from('10.0.0.1', '/api/v1/devices')).statusCode).toBe(401); // not 429: the API's own budget is untouched
    expect((await from('10.0.0.2', '/open/v1/sites')).statusCode).toBe(200);
  });
});
