import type { FieldAggregate } from '../domain/records.js';
import { AIR_LABEL_PREFIX, AIR_VALUE_PREFIX, TEXT_PREFIX } from './influx-lines.js';
import { pickFields, type AggPoint, type AirIndexPoint, type EventPoint, type LatestPoint, type PresencePoint, type RawPoint } from './store.js';

/**
 * InfluxQL answers → the store's points: the reading side of influx-lines.ts. Each function
 * below takes the series of one `/query` result (epoch=ms, so column 0 is the time in ms).
 */
export interface Series {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

const TAGS = new Set(['time', 'device_id', 'site', 'kind', 'seq']);

export function rawPoints(series: Series[], wanted: string[] | undefined): RawPoint[] {
  const out: RawPoint[] = [];
  for (const s of series) {
    for (const row of s.values) {
      const fields: Record<string, number> = {};
      let seq = 0;
      s.columns.forEach((c, i) => {
        const v = row[i];
        if (c === 'seq') seq = v as number;
        else if (!TAGS.has(c) && !c.startsWith(TEXT_PREFIX) && typeof v === 'number') fields[c] = v;
      });
      out.push({ ts: row[0] as number, seq, fields: pickFields(fields, wanted) });
    }
  }
  return out;
}

export function aggPoints(series: Series[], wanted: string[] | undefined): AggPoint[] {
  const out: AggPoint[] = [];
  for (const s of series) {
    for (const row of s.values) {
      const fields: Record<string, FieldAggregate> = {};
      s.columns.forEach((c, i) => {
        const v = row[i];
        const dot = c.lastIndexOf('.');
        if (dot < 0 || typeof v !== 'number') return;
        const name = c.slice(0, dot);
        const stat = c.slice(dot + 1) as keyof FieldAggregate;
        (fields[name] ??= { count: 0, min: 0, max: 0, mean: 0, last: 0 })[stat] = v;
      });
      out.push({ ts: row[0] as number, fields: pickFields(fields, wanted) });
    }
  }
  return out;
}

export function eventPoints(series: Series[], deviceId: string): EventPoint[] {
  const out: EventPoint[] = [];
  for (const s of series) {
    const col = (name: string): number => s.columns.indexOf(name);
    const [iSeq, iType, iSev, iMsg, iAttr] = ['seq', 'type', 'severity', 'message', 'attributes'].map(col) as number[];
    for (const row of s.values) {
      out.push({
        ts: row[0] as number, seq: row[iSeq as number] as number, deviceId,
        type: String(row[iType as number] ?? ''), severity: String(row[iSev as number] ?? ''),
        message: String(row[iMsg as number] ?? ''),
        attributes: JSON.parse(String(row[iAttr as number] ?? '{}')) as Record<string, string>,
      });
    }
  }
  return out;
}

/** Oldest first. */
export function presencePoints(series: Series[]): PresencePoint[] {
  const out: PresencePoint[] = [];
  for (const s of series) {
    const [iOnline, iReason, iFw] = ['online', 'reason', 'firmware'].map((c) => s.columns.indexOf(c)) as number[];
    for (const row of s.values) {
      out.push({ ts: row[0] as number, online: row[iOnline as number] === true, reason: String(row[iReason as number] ?? ''), firmware: String(row[iFw as number] ?? '') });
    }
  }
  return out.sort((a, b) => a.ts - b.ts);
}

/** One series per device (GROUP BY "device_id"), its newest row first. */
export function latestPoints(series: Series[]): LatestPoint[] {
  const out: LatestPoint[] = [];
  for (const s of series) {
    const row = s.values[0];
    if (!row) continue;
    const p: LatestPoint = { deviceId: s.tags?.device_id ?? '', site: '', kind: '', ts: row[0] as number, seq: 0, fields: {}, text: {} };
    s.columns.forEach((c, i) => {
      const v = row[i];
      if (v === null || v === undefined) return;
      if (c === 'site' || c === 'kind') p[c] = String(v);
      else if (c === 'seq') p.seq = v as number;
      else if (c.startsWith(TEXT_PREFIX)) p.text[c.slice(TEXT_PREFIX.length)] = String(v);
      else if (!TAGS.has(c) && typeof v === 'number') p.fields[c] = v;
    });
    out.push(p);
  }
  return out;
}

export function airIndexPoints(series: Series[]): AirIndexPoint[] {
  const out: AirIndexPoint[] = [];
  for (const s of series) {
    for (const row of s.values) {
      const p: AirIndexPoint = { ts: row[0] as number, endMs: 0, site: '', value: null, values: {}, labels: {} };
      let valid = false;
      let value = 0;
      s.columns.forEach((c, i) => {
        const v = row[i];
        if (v === null || v === undefined) return;
        if (c === 'site') p.site = String(v);
        else if (c === 'end_ms') p.endMs = v as number;
        else if (c === 'valid') valid = v === true;
        else if (c === 'value') value = v as number;
        else if (c.startsWith(AIR_VALUE_PREFIX) && typeof v === 'number') p.values[c.slice(AIR_VALUE_PREFIX.length)] = v;
        else if (c.startsWith(AIR_LABEL_PREFIX)) p.labels[c.slice(AIR_LABEL_PREFIX.length)] = String(v);
      });
      p.value = valid ? value : null;
      out.push(p);
    }
  }
  return out;
}
