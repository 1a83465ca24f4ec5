import { describe, expect, it } from 'vitest';
import {
  dailyMaxEightHour, dailyMaxHour, dayMean, hourMean, movingDayMean, movingEightHourMean,
} from '../src/domain/air-averages.js';

const hours = (n: number, v: (i: number) => number = () => 10): (number | undefined)[] =>
  Array.from({ length: 24 }, (_, i) => (i < n ? v(i) : undefined));

describe('GB 3095-2012 data validity', () => {
  it('a 1-hour mean needs 45 minutes of data', () => {
    expect(hourMean(Array(44).fill(30))).toBeUndefined();
    expect(hourMean([...Array(44).fill(30), 90])).toBeCloseTo((44 * 30 + 90) / 45, 10);
    expect(hourMean(Array(60).fill(7))).toBe(7);
    expect(() => hourMean(Array(61).fill(1))).toThrow(RangeError);
  });

  it('a 24-hour mean needs 20 hourly means; invalid hours are left out, not filled', () => {
    expect(dayMean(hours(19))).toBeUndefined();
    expect(dayMean(hours(20, (i) => i))).toBeCloseTo(9.5, 10); // mean of 0..19
    expect(dayMean(hours(24, (i) => (i < 12 ? 0 : 100)))).toBe(50);
    expect(() => dayMean([1, 2, 3])).toThrow(RangeError);
  });

  it('a 24-hour moving mean ends with the given hour and needs 20 of its 24 hours', () => {
    const series = [...Array(10).fill(undefined), ...Array(30).fill(50)] as (number | undefined)[];
    expect(movingDayMean(series, 28)).toBeUndefined(); // hours 5..28: 19 valid
    expect(movingDayMean(series, 29)).toBe(50); // hours 6..29: 20 valid
    expect(movingDayMean(series, 5)).toBeUndefined(); // before the start of the series
  });

  it('an O3 8-hour mean needs 6 of its 8 hours', () => {
    const s = [1, 2, undefined, undefined, 5, 6, 7, 8];
    expect(movingEightHourMean(s, 7)).toBeCloseTo((1 + 2 + 5 + 6 + 7 + 8) / 6, 10);
    expect(movingEightHourMean([1, undefined, undefined, undefined, 5, 6, 7, 8], 7)).toBeUndefined();
    expect(movingEightHourMean(s, 6)).toBeUndefined(); // hours -1..6: only 5 valid
  });

  it('the O3 daily maximum 8-hour mean takes the 17 means ending 08:00–24:00 and needs 14 of them', () => {
    // a gap of 3 hours at 02–04 voids the windows starting at 00–02 (3): 14 valid
    const gap2 = hours(24, (i) => i);
    gap2[2] = gap2[3] = gap2[4] = undefined;
    expect(dailyMaxEightHour(gap2)).toBeCloseTo((16 + 23) / 2, 10); // hours 16..23
    // the same gap at 03–05 voids the windows starting at 00–03 (4): 13 valid → invalid
    const gap3 = hours(24, (i) => i);
    gap3[3] = gap3[4] = gap3[5] = undefined;
    expect(dailyMaxEightHour(gap3)).toBeUndefined();
    // the maximum over a peak in the afternoon
    const peak = hours(24, (i) => (i >= 12 && i < 20 ? 200 : 40));
    expect(dailyMaxEightHour(peak)).toBe(200);
  });

  it('the O3 daily maximum 1-hour mean needs 20 valid hours (Yulan: GB 3095 gives no count)', () => {
    expect(dailyMaxHour(hours(19, (i) => i))).toBeUndefined();
    expect(dailyMaxHour(hours(20, (i) => i))).toBe(19);
  });
});
