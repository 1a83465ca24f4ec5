import type { DeviceRecord, DeviceRepository, SiteRecord } from '../repositories/device-repository.js';
import type { EdgeClient } from '../edge-client.js';
import { DOWNLOAD_FIELDS, dayRange, type DayData } from './downloads.js';

const H = 3_600_000;
const DAY = 24 * H;

/** One computed period as the edge stores it (edge `GET /v1/air-quality`). */
interface AirPoint { ts: number; endMs: number; value: number | null; values?: Record<string, number>; labels?: Record<string, string> }

export interface PublicSite { id: string; nameZh: string; nameEn: string; lat?: number; lon?: number; monitors: number }

export interface AqiView {
  from: string; to: string; value: number | null; level: string; category: string; categoryEn: string; colour: string; primary: string[];
}
export interface NoiseView { period: 'day' | 'night'; from: string; to: string; leq: number | null; limit: number | null; zone: string; exceeded: boolean }

export interface SiteSummary extends PublicSite { aqi: AqiView | null; noise: NoiseView | null }

const aqiView = (p: AirPoint): AqiView => ({
  from: new Date(p.ts).toISOString(), to: new Date(p.endMs).toISOString(), value: p.value,
  level: p.labels?.level ?? '', category: p.labels?.category ?? '', categoryEn: p.labels?.category_en ?? '', colour: p.labels?.colour ?? '',
  primary: p.labels?.primary ? p.labels.primary.split(',') : [],
});
const noiseView = (period: 'day' | 'night', p: AirPoint): NoiseView => ({
  period, from: new Date(p.ts).toISOString(), to: new Date(p.endMs).toISOString(), leq: p.value,
  limit: p.values?.limit_dba ?? null, zone: p.labels?.zone ?? '', exceeded: p.labels?.exceeded === 'true',
});

/**
 * What the public page and the bulk downloads read (issue 14): env monitors only — every
 * registry read is by kind — and site-level figures the edge computed. Summaries are
 * kept for `cacheMs` so a crowd of page views is one round of edge queries.
 */
export class OpenDataService {
  private cached: { at: number; value: SiteSummary[] } | undefined;
  private pending: Promise<SiteSummary[]> | undefined;

  constructor(private readonly d: {
    devices: DeviceRepository; edge: EdgeClient; now?: () => number; cacheMs?: number; utcOffsetMin?: number;
  }) {}

  get utcOffsetMin(): number { return this.d.utcOffsetMin ?? 480; }
  private now(): number { return (this.d.now ?? Date.now)(); }

  async monitors(site?: string): Promise<DeviceRecord[]> {
    const out: DeviceRecord[] = [];
    for (let offset = 0; ; offset += 500) {
      const p = await this.d.devices.list({ kind: 'env-monitor', ...(site ? { site } : {}), limit: 500, offset });
      out.push(...p.items.filter((x) => x.kind === 'env-monitor'));
      if (p.items.length < 500) return out;
    }
  }

