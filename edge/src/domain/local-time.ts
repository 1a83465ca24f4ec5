import type { QuietHours } from './alert-types.js';

/** Wall-clock arithmetic for the wellness rules, on a fixed UTC offset (the care rules'
 * `utcOffsetMin`; Asia/Shanghai has no DST). Pure. */

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** 'HH:MM' → minutes after local midnight, or undefined. */
export function parseHhMm(s: string): number | undefined {
  const m = /^([01][0-9]|2[0-3]):([0-5][0-9])$/.exec(s);
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

/** Local day number (days since the epoch in local time). */
export function localDay(ms: number, utcOffsetMin: number): number {
  return Math.floor((ms + utcOffsetMin * MINUTE_MS) / DAY_MS);
}

/** Epoch ms of minute-of-day `min` on local day `day`. */
export function atLocal(day: number, min: number, utcOffsetMin: number): number {
  return day * DAY_MS + min * MINUTE_MS - utcOffsetMin * MINUTE_MS;
}

/** Quiet intervals [start, end) that intersect local day `day` (a window that wraps
 * midnight contributes its tail from the day before). */
function quietIntervals(day: number, q: QuietHours, off: number): [number, number][] {
  const from = parseHhMm(q.from);
  const to = parseHhMm(q.to);
  if (from === undefined || to === undefined || from === to) return [];
  if (from < to) return [[atLocal(day, from, off), atLocal(day, to, off)]];
  // Wraps midnight: [from, 24:00) today and [00:00, to) today (the tail of yesterday's).
  return [[atLocal(day, 0, off), atLocal(day, to, off)], [atLocal(day, from, off), atLocal(day + 1, 0, off)]];
}

/** Milliseconds of [fromMs, toMs) outside quiet hours. Bounded to 60 days of scanning: a
 * longer span is long past any inactivity threshold anyway. */
export function activeMsBetween(fromMs: number, toMs: number, q: QuietHours | null, off: number): number {
  if (toMs <= fromMs) return 0;
  if (!q) return toMs - fromMs;
  const start = Math.max(fromMs, toMs - 60 * DAY_MS);
  let quiet = 0;
  for (let day = localDay(start, off); atLocal(day, 0, off) < toMs; day++) {
    for (const [a, b] of quietIntervals(day, q, off)) {
      const lo = Math.max(a, start);
      const hi = Math.min(b, toMs);
      if (hi > lo) quiet += hi - lo;
    }
  }
  return toMs - start - quiet;
}

/** When the resident is expected to be up on local day `day`: the end of quiet hours
 * before `wakeBy` (so motion during the night does not count), else local midnight. */
export function routineWindowStart(day: number, wakeByMin: number, q: QuietHours | null, off: number): number {
  const to = q ? parseHhMm(q.to) : undefined;
  if (to !== undefined && to <= wakeByMin) return atLocal(day, to, off);
  return atLocal(day, 0, off);
}
