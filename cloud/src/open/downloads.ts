import { QUANTITIES } from '../sta/sta-model.js';

/**
 * Bulk downloads of one site's day (issue 14): every env monitor's 1-minute means, with
 * the licence and the units in the metadata. Pure: the service fetches, this formats.
 */

/** The telemetry fields published (the AQI datastreams are computed, not measured). */
export const DOWNLOAD_FIELDS = QUANTITIES.filter((q) => !q.aqiPeriod);

export interface Licence { id: string; url: string }

export interface DayData {
  site: { id: string; nameZh: string; nameEn: string; lat?: number; lon?: number };
  /** YYYY-MM-DD, local to utcOffsetMin */
  day: string;
  utcOffsetMin: number;
  fromMs: number;
  toMs: number;
  /** per monitor: minute start → field → mean */
  monitors: { id: string; rows: { ts: number; fields: Record<string, number> }[] }[];
  /** the site's hourly AQI of the day */
  aqiHours: { ts: number; endMs: number; value: number | null; category: string; primary: string }[];
}

export function metadata(d: DayData, licence: Licence, generatedMs: number): Record<string, unknown> {
  return {
    title: `Yulan environment monitors at ${d.site.nameEn} (${d.site.nameZh}), ${d.day}`,
    site: d.site,
    day: d.day,
    timezone: offsetName(d.utcOffsetMin),
    period: { from: new Date(d.fromMs).toISOString(), to: new Date(d.toMs).toISOString() },
    resolution: '1-minute means of the raw readings (noise: energy mean, LAeq); minutes without readings are absent',
    licence,
    units: Object.fromEntries(DOWNLOAD_FIELDS.map((q) => [q.field, { name: q.unit.name, symbol: q.unit.symbol, definition: q.unit.definition }])),
    aqi: 'site hourly AQI per HJ 633-2012; null = not enough valid data (GB 3095-2012), never filled in',
    dataAsOf: new Date(generatedMs).toISOString(),
  };
}

export function dayJson(d: DayData, licence: Licence, generatedMs: number): string {
  return JSON.stringify({
    metadata: metadata(d, licence, generatedMs),
    readings: d.monitors.flatMap((m) => m.rows.map((r) => ({ time: new Date(r.ts).toISOString(), monitor: m.id, ...pick(r.fields) }))),
    aqiHourly: d.aqiHours.map((h) => ({
      from: new Date(h.ts).toISOString(), to: new Date(h.endMs).toISOString(), aqi: h.value, category: h.category || null,
      primaryPollutants: h.primary ? h.primary.split(',') : [],
    })),
  });
}

/** RFC 4180 CSV with `#` metadata lines first (licence, units, period) — the
 * convention of W3C CSV on the Web's "embedded metadata"; most readers take a comment prefix. */
export function dayCsv(d: DayData, licence: Licence, generatedMs: number): string {
  const lines = [
    `# ${metadata(d, licence, generatedMs).title as string}`,
    `# licence: ${licence.id} ${licence.url}`,
    `# timezone of the day: ${offsetName(d.utcOffsetMin)}; times below are UTC (ISO 8601)`,
    `# values: 1-minute means (noise: energy mean, LAeq); empty = no reading`,
    `# units: ${DOWNLOAD_FIELDS.map((q) => `${q.field}=${q.unit.symbol}`).join('; ')}`,
    `# data as of: ${new Date(generatedMs).toISOString()}`,
    ['time_utc', 'monitor', ...DOWNLOAD_FIELDS.map((q) => q.field)].join(','),
  ];
  for (const m of d.monitors) {
    for (const r of m.rows) {
      lines.push([new Date(r.ts).toISOString(), csvCell(m.id), ...DOWNLOAD_FIELDS.map((q) => num(r.fields[q.field]))].join(','));
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

function pick(fields: Record<string, number>): Record<string, number | null> {
  return Object.fromEntries(DOWNLOAD_FIELDS.map((q) => [q.field, fields[q.field] ?? null]));
}
const num = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '' : String(Math.round(v * 1000) / 1000));
const csvCell = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export function offsetName(min: number): string {
  const s = min < 0 ? '-' : '+';
  const a = Math.abs(min);
  return `UTC${s}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/** `YYYY-MM-DD` local to the offset → [from, to) in epoch ms, or undefined if not a date. */
export function dayRange(day: string, utcOffsetMin: number): { fromMs: number; toMs: number } | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return undefined;
  const utc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (new Date(utc).toISOString().slice(0, 10) !== day) return undefined;
  const fromMs = utc - utcOffsetMin * 60_000;
  return { fromMs, toMs: fromMs + 86_400_000 };
}
