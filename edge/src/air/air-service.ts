import type { Logger } from 'pino';
import { dailyAqi, hourlyAqi, type HourlyConcentrations } from '../domain/aqi.js';
import {
  HOUR_MS, aqiEpisode, aqiRecord, dailyInputs, hourMeansOf, hourlyInputs, noiseEpisode, noiseRecord, siteInputs,
  type HourMeans, type IndexTarget, type MinutePoint,
} from '../domain/air-index.js';
import { localDay } from '../domain/local-time.js';
import { dayNightLevels, energyMean, periodBounds, type MinuteLevel, type NoiseZone, type PeriodLevel } from '../domain/noise.js';
import type { StoreRecord } from '../domain/records.js';
import type { TelemetryStore } from '../store/store.js';
import type { AirConfig } from './air-config.js';
import { SiteExceedances } from './site-exceedances.js';

export interface Monitor {
  deviceId: string;
  site: string;
}

export interface AirServiceDeps {
  store: TelemetryStore;
  config: AirConfig;
  /** The env monitors known to the edge. */
  monitors: () => Monitor[];
  /** Durably queues computed records for the store (the outbox). */
  emit: (records: StoreRecord[]) => void;
  logger: Logger;
  /** A period is computed once its end is this far in the past, so late data (up to the
   * aggregator's grace + retention) is in its aggregates. */
  settleMs: number;
  /** Hours computed after a start (recomputing is idempotent). */
  backfillHours?: number;
}

const MAX_HOURS_PER_RUN = 48;

/**
 * Computes hourly/daily AQI and day/night noise levels per monitor and per site from the
 * stored 1-minute aggregates, once each period has settled, and queues them — with the
 * exceedance events — into the outbox like any other record. Runs on a timer; one run at
 * a time. Hourly means are cached (a settled hour does not change); exceedance history is
 * rebuilt from the store after a restart.
 */
export class AirService {
  private readonly done = new Map<string, number>();
  private readonly hours = new Map<string, Map<number, HourMeans>>();
  private readonly history = new Map<string, Map<number, number | null>>();
  private running: Promise<number> | undefined;
  private readonly siteEvents: SiteExceedances;

  constructor(private readonly d: AirServiceDeps) {
    this.siteEvents = new SiteExceedances(d.store, d.config.aqiAlertLevel);
  }

