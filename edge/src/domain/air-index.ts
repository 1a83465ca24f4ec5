import { dayMean, dailyMaxEightHour, dailyMaxHour, hourMean, movingDayMean, movingEightHourMean } from './air-averages.js';
import { dailyAqi, hourlyAqi, type AqiResult, type DailyConcentrations, type HourlyConcentrations } from './aqi.js';
import type { PeriodLevel } from './noise.js';
import type { AirIndexRecord, AirPeriod, AirScope, EventRecord } from './records.js';

/**
 * From stored 1-minute aggregates to the records of edge/src/air: hourly means, the AQI
 * inputs of an hour or a day, site averages, and exceedance episodes. Pure.
 */

export const HOUR_MS = 3_600_000;

/** Env-monitor telemetry fields (protos EnvMonitorTelemetry) in HJ 633 units: µg/m³, CO mg/m³. */
export const AIR_FIELDS = {
  so2: 'so2_ugm3', no2: 'no2_ugm3', co: 'co_mgm3', o3: 'o3_ugm3', pm10: 'pm10_ugm3', pm25: 'pm25_ugm3',
} as const;
export type Gas = keyof typeof AIR_FIELDS;
const GASES = Object.keys(AIR_FIELDS) as Gas[];

/** Valid 1-hour means of one hour (a gas without 45 minutes of data is absent). */
export type HourMeans = Partial<Record<Gas, number>>;

export interface MinutePoint {
  ts: number;
  fields: Record<string, { mean: number; max: number }>;
}

/** 1-hour means of the hour starting at `hourStart` from that hour's minute aggregates.
 * A negative mean (sensor offset) is not a concentration: that minute does not count. */
export function hourMeansOf(minutes: readonly MinutePoint[], hourStart: number): HourMeans {
  const out: HourMeans = {};
  for (const g of GASES) {
    const vals: number[] = [];
    for (const m of minutes) {
      if (m.ts < hourStart || m.ts >= hourStart + HOUR_MS) continue;
      const v = m.fields[AIR_FIELDS[g]]?.mean;
      if (v !== undefined && Number.isFinite(v) && v >= 0) vals.push(v);
    }
    const mean = vals.length <= 60 ? hourMean(vals) : undefined;
    if (mean !== undefined) out[g] = mean;
  }
  return out;
}

const col = (series: readonly HourMeans[], g: Gas): (number | undefined)[] => series.map((h) => h[g]);

/** Inputs of the hourly AQI for hour `i` of `series` (consecutive hours; up to 23 before
 * `i` are used for the SO₂ 24-hour and O₃ 8-hour moving means). */
export function hourlyInputs(series: readonly HourMeans[], i: number): HourlyConcentrations {
  const h = series[i] ?? {};
  const c: HourlyConcentrations = {};
  if (h.so2 !== undefined) c.so2_1h = h.so2;
  const so2Day = movingDayMean(col(series, 'so2'), i);
  if (so2Day !== undefined) c.so2_24h = so2Day;
  if (h.no2 !== undefined) c.no2_1h = h.no2;
  if (h.co !== undefined) c.co_1h = h.co;
  if (h.o3 !== undefined) c.o3_1h = h.o3;
  const o38 = movingEightHourMean(col(series, 'o3'), i);
  if (o38 !== undefined) c.o3_8h = o38;
  if (h.pm10 !== undefined) c.pm10_1h = h.pm10;
  if (h.pm25 !== undefined) c.pm25_1h = h.pm25;
  return c;
}

/** Inputs of the daily AQI from the 24 hours of a local day. */
export function dailyInputs(day: readonly HourMeans[]): DailyConcentrations {
  const c: DailyConcentrations = {};
  const put = (k: keyof DailyConcentrations, v: number | undefined): void => {
    if (v !== undefined) c[k] = v;
  };
  put('so2_24h', dayMean(col(day, 'so2')));
  put('no2_24h', dayMean(col(day, 'no2')));
  put('co_24h', dayMean(col(day, 'co')));
  put('pm10_24h', dayMean(col(day, 'pm10')));
  put('pm25_24h', dayMean(col(day, 'pm25')));
  put('o3_1h_max', dailyMaxHour(col(day, 'o3')));
  put('o3_8h_max', dailyMaxEightHour(col(day, 'o3')));
  return c;
}

/** A site's concentrations: per quantity, the mean over its monitors that have a valid
 * value (HJ 633 averages stations' concentrations, then indexes the average). */
export function siteInputs<T extends object>(monitors: readonly T[]): T {
  const sums = new Map<string, { sum: number; n: number }>();
  for (const m of monitors) {
    for (const [k, v] of Object.entries(m) as [string, number | undefined][]) {
      if (v === undefined) continue;
      const s = sums.get(k) ?? { sum: 0, n: 0 };
      s.sum += v;
      s.n++;
      sums.set(k, s);
    }
  }
  const out: Record<string, number> = {};
  for (const [k, s] of sums) out[k] = s.sum / s.n;
  return out as T;
}