  /** Sites that have env monitors; names and coordinates from the registry when known. */
  async sites(): Promise<PublicSite[]> {
    const counts = new Map<string, number>();
    for (const m of await this.monitors()) counts.set(m.site, (counts.get(m.site) ?? 0) + 1);
    const known = new Map<string, SiteRecord>((await this.d.devices.listSites()).map((s) => [s.id, s]));
    return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([id, monitors]) => {
      const s = known.get(id);
      return s ? { id, nameZh: s.nameZh, nameEn: s.nameEn, lat: s.lat, lon: s.lon, monitors } : { id, nameZh: id, nameEn: id, monitors };
    });
  }

  /** One site, if it has env monitors; reads only that site's monitors. */
  async site(id: string): Promise<PublicSite | undefined> {
    const n = (await this.monitors(id)).length;
    if (n === 0) return undefined;
    const s = await this.d.devices.getSite(id);
    return s ? { id, nameZh: s.nameZh, nameEn: s.nameEn, lat: s.lat, lon: s.lon, monitors: n } : { id, nameZh: id, nameEn: id, monitors: n };
  }

  private async air(site: string, measure: 'aqi' | 'noise', period: 'hour' | 'day' | 'night', from: number, to: number): Promise<AirPoint[]> {
    const r = await this.d.edge.airQuality({ scope: 'site', id: site, measure, period, from, to, limit: 10_000 }) as { points?: AirPoint[] };
    return r.points ?? [];
  }

  /** Each site's newest valid hourly AQI and newest Ld or Ln. */
  async summary(): Promise<SiteSummary[]> {
    const t = this.now();
    if (this.cached && t - this.cached.at < (this.d.cacheMs ?? 60_000)) return this.cached.value;
    this.pending ??= (async () => {
      const all = await this.sites();
      const out: SiteSummary[] = new Array<SiteSummary>(all.length);
      // A few sites at a time: three edge queries each, for every site of the city.
      let next = 0;
      await Promise.all(Array.from({ length: Math.min(4, all.length) }, async () => {
        while (next < all.length) {
          const i = next++;
          out[i] = await this.siteSummary(all[i] as PublicSite, t);
        }
      }));
      this.cached = { at: t, value: out };
      return out;
    })().finally(() => { this.pending = undefined; });
    return this.pending;
  }

  /** A site's newest valid hourly AQI and its newest valid Ld or Ln. */
  private async siteSummary(s: PublicSite, t: number): Promise<SiteSummary> {
    const hours = await this.air(s.id, 'aqi', 'hour', t - 26 * H, t);
    const aqi = [...hours].reverse().find((p) => p.value !== null);
    const noise = (await Promise.all((['day', 'night'] as const).map(async (period) => {
      const pts = (await this.air(s.id, 'noise', period, t - 3 * DAY, t)).filter((p) => p.value !== null);
      const last = pts[pts.length - 1];
      return last ? noiseView(period, last) : undefined;
    }))).filter((x): x is NoiseView => x !== undefined).sort((a, b) => b.to.localeCompare(a.to))[0];
    return { ...s, aqi: aqi ? aqiView(aqi) : null, noise: noise ?? null };
  }

  /** The site's hourly AQI over the last 24 hours, daily AQI and Ld/Ln over 30 days. */
  async history(site: string): Promise<{ hours: AqiView[]; days: AqiView[]; noise: NoiseView[]; exceedances: unknown }> {
    const t = this.now();
    // the 24 whole hours and 30 whole days before now (periods are keyed by their start)
    const hours = (await this.air(site, 'aqi', 'hour', Math.floor(t / H) * H - 24 * H, t)).map(aqiView);
    const days = (await this.air(site, 'aqi', 'day', t - 31 * DAY, t)).slice(-30).map(aqiView);
    const noise = [
      ...(await this.air(site, 'noise', 'day', t - 30 * DAY, t)).map((p) => noiseView('day', p)),
      ...(await this.air(site, 'noise', 'night', t - 30 * DAY, t)).map((p) => noiseView('night', p)),
    ].sort((a, b) => a.from.localeCompare(b.from));
    return { hours, days, noise, exceedances: await this.exceedances(site, 7) };
  }

  /** The site's AQI and noise exceedance episodes over the last `days` (edge-derived from
   * the site's own stored indices, with since and until). */
  async exceedances(site: string, days: number): Promise<unknown> {
    const t = this.now();
    return this.d.edge.airExceedances({ scope: 'site', id: site, from: t - days * DAY, to: t });
  }

  /** One local day of a site: every monitor's 1-minute means and the site's hourly AQI. */
  async day(site: PublicSite, day: string): Promise<DayData | undefined> {
    const r = dayRange(day, this.utcOffsetMin);
    if (!r) return undefined;
    const fields = DOWNLOAD_FIELDS.map((q) => q.field).join(',');
    const monitors: DayData['monitors'] = [];
    for (const m of await this.monitors(site.id)) {
      const body = await this.d.edge.telemetry({ deviceId: m.id, from: r.fromMs, to: r.toMs, fields, resolution: '1m', limit: 1440 }) as
        { points?: { ts: number; fields: Record<string, { mean?: number } | number> }[] };
      monitors.push({
        id: m.id,
        rows: (body.points ?? []).map((p) => ({
          ts: p.ts,
          fields: Object.fromEntries(Object.entries(p.fields).flatMap(([k, v]) => {
            const mean = typeof v === 'number' ? v : v?.mean;
            return typeof mean === 'number' ? [[k, mean]] : [];
          })),
        })),
      });
    }
    const aqiHours = (await this.air(site.id, 'aqi', 'hour', r.fromMs, r.toMs)).map((p) => ({
      ts: p.ts, endMs: p.endMs, value: p.value, category: p.labels?.category ?? '', primary: p.labels?.primary ?? '',
    }));
    return { site, day, utcOffsetMin: this.utcOffsetMin, fromMs: r.fromMs, toMs: r.toMs, monitors, aqiHours };
  }
}