  /** One pass; returns how many records were queued. */
  run(nowMs: number): Promise<number> {
    this.running ??= this.pass(nowMs).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Resolves when no pass is running (close waits for it before closing the store). */
  async idle(): Promise<void> {
    await this.running?.catch(() => 0);
  }

  private zone(site: string): NoiseZone {
    return this.d.config.siteZones[site] ?? this.d.config.defaultZone;
  }

  private async pass(nowMs: number): Promise<number> {
    const last = Math.floor((nowMs - this.d.settleMs) / HOUR_MS) * HOUR_MS - HOUR_MS;
    const out: StoreRecord[] = [];
    // site → hour → the monitors' inputs / noise periods, for the site indices
    const siteHours = new Map<string, Map<number, HourlyConcentrations[]>>();
    const siteDays = new Map<string, Map<number, ReturnType<typeof dailyInputs>[]>>();
    type NoiseEntry = { period: 'day' | 'night'; p: PeriodLevel[]; hour: number; ids: Set<string> };
    const siteNoise = new Map<string, Map<string, NoiseEntry>>();
    const push = <K, V>(m: Map<string, Map<K, V[]>>, site: string, k: K, v: V): void => {
      const bySite = m.get(site) ?? new Map<K, V[]>();
      m.set(site, bySite);
      const list = bySite.get(k) ?? [];
      bySite.set(k, list);
      list.push(v);
    };

    const doneNow = new Map<string, number>();
    const monitors = this.d.monitors();
    // (site, period start) → the monitors whose figures are in it
    const seen = new Set<string>();
    for (const mon of monitors) {
      const prev = this.done.get(mon.deviceId);
      const first = Math.max(prev === undefined ? last - ((this.d.backfillHours ?? 3) - 1) * HOUR_MS : prev + HOUR_MS, last - (MAX_HOURS_PER_RUN - 1) * HOUR_MS);
      if (first > last) continue;
      const target: IndexTarget = { scope: 'device', deviceId: mon.deviceId, site: mon.site };
      await this.loadHours(mon.deviceId, first - 23 * HOUR_MS, last + HOUR_MS);
      const hist = await this.loadHistory(mon.deviceId, first);
      for (let h = first; h <= last; h += HOUR_MS) {
        const series = this.series(mon.deviceId, h - 23 * HOUR_MS, h);
        const inputs = hourlyInputs(series, 23);
        const r = hourlyAqi(inputs);
        out.push(aqiRecord(target, 'hour', h, h + HOUR_MS, inputs, r));
        hist.set(h, r.aqi);
        const ev = aqiEpisode(mon, hist, h, this.d.config.aqiAlertLevel);
        if (ev) out.push(ev);
        push(siteHours, mon.site, h, inputs);
        seen.add(`${mon.deviceId}@h${h}`);

        const end = h + HOUR_MS;
        const off = this.d.config.utcOffsetMin;
        if (localDay(end, off) !== localDay(h, off)) {
          const dayStart = end - 24 * HOUR_MS;
          const di = dailyInputs(this.series(mon.deviceId, dayStart, h));
          out.push(aqiRecord(target, 'day', dayStart, end, di, dailyAqi(di)));
          push(siteDays, mon.site, dayStart, di);
          seen.add(`${mon.deviceId}@d${dayStart}`);
        }
        for (const np of await this.noisePeriodsEnding(mon, h, end)) {
          out.push(noiseRecord(target, np.period, np.zone, np.p));
          const ev2 = noiseEpisode(mon, np.period, np.zone, np.p);
          if (ev2) out.push(ev2);
          const key = `${np.period}@${np.p.fromMs}`;
          const bySite = siteNoise.get(mon.site) ?? new Map<string, NoiseEntry>();
          siteNoise.set(mon.site, bySite);
          const entry = bySite.get(key) ?? { period: np.period, p: [], hour: h, ids: new Set<string>() };
          bySite.set(key, entry);
          entry.p.push(np.p);
          entry.ids.add(mon.deviceId);
        }
      }
      doneNow.set(mon.deviceId, last);
    }

    // A site's figure is of all its monitors, also those not computing that period in this
    // pass (a monitor seen for the first time backfills hours the others did before):
    // without them the site's hour would be overwritten with a part of its monitors.
    for (const mon of monitors) {
      for (const h of siteHours.get(mon.site)?.keys() ?? []) {
        if (seen.has(`${mon.deviceId}@h${h}`)) continue;
        await this.loadHours(mon.deviceId, h - 23 * HOUR_MS, h + HOUR_MS);
        push(siteHours, mon.site, h, hourlyInputs(this.series(mon.deviceId, h - 23 * HOUR_MS, h), 23));
      }
      for (const start of siteDays.get(mon.site)?.keys() ?? []) {
        if (seen.has(`${mon.deviceId}@d${start}`)) continue;
        await this.loadHours(mon.deviceId, start, start + 24 * HOUR_MS);
        push(siteDays, mon.site, start, dailyInputs(this.series(mon.deviceId, start, start + 23 * HOUR_MS)));
      }
      for (const entry of siteNoise.get(mon.site)?.values() ?? []) {
        if (entry.ids.has(mon.deviceId)) continue;
        const from = entry.p[0]?.fromMs;
        for (const np of await this.noisePeriodsEnding(mon, entry.hour, entry.hour + HOUR_MS)) {
          if (np.period === entry.period && np.p.fromMs === from) entry.p.push(np.p);
        }
      }
    }

    for (const [site, byHour] of siteHours) {
      const t: IndexTarget = { scope: 'site', deviceId: '', site };
      const hourly: [number, number | null][] = [];
      for (const [h, list] of byHour) {
        const inputs = siteInputs(list);
        const r = hourlyAqi(inputs);
        out.push(aqiRecord(t, 'hour', h, h + HOUR_MS, inputs, r));
        hourly.push([h, r.aqi]);
      }
      out.push(...await this.siteEvents.aqi(site, hourly));
      for (const [start, list] of siteDays.get(site) ?? []) {
        const inputs = siteInputs(list);
        out.push(aqiRecord(t, 'day', start, start + 24 * HOUR_MS, inputs, dailyAqi(inputs)));
      }
      for (const { period, p } of siteNoise.get(site)?.values() ?? []) {
        const level = sitePeriod(p);
        out.push(noiseRecord(t, period, this.zone(site), level));
        const ev = this.siteEvents.noise(site, period, this.zone(site), level);
        if (ev) out.push(ev);
      }
    }
    if (out.length > 0) this.d.emit(out);
    // Only once queued: a failed pass (store down, outbox full) is simply redone.
    for (const [id, h] of doneNow) {
      this.done.set(id, h);
      this.prune(id, h - 48 * HOUR_MS);
    }
    return out.length;
  }

  /** Ld of a day ends at the night start; Ln at the next day start: computed with the
   * hour [h, end) in which that end falls. */
  private async noisePeriodsEnding(mon: Monitor, h: number, end: number): Promise<{ period: 'day' | 'night'; zone: NoiseZone; p: PeriodLevel }[]> {
    const c = this.d.config;
    const out: { period: 'day' | 'night'; zone: NoiseZone; p: PeriodLevel }[] = [];
    const zone = this.zone(mon.site);
    for (const day of [localDay(h, c.utcOffsetMin) - 1, localDay(h, c.utcOffsetMin)]) {
      const b = periodBounds(day, c.noisePeriods, c.utcOffsetMin);
      for (const period of ['day', 'night'] as const) {
        const [from, to] = b[period];
        if (to <= h || to > end) continue;
        const pts = await this.d.store.queryAggregates({ deviceId: mon.deviceId, fromMs: from, toMs: to, limit: 24 * 60 + 1, fields: ['noise_dba'] });
        const minutes: MinuteLevel[] = [];
        for (const p of pts) {
          const f = p.fields.noise_dba;
          if (f && Number.isFinite(f.mean)) minutes.push({ startMs: p.ts, leq: f.mean, max: f.max });
        }
        out.push({ period, zone, p: dayNightLevels(minutes, day, zone, c.noisePeriods, c.utcOffsetMin)[period] });
      }
    }
    return out;
  }

  /** Fills the hourly-mean cache for [fromMs, toMs) with one store query from the first
   * hour not cached yet. */
  private async loadHours(deviceId: string, fromMs: number, toMs: number): Promise<void> {
    const cache = this.hours.get(deviceId) ?? new Map<number, HourMeans>();
    this.hours.set(deviceId, cache);
    let start = fromMs;
    while (start < toMs && cache.has(start)) start += HOUR_MS;
    if (start >= toMs) return;
    const hours = (toMs - start) / HOUR_MS;
    const pts = await this.d.store.queryAggregates({ deviceId, fromMs: start, toMs, limit: hours * 60 + 1 });
    const byHour = new Map<number, MinutePoint[]>();
    for (const p of pts) {
      const h = p.ts - (((p.ts % HOUR_MS) + HOUR_MS) % HOUR_MS);
      const list = byHour.get(h) ?? [];
      byHour.set(h, list);
      list.push(p);
    }
    for (let h = start; h < toMs; h += HOUR_MS) if (!cache.has(h)) cache.set(h, hourMeansOf(byHour.get(h) ?? [], h));
  }

  private series(deviceId: string, fromMs: number, lastMs: number): HourMeans[] {
    const cache = this.hours.get(deviceId);
    const out: HourMeans[] = [];
    for (let h = fromMs; h <= lastMs; h += HOUR_MS) out.push(cache?.get(h) ?? {});
    return out;
  }

  /** Hourly AQI of the past week, from the store after a start (for exceedance "since"). */
  private async loadHistory(deviceId: string, first: number): Promise<Map<number, number | null>> {
    let hist = this.history.get(deviceId);
    if (!hist) {
      hist = new Map();
      this.history.set(deviceId, hist);
      const pts = await this.d.store.queryAirIndex({
        scope: 'device', id: deviceId, measure: 'aqi', period: 'hour', fromMs: first - 7 * 24 * HOUR_MS, toMs: first, limit: 7 * 24,
      });
      for (const p of pts) hist.set(p.ts, p.value);
    }
    return hist;
  }

  private prune(deviceId: string, beforeMs: number): void {
    for (const m of [this.hours.get(deviceId), this.history.get(deviceId)]) {
      if (!m) continue;
      const keep = m === this.history.get(deviceId) ? beforeMs - 6 * 24 * HOUR_MS : beforeMs;
      for (const k of m.keys()) if (k < keep) m.delete(k);
    }
  }
}

/** A site's level for a period: the energy mean of its monitors' valid levels. */
function sitePeriod(list: readonly PeriodLevel[]): PeriodLevel {
  const first = list[0] as PeriodLevel;
  const valid = list.filter((p) => p.leq !== undefined).map((p) => p.leq as number);
  const leq = energyMean(valid);
  const maxes = list.filter((p) => p.max !== undefined).map((p) => p.max as number);
  const max = maxes.length > 0 ? Math.max(...maxes) : undefined;
  return {
    ...first, leq, max, minutes: list.reduce((a, p) => a + p.minutes, 0), expectedMinutes: list.reduce((a, p) => a + p.expectedMinutes, 0),
    exceeded: list.some((p) => p.exceeded),
  };
}
