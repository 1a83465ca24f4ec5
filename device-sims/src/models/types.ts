import type { Severity } from '@yulan/protos';

/** A one-off happening; the transport wraps it in a protobuf `Event`. */
export interface SimEvent {
  type: string;
  severity: Severity;
  message: string;
  attributes: Record<string, string>;
}

/** What every model step returns. `state` is a new object; the input is not mutated. */
export interface StepResult<S, R> {
  state: S;
  reading: R;
  events: SimEvent[];
}

export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;
export const DAY_MS = 24 * HOUR_MS;

/** Shanghai: the deployment's local time, which drives routines and GB 3096 day/night. */
export const DEFAULT_UTC_OFFSET_MIN = 480;

/** Local hour of day as a fraction in [0, 24). */
export function localHour(nowMs: number, utcOffsetMin: number): number {
  const local = nowMs + utcOffsetMin * MINUTE_MS;
  return (((local % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS;
}

export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Smooth bump centred on `centre` (hours, wraps at midnight) with width `width` hours. */
export function hourBump(hour: number, centre: number, width: number): number {
  let d = Math.abs(hour - centre);
  if (d > 12) d = 24 - d;
  return Math.exp(-(d * d) / (2 * width * width));
}
