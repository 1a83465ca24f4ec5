/**
 * Averaging periods and data validity per GB 3095-2012 §7 (Table 4, statistics of valid
 * data). Pure. A period without enough data yields `undefined` (invalid): it is reported
 * as such and never filled in.
 */

/** A 1-hour mean needs at least 45 minutes of sampling in the hour. */
export const MIN_MINUTES_PER_HOUR = 45;
/** A 24-hour mean (SO₂, NO₂, CO, PM10, PM2.5) needs at least 20 hourly means. */
export const MIN_HOURS_PER_DAY = 20;
/** An O₃ 8-hour moving mean needs at least 6 hourly means in its 8 hours. */
export const MIN_HOURS_PER_8H = 6;
/** The O₃ daily maximum 8-hour mean needs at least 14 valid 8-hour means 08:00–24:00. */
export const MIN_8H_MEANS_PER_DAY = 14;

export type Hourly = readonly (number | undefined)[];

function validMean(values: Hourly, from: number, to: number, min: number): number | undefined {
  let n = 0;
  let sum = 0;
  for (let i = Math.max(0, from); i < to && i < values.length; i++) {
    const v = values[i];
    if (v === undefined) continue;
    n++;
    sum += v;
  }
  return n >= min ? sum / n : undefined;
}

/** 1-hour mean from the per-minute means of one hour (one value per minute that had data:
 * each minute weighs the same, however many readings it held). */
export function hourMean(minuteMeans: readonly number[]): number | undefined {
  if (minuteMeans.length > 60) throw new RangeError(`an hour has at most 60 minutes, got ${minuteMeans.length}`);
  return validMean(minuteMeans, 0, minuteMeans.length, MIN_MINUTES_PER_HOUR);
}

/** 24-hour mean of 24 hourly means (undefined = invalid hour). */
export function dayMean(hourly: Hourly): number | undefined {
  if (hourly.length !== 24) throw new RangeError(`a day has 24 hourly means, got ${hourly.length}`);
  return validMean(hourly, 0, 24, MIN_HOURS_PER_DAY);
}

/** The 24-hour moving mean ending with hour `end` (inclusive) of a series of hourly means. */
export function movingDayMean(hourly: Hourly, end: number): number | undefined {
  return validMean(hourly, end - 23, end + 1, MIN_HOURS_PER_DAY);
}

/** The O₃ 8-hour moving mean ending with hour `end` (inclusive): hours end-7 … end. */
export function movingEightHourMean(hourly: Hourly, end: number): number | undefined {
  return validMean(hourly, end - 7, end + 1, MIN_HOURS_PER_8H);
}

/** O₃ daily maximum 8-hour mean from the day's 24 hourly means (local 00:00 first): the
 * largest of the 17 8-hour means that end between 08:00 and 24:00, i.e. cover hours
 * k … k+7 for k = 0 … 16; invalid unless at least 14 of them are valid. */
export function dailyMaxEightHour(hourly: Hourly): number | undefined {
  if (hourly.length !== 24) throw new RangeError(`a day has 24 hourly means, got ${hourly.length}`);
  let n = 0;
  let max = -Infinity;
  for (let end = 7; end <= 23; end++) {
    const m = movingEightHourMean(hourly, end);
    if (m === undefined) continue;
    n++;
    if (m > max) max = m;
  }
  return n >= MIN_8H_MEANS_PER_DAY ? max : undefined;
}

/** O₃ daily maximum 1-hour mean. GB 3095 gives no count for it; Yulan asks the same 20
 * valid hours as a 24-hour mean, so a day with 3 hours of data has no daily maximum. */
export function dailyMaxHour(hourly: Hourly): number | undefined {
  if (hourly.length !== 24) throw new RangeError(`a day has 24 hourly means, got ${hourly.length}`);
  let n = 0;
  let max = -Infinity;
  for (const v of hourly) {
    if (v === undefined) continue;
    n++;
    if (v > max) max = v;
  }
  return n >= MIN_HOURS_PER_DAY ? max : undefined;
}
