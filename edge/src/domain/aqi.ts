import { AQI_LEVELS, BREAKPOINTS, IAQI_STEPS, type AqiLevel, type Scale } from './aqi-table.js';

/**
 * Air quality index per HJ 633-2012. Pure. Inputs are concentrations in the standard's
 * units (µg/m³, CO mg/m³); a missing value means "no valid average" and that pollutant
 * simply has no IAQI — it is never guessed.
 */

export const IAQI_MAX = 500;

/** Why a concentration has no IAQI of its own. */
export const NoIaqi = {
  /** SO₂ 1 h above 800 µg/m³ (footnote 2): report the 24 h SO₂ IAQI instead. */
  So2HourAbove800: 'so2-1h-above-800',
  /** O₃ 8 h above 800 µg/m³ (footnote 3): report the O₃ 1 h IAQI instead. */
  O3EightHourAbove800: 'o3-8h-above-800',
} as const;
export type NoIaqi = (typeof NoIaqi)[keyof typeof NoIaqi];

export interface Iaqi {
  /** Rounded up to an integer, capped at 500. */
  value: number;
  /** The concentration is above the top breakpoint (IAQI = 500, "beyond scale"). */
  beyondScale: boolean;
}

/** Rounds up, ignoring float noise below 1e-9 (35 µg/m³ PM2.5 is exactly 50, not 51). */
export function ceilIndex(x: number): number {
  // `+ 0` turns the -0 of ceil(-1e-9) into 0.
  return Math.ceil(x - 1e-9) + 0;
}

/** IAQI of one concentration on one scale, by linear interpolation between breakpoints. */
export function iaqi(scale: Scale, c: number): Iaqi | NoIaqi {
  if (!Number.isFinite(c) || c < 0) throw new RangeError(`${scale}: concentration must be a finite number ≥ 0, got ${c}`);
  const bp = BREAKPOINTS[scale];
  const top = bp[bp.length - 1] as number;
  if (c > top) {
    if (scale === 'so2_1h') return NoIaqi.So2HourAbove800;
    if (scale === 'o3_8h') return NoIaqi.O3EightHourAbove800;
    return { value: IAQI_MAX, beyondScale: true };
  }
  for (let i = 1; i < bp.length; i++) {
    const hi = bp[i] as number;
    if (c <= hi) {
      const lo = bp[i - 1] as number;
      const iLo = IAQI_STEPS[i - 1] as number;
      const iHi = IAQI_STEPS[i] as number;
      return { value: ceilIndex(((iHi - iLo) / (hi - lo)) * (c - lo) + iLo), beyondScale: false };
    }
  }
  /* c <= top was checked above */
  throw new Error('unreachable');
}

/** The pollutants an AQI names (primary pollutants use these keys). */
export type AqiPollutant = 'so2' | 'no2' | 'pm10' | 'co' | 'o3_1h' | 'o3_8h' | 'pm25';
export const AQI_POLLUTANTS: readonly AqiPollutant[] = ['so2', 'no2', 'pm10', 'co', 'o3_1h', 'o3_8h', 'pm25'];

/** Hourly ("real-time", 实时报) inputs: 1-hour means, the O₃ 8-hour moving mean ending
 * this hour, and the SO₂ 24-hour moving mean (only used under footnote 2). */
export interface HourlyConcentrations {
  so2_1h?: number;
  so2_24h?: number;
  no2_1h?: number;
  co_1h?: number;
  o3_1h?: number;
  o3_8h?: number;
  /** PM has no 1 h breakpoints: its 1 h mean is indexed on the 24 h column. */
  pm10_1h?: number;
  pm25_1h?: number;
}

/** Daily (日报) inputs: 24-hour means, the O₃ daily maximum 1 h mean and daily maximum
 * 8 h moving mean. */
export interface DailyConcentrations {
  so2_24h?: number;
  no2_24h?: number;
  co_24h?: number;
  pm10_24h?: number;
  pm25_24h?: number;
  o3_1h_max?: number;
  o3_8h_max?: number;
}

