import { describe, expect, it } from 'vitest';
import { aqiLevel, dailyAqi, hourlyAqi, iaqi, NoIaqi } from '../src/domain/aqi.js';
import type { Scale } from '../src/domain/aqi-table.js';

// HJ 633-2012 Table 1, copied from the standard (shared/domain/air-and-noise-standards.md)
// independently of src/domain/aqi-table.ts so a typo there fails here.
const IAQI = [0, 50, 100, 150, 200, 300, 400, 500];
const TABLE: Record<Scale, (number | null)[]> = {
  so2_24h: [0, 50, 150, 475, 800, 1600, 2100, 2620],
  so2_1h: [0, 150, 500, 650, 800, null, null, null],
  no2_24h: [0, 40, 80, 180, 280, 565, 750, 940],
  no2_1h: [0, 100, 200, 700, 1200, 2340, 3090, 3840],
  pm10_24h: [0, 50, 150, 250, 350, 420, 500, 600],
  co_24h: [0, 2, 4, 14, 24, 36, 48, 60],
  co_1h: [0, 5, 10, 35, 60, 90, 120, 150],
  o3_1h: [0, 160, 200, 300, 400, 800, 1000, 1200],
  o3_8h: [0, 100, 160, 215, 265, 800, null, null],
  pm25_24h: [0, 35, 75, 115, 150, 250, 350, 500],
};
const value = (scale: Scale, c: number): number => {
  const r = iaqi(scale, c);
  if (typeof r === 'string') throw new Error(`no IAQI: ${r}`);
  return r.value;
};

describe('IAQI (HJ 633-2012 Table 1)', () => {
  for (const [scale, bps] of Object.entries(TABLE) as [Scale, (number | null)[]][]) {
    const defined = bps.filter((b): b is number => b !== null);
    it(`${scale}: every breakpoint maps to its IAQI, just above it rounds up to the next integer, midpoints interpolate`, () => {
      defined.forEach((bp, i) => {
        expect(value(scale, bp), `${scale} at ${bp}`).toBe(IAQI[i]);
        if (i < defined.length - 1) {
          expect(value(scale, bp + 0.001), `${scale} just above ${bp}`).toBe((IAQI[i] as number) + 1);
          const next = defined[i + 1] as number;
          expect(value(scale, (bp + next) / 2), `${scale} midway ${bp}–${next}`).toBe(((IAQI[i] as number) + (IAQI[i + 1] as number)) / 2);
          expect(value(scale, next - 0.001), `${scale} just below ${next}`).toBe(IAQI[i + 1]);
        }
      });
    });
  }

  it('worked values of the domain notes', () => {
    expect(value('pm25_24h', 35)).toBe(50);
    expect(value('pm25_24h', 75)).toBe(100);
    expect(value('pm10_24h', 200)).toBe(125);
  });

  it('rounds up, never to nearest: 51.25 → 52, 50.125 → 51, 100.0 stays 100', () => {
    expect(value('pm25_24h', 36)).toBe(52); // 50 + 50/40 × 1 = 51.25
    expect(value('pm25_24h', 35.1)).toBe(51); // 50.125
    expect(value('pm25_24h', 0.1)).toBe(1); // 0.142…
    expect(value('co_1h', 0.01)).toBe(1); // 0.1
    expect(value('pm25_24h', 0)).toBe(0);
  });

  it('beyond the top breakpoint the IAQI is 500, flagged beyond scale', () => {
    expect(iaqi('pm25_24h', 500)).toEqual({ value: 500, beyondScale: false });
    expect(iaqi('pm25_24h', 501)).toEqual({ value: 500, beyondScale: true });
    expect(iaqi('co_24h', 99)).toEqual({ value: 500, beyondScale: true });
    expect(iaqi('o3_1h', 5000)).toEqual({ value: 500, beyondScale: true });
  });

  it('SO2 1 h above 800 and O3 8 h above 800 have no IAQI of their own (footnotes)', () => {
    expect(iaqi('so2_1h', 800)).toEqual({ value: 200, beyondScale: false });
    expect(iaqi('so2_1h', 800.1)).toBe(NoIaqi.So2HourAbove800);
    expect(iaqi('o3_8h', 800)).toEqual({ value: 300, beyondScale: false });
    expect(iaqi('o3_8h', 800.1)).toBe(NoIaqi.O3EightHourAbove800);
  });

  it('refuses a negative or non-finite concentration with a clear error', () => {
    expect(() => iaqi('pm25_24h', -1)).toThrow(/pm25_24h.*≥ 0/);
    expect(() => iaqi('pm25_24h', Number.NaN)).toThrow(RangeError);
    expect(() => iaqi('pm25_24h', Infinity)).toThrow(RangeError);
  });
});