export interface IndexTarget {
  scope: AirScope;
  /** '' for a site */
  deviceId: string;
  site: string;
}

const round = (x: number, d: number): number => Math.round(x * 10 ** d) / 10 ** d;

export function aqiRecord(t: IndexTarget, period: 'hour' | 'day', startMs: number, endMs: number,
  inputs: HourlyConcentrations | DailyConcentrations, r: AqiResult): AirIndexRecord {
  const values: Record<string, number> = {};
  for (const [k, v] of Object.entries(r.iaqi)) values[`iaqi.${k}`] = v;
  for (const [k, v] of Object.entries(inputs) as [string, number][]) values[`c.${k}`] = round(v, 3);
  return {
    type: 'air-index', deviceId: t.deviceId, site: t.site, kind: 'env-monitor', scope: t.scope, measure: 'aqi', period,
    tsMs: startMs, endMs, value: r.aqi, values,
    labels: {
      level: r.level?.levelZh ?? '', category: r.level?.category ?? '', category_en: r.level?.categoryEn ?? '',
      colour: r.level?.hex ?? '', primary: r.primary.join(','), beyond_scale: r.beyondScale.join(','), notes: r.notes.join(','),
    },
  };
}

export function noiseRecord(t: IndexTarget, period: Extract<AirPeriod, 'day' | 'night'>, zone: string, p: PeriodLevel): AirIndexRecord {
  const values: Record<string, number> = { limit_dba: p.limit, minutes: p.minutes, expected_minutes: p.expectedMinutes };
  if (p.max !== undefined) values.max_dba = p.max;
  return {
    type: 'air-index', deviceId: t.deviceId, site: t.site, kind: 'env-monitor', scope: t.scope, measure: 'noise', period,
    tsMs: p.fromMs, endMs: p.toMs, value: p.leq === undefined ? null : round(p.leq, 2), values,
    labels: { zone, exceeded: String(p.exceeded) },
  };
}

export const DerivedEvent = {
  AqiExceeded: 'air.aqi_exceeded',
  NoiseExceeded: 'air.noise_exceeded',
} as const;

/** Events the edge derives get a negative seq (devices count from 0 up), unique per
 * (device, rule, start): re-deriving the same episode overwrites it in the store. */
export function derivedSeq(sinceMs: number, rule: 1 | 2 | 3): number {
  return -(Math.floor(sinceMs / 60_000) * 4 + rule);
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The AQI exceedance episode that hour `hourStart` belongs to or ends. `history` maps hour
 * starts to that hour's AQI (null = invalid). An hour above `level` opens or continues an
 * episode (until ''); the first hour not above it (lower, or invalid: not known to exceed)
 * closes it with until = its start. Episodes are looked back at most `maxHours`.
 */
export function aqiEpisode(ref: { deviceId: string; site: string }, history: ReadonlyMap<number, number | null>,
  hourStart: number, level: number, maxHours = 24 * 7): EventRecord | undefined {
  const above = (h: number): boolean => (history.get(h) ?? -1) > level;
  const open = above(hourStart);
  const last = open ? hourStart : hourStart - HOUR_MS;
  if (!above(last)) return undefined;
  let since = last;
  let peak = history.get(last) as number;
  for (let n = 0; n < maxHours && above(since - HOUR_MS); n++) {
    since -= HOUR_MS;
    peak = Math.max(peak, history.get(since) as number);
  }
  const until = open ? '' : iso(hourStart);
  return {
    type: 'event', deviceId: ref.deviceId, site: ref.site, kind: 'env-monitor', seq: derivedSeq(since, 1), tsMs: since,
    eventType: DerivedEvent.AqiExceeded, severity: peak > 200 ? 'critical' : 'warning',
    message: `hourly AQI above ${level} (peak ${peak}) since ${iso(since)}${until ? ` until ${until}` : ', ongoing'}`,
    attributes: { since: iso(since), until, peak_aqi: String(peak), alert_level: String(level) },
  };
}

/** A day or night period whose level exceeded its zone limit. */
export function noiseEpisode(ref: { deviceId: string; site: string }, period: 'day' | 'night', zone: string, p: PeriodLevel): EventRecord | undefined {
  if (!p.exceeded) return undefined;
  const leq = p.leq === undefined ? 'invalid' : p.leq.toFixed(1);
  return {
    type: 'event', deviceId: ref.deviceId, site: ref.site, kind: 'env-monitor', seq: derivedSeq(p.fromMs, period === 'day' ? 2 : 3),
    tsMs: p.fromMs, eventType: DerivedEvent.NoiseExceeded, severity: 'warning',
    message: `${period === 'day' ? 'Ld' : 'Ln'} ${leq} dB(A) (max ${p.max?.toFixed(1) ?? '-'}) over the ${period} limit ${p.limit} of zone ${zone}`,
    attributes: {
      since: iso(p.fromMs), until: iso(p.toMs), period, zone, limit_dba: String(p.limit), leq_dba: leq,
      max_dba: p.max === undefined ? '' : p.max.toFixed(1),
    },
  };
}