export interface AqiResult {
  /** null when no pollutant had a valid value: the period is invalid. */
  aqi: number | null;
  iaqi: Partial<Record<AqiPollutant, number>>;
  /** Pollutants whose concentration is above the top breakpoint (IAQI 500). */
  beyondScale: AqiPollutant[];
  /** Pollutants whose IAQI is the AQI, named only when AQI > 50. */
  primary: AqiPollutant[];
  level: AqiLevel | null;
  /** Footnotes applied (e.g. 'so2-1h-above-800'). */
  notes: NoIaqi[];
}

export function aqiLevel(aqi: number): AqiLevel {
  if (!Number.isFinite(aqi) || aqi < 0) throw new RangeError(`AQI must be ≥ 0, got ${aqi}`);
  return AQI_LEVELS.find((l) => aqi <= l.maxAqi) as AqiLevel;
}

class Builder {
  readonly r: AqiResult = { aqi: null, iaqi: {}, beyondScale: [], primary: [], level: null, notes: [] };

  put(p: AqiPollutant, v: Iaqi): void {
    this.r.iaqi[p] = v.value;
    if (v.beyondScale) this.r.beyondScale.push(p);
  }

  /** Indexes `c` on `scale` unless absent; returns the footnote when it gives no IAQI. */
  add(p: AqiPollutant, scale: Scale, c: number | undefined): NoIaqi | undefined {
    if (c === undefined) return undefined;
    const v = iaqi(scale, c);
    if (typeof v === 'string') {
      this.r.notes.push(v);
      return v;
    }
    this.put(p, v);
    return undefined;
  }

  finish(): AqiResult {
    const r = this.r;
    let max = -1;
    for (const p of AQI_POLLUTANTS) {
      const v = r.iaqi[p];
      if (v !== undefined && v > max) max = v;
    }
    if (max < 0) return r;
    r.aqi = max;
    r.level = aqiLevel(max);
    if (max > 50) r.primary = AQI_POLLUTANTS.filter((p) => r.iaqi[p] === max);
    return r;
  }
}

/** Hourly AQI (HJ 633 §5, real-time report). */
export function hourlyAqi(c: HourlyConcentrations): AqiResult {
  const b = new Builder();
  // Footnote 2: SO₂ 1 h above 800 is not indexed; the 24 h SO₂ IAQI is reported instead
  // (none when the 24 h mean is itself invalid).
  if (b.add('so2', 'so2_1h', c.so2_1h) === NoIaqi.So2HourAbove800) b.add('so2', 'so2_24h', c.so2_24h);
  b.add('no2', 'no2_1h', c.no2_1h);
  b.add('co', 'co_1h', c.co_1h);
  b.add('o3_1h', 'o3_1h', c.o3_1h);
  o3EightHour(b, c.o3_8h);
  b.add('pm10', 'pm10_24h', c.pm10_1h);
  b.add('pm25', 'pm25_24h', c.pm25_1h);
  return b.finish();
}

/** Daily AQI (HJ 633 §5, daily report): 24 h columns for SO₂, NO₂ and CO. */
export function dailyAqi(c: DailyConcentrations): AqiResult {
  const b = new Builder();
  b.add('so2', 'so2_24h', c.so2_24h);
  b.add('no2', 'no2_24h', c.no2_24h);
  b.add('co', 'co_24h', c.co_24h);
  b.add('o3_1h', 'o3_1h', c.o3_1h_max);
  o3EightHour(b, c.o3_8h_max);
  b.add('pm10', 'pm10_24h', c.pm10_24h);
  b.add('pm25', 'pm25_24h', c.pm25_24h);
  return b.finish();
}

/** Footnote 3: O₃ 8 h above 800 is not indexed; the O₃ 1 h IAQI (already in the result
 * when the 1 h value is valid) stands for ozone. */
function o3EightHour(b: Builder, o3_8h: number | undefined): void {
  b.add('o3_8h', 'o3_8h', o3_8h);
}
