import { HOUR_MS, aqiEpisode, noiseEpisode } from '../domain/air-index.js';
import type { PeriodLevel } from '../domain/noise.js';
import type { EventRecord } from '../domain/records.js';
import type { TelemetryStore } from '../store/store.js';

/**
 * The stored events of a site's exceedances (issue 14): its hourly AQI above the alert
 * level, its Ld/Ln over the zone limit. A site has no device, so its events are keyed
 * `site:<id>` — a colon is in no device id (ID_PATTERN), so they never mix with a monitor's
 * events, a device's erasure never touches them, and `/v1/events?deviceId=` cannot reach
 * them (that route takes device ids only); GET /v1/air-quality/site-events reads them.
 *
 * Same rule and same keys as a monitor's events (air-index.ts): an AQI episode is one event
 * per (site, start) — written with until '' while it lasts, overwritten with its until when
 * it ends — so re-evaluating an hour, or a restart that recomputes it, overwrites the one
 * event instead of adding one. The hourly history behind "since" is read back from the
 * site's stored indices after a start.
 */
export const siteEventKey = (site: string): string => `site:${site}`;
export const siteOfEventKey = (key: string): string | undefined => (key.startsWith('site:') ? key.slice(5) : undefined);

/** How far back an episode's start is looked for (as for monitors). */
const LOOKBACK_MS = 7 * 24 * HOUR_MS;

export class SiteExceedances {
  private readonly history = new Map<string, Map<number, number | null>>();

  constructor(private readonly store: TelemetryStore, private readonly level: number) {}

  /** The AQI episode events of `site` for its hours just computed, in any order. */
  async aqi(site: string, hours: readonly (readonly [number, number | null])[]): Promise<EventRecord[]> {
    if (hours.length === 0) return [];
    const sorted = [...hours].sort((a, b) => a[0] - b[0]);
    const first = sorted[0]?.[0] as number;
    const hist = await this.load(site, first);
    for (const [h, v] of sorted) hist.set(h, v);
    // one record per episode: the hours of one episode all derive the same key
    const bySeq = new Map<number, EventRecord>();
    for (const [h] of sorted) {
      const ev = aqiEpisode({ deviceId: siteEventKey(site), site }, hist, h, this.level);
      if (ev) bySeq.set(ev.seq, withScope(ev));
    }
    const keep = (sorted[sorted.length - 1]?.[0] as number) - LOOKBACK_MS - 24 * HOUR_MS;
    for (const k of hist.keys()) if (k < keep) hist.delete(k);
    return [...bySeq.values()];
  }

  /** The event of a site's day or night period over its zone limit (any of its monitors
   * over it, as the site's stored level says), or undefined. */
  noise(site: string, period: 'day' | 'night', zone: string, p: PeriodLevel): EventRecord | undefined {
    const ev = noiseEpisode({ deviceId: siteEventKey(site), site }, period, zone, p);
    return ev && withScope(ev);
  }

  private async load(site: string, first: number): Promise<Map<number, number | null>> {
    let hist = this.history.get(site);
    if (!hist) {
      hist = new Map();
      const pts = await this.store.queryAirIndex({
        scope: 'site', id: site, measure: 'aqi', period: 'hour', fromMs: first - LOOKBACK_MS, toMs: first, limit: LOOKBACK_MS / HOUR_MS,
      });
      for (const p of pts) hist.set(p.ts, p.value);
      // only once read: a failed read is retried by the next pass
      this.history.set(site, hist);
    }
    return hist;
  }
}

function withScope(ev: EventRecord): EventRecord {
  return { ...ev, attributes: { ...ev.attributes, scope: 'site' } };
}