describe('levels, categories and colours (HJ 633-2012 Table 2)', () => {
  const cases: [number, number, string, string, string][] = [
    [0, 1, '一级', '优', '#00E400'], [50, 1, '一级', '优', '#00E400'],
    [51, 2, '二级', '良', '#FFFF00'], [100, 2, '二级', '良', '#FFFF00'],
    [101, 3, '三级', '轻度污染', '#FF7E00'], [150, 3, '三级', '轻度污染', '#FF7E00'],
    [151, 4, '四级', '中度污染', '#FF0000'], [200, 4, '四级', '中度污染', '#FF0000'],
    [201, 5, '五级', '重度污染', '#99004C'], [300, 5, '五级', '重度污染', '#99004C'],
    [301, 6, '六级', '严重污染', '#7E0023'], [500, 6, '六级', '严重污染', '#7E0023'],
  ];
  for (const [aqi, level, zh, cat, hex] of cases) {
    it(`AQI ${aqi} is ${zh} ${cat} ${hex}`, () => {
      expect(aqiLevel(aqi)).toMatchObject({ level, levelZh: zh, category: cat, hex });
    });
  }
});

describe('hourly and daily AQI', () => {
  it('AQI is the largest IAQI; the primary pollutant is named only above 50', () => {
    const r = hourlyAqi({ pm25_1h: 75, pm10_1h: 100, no2_1h: 50, co_1h: 1, so2_1h: 10, o3_1h: 60, o3_8h: 50 });
    expect(r.aqi).toBe(100);
    expect(r.iaqi).toEqual({ pm25: 100, pm10: 75, no2: 25, co: 10, so2: 4, o3_1h: 19, o3_8h: 25 });
    expect(r.primary).toEqual(['pm25']);
    expect(r.level?.category).toBe('良');

    const clean = hourlyAqi({ pm25_1h: 35, pm10_1h: 50 });
    expect(clean.aqi).toBe(50);
    expect(clean.primary).toEqual([]);
    expect(clean.level?.category).toBe('优');
  });

  it('names every pollutant that ties for the largest IAQI', () => {
    const r = dailyAqi({ pm25_24h: 75, pm10_24h: 150, no2_24h: 40 });
    expect(r.aqi).toBe(100);
    expect(r.primary).toEqual(['pm10', 'pm25']);
  });

  it('hourly uses the 1 h columns for SO2, NO2, CO and the 24 h columns for PM; daily uses 24 h columns', () => {
    expect(hourlyAqi({ no2_1h: 100 }).iaqi.no2).toBe(50);
    expect(dailyAqi({ no2_24h: 100 }).iaqi.no2).toBe(110);
    expect(hourlyAqi({ co_1h: 5 }).iaqi.co).toBe(50);
    expect(dailyAqi({ co_24h: 5 }).iaqi.co).toBe(105);
    expect(hourlyAqi({ pm25_1h: 75 }).iaqi.pm25).toBe(100);
  });

  it('footnote 2: SO2 1 h above 800 reports the 24 h SO2 IAQI, or none when that mean is invalid', () => {
    const r = hourlyAqi({ so2_1h: 900, so2_24h: 100, pm25_1h: 10 });
    expect(r.iaqi.so2).toBe(75);
    expect(r.notes).toEqual([NoIaqi.So2HourAbove800]);
    expect(r.aqi).toBe(75);
    expect(r.primary).toEqual(['so2']);
    const noDay = hourlyAqi({ so2_1h: 900, pm25_1h: 10 });
    expect(noDay.iaqi.so2).toBeUndefined();
    expect(noDay.aqi).toBe(15);
    // at 800 itself the 1 h value is still indexed
    expect(hourlyAqi({ so2_1h: 800, so2_24h: 100 }).iaqi.so2).toBe(200);
  });

  it('footnote 3: O3 8 h above 800 is not indexed; the O3 1 h IAQI stands for ozone', () => {
    const r = dailyAqi({ o3_8h_max: 850, o3_1h_max: 900, pm25_24h: 20 });
    expect(r.iaqi.o3_8h).toBeUndefined();
    expect(r.iaqi.o3_1h).toBe(350); // 300 + 100/200 × 100
    expect(r.notes).toEqual([NoIaqi.O3EightHourAbove800]);
    expect(r.aqi).toBe(350);
    expect(r.primary).toEqual(['o3_1h']);
    const hourly = hourlyAqi({ o3_8h: 500, o3_1h: 300 });
    expect(hourly.iaqi).toEqual({ o3_1h: 150, o3_8h: ceil(200 + (100 / 535) * 235) });
    expect(hourly.primary).toEqual(['o3_8h']);
  });

  it('beyond scale: AQI 500, the pollutant named', () => {
    const r = dailyAqi({ pm25_24h: 700, pm10_24h: 100 });
    expect(r.aqi).toBe(500);
    expect(r.beyondScale).toEqual(['pm25']);
    expect(r.primary).toEqual(['pm25']);
    expect(r.level?.levelZh).toBe('六级');
  });

  it('no valid pollutant: the period is invalid (null), not zero', () => {
    const r = hourlyAqi({});
    expect(r.aqi).toBeNull();
    expect(r.level).toBeNull();
    expect(r.primary).toEqual([]);
  });
});

function ceil(x: number): number {
  return Math.ceil(x - 1e-9);
}
