/**
 * Exceedance episodes of a site (or a monitor) read back from its stored indices: runs of
 * consecutive hours with an AQI above the alert level, and day/night periods whose Leq is
 * over the zone limit (GB 3096), on request (the public page). Monitors and sites also get
 * these as stored events (air-index.ts, air/site-exceedances.ts) by the same rule. Pure.
 */

export interface IndexPoint { ts: number; endMs: number; value: number | null; values?: Record<string, number>; labels?: Record<string, string> }

export interface Episode {
  measure: 'aqi' | 'noise';
  /** ISO 8601; `until` null = still above at the newest computed period */
  since: string;
  until: string | null;
  /** highest AQI, or the period's Leq in dB(A) */
  peak: number;
  hours?: number;
  alertLevel?: number;
  period?: 'day' | 'night';
  limitDba?: number;
  zone?: string;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Runs of contiguous hours above `level`; an invalid (null) hour ends a run. */
export function aqiEpisodes(points: readonly IndexPoint[], level: number): Episode[] {
  const sorted = [...points].sort((a, b) => a.ts - b.ts);
  const out: Episode[] = [];
  let run: { since: number; end: number; peak: number; hours: number } | undefined;
  const flush = (open: boolean): void => {
    if (!run) return;
    out.push({ measure: 'aqi', since: iso(run.since), until: open ? null : iso(run.end), peak: run.peak, hours: run.hours, alertLevel: level });
    run = undefined;
  };
  for (const p of sorted) {
    const above = p.value !== null && p.value > level;
    if (run && (!above || p.ts !== run.end)) flush(false);
    if (!above) continue;
    if (run) {
      run.end = p.endMs;
      run.peak = Math.max(run.peak, p.value as number);
      run.hours++;
    } else run = { since: p.ts, end: p.endMs, peak: p.value as number, hours: 1 };
  }
  flush(true);
  return out;
}

/** Each day or night period whose level exceeded its zone limit. */
export function noiseEpisodes(points: readonly IndexPoint[], period: 'day' | 'night'): Episode[] {
  return [...points].sort((a, b) => a.ts - b.ts).filter((p) => p.labels?.exceeded === 'true' && p.value !== null).map((p) => ({
    measure: 'noise', since: iso(p.ts), until: iso(p.endMs), peak: p.value as number, period,
    ...(p.values?.limit_dba !== undefined ? { limitDba: p.values.limit_dba } : {}), zone: p.labels?.zone ?? '',
  }));
}
