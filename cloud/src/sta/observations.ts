import type { FastifyInstance } from 'fastify';
import type { DeviceRecord } from '../repositories/device-repository.js';
import { timeBounds, type Node } from './odata.js';
import { bad, type Options } from './query-options.js';
import { aqiObservation, datastreamId, link, observation, type Entity, type Quantity } from './sta-model.js';

const DAY_MS = 86_400_000;
export const MAX_OBS_RANGE_MS = 31 * DAY_MS;
export const MAX_OBS_ROWS = 10_000;
/** Edge queries one request may cause (nested $expand over many Datastreams multiplies them). */
export const EDGE_CALLS_MAX = 120;

/** Per request: how many edge queries it has made so far. */
export interface Budget { edgeCalls: number; max: number }

export interface ObservationPage { items: Entity[]; truncated: boolean }

/**
 * A Datastream's Observations from the edge. A $filter on phenomenonTime picks the range
 * fetched (default the last 24 hours, 30 days for daily AQI, at most 31 days); the filter
 * itself is then applied in full by the caller.
 */
export async function fetchObservations(
  fastify: FastifyInstance, base: string, d: DeviceRecord, q: Quantity, o: Options, budget: Budget, now: number,
): Promise<ObservationPage> {
  const bounds = o.filter ? timeBounds(o.filter, 'phenomenonTime') : {};
  const to = Math.min(bounds.toMs ?? now, now + 1);
  const from = bounds.fromMs ?? to - (q.aqiPeriod === 'day' ? 30 * DAY_MS : DAY_MS);
  if (to - from > MAX_OBS_RANGE_MS) throw bad('Observations: a $filter on phenomenonTime may span at most 31 days');
  if (to <= from) return { items: [], truncated: false };
  if (++budget.edgeCalls > budget.max) {
    throw bad(`this query reads more than ${budget.max} Observation collections; use a smaller $top or a narrower $filter`);
  }
  const dsId = datastreamId(d.id, q.field);
  if (q.aqiPeriod) {
    const aq = await fastify.edge.airQuality({
      scope: 'device', id: d.id, measure: 'aqi', period: q.aqiPeriod, from, to, limit: MAX_OBS_ROWS,
    }) as { points?: { ts: number; endMs: number; value: number | null; labels: Record<string, string> }[] };
    const pts = aq.points ?? [];
    return { items: pts.map((p) => aqiObservation(base, dsId, p.ts, p.endMs, p.value, p.labels ?? {})), truncated: pts.length >= MAX_OBS_ROWS };
  }
  const body = await fastify.edge.telemetry({
    deviceId: d.id, from, to, fields: q.field, resolution: 'raw', limit: MAX_OBS_ROWS,
  }) as { points?: { ts: number; seq: number; fields: Record<string, number> }[] };
  const points = body.points ?? [];
  const items = points.filter((p) => typeof p.fields[q.field] === 'number')
    .map((p) => observation(base, dsId, p.ts, p.seq, p.fields[q.field] as number));
  return { items, truncated: points.length >= MAX_OBS_ROWS };
}

/** `/Observations?$filter=Datastream/@iot.id eq 'x' and …`: the Datastream a top-level
 * `and` chain pins, and the filter with that clause made true (the Observations are then
 * that Datastream's). Undefined when the filter pins none. */
export function pinnedDatastream(n: Node): { id: string; rest: Node } | undefined {
  let id: string | undefined;
  const walk = (x: Node): Node => {
    if (x.k === 'bin' && x.op === 'and') return { ...x, a: walk(x.a), b: walk(x.b) };
    if (x.k === 'bin' && x.op === 'eq' && x.a.k === 'path' && x.b.k === 'lit' && typeof x.b.v === 'string'
      && x.a.p.length === 2 && x.a.p[0] === 'Datastream' && (x.a.p[1] === '@iot.id' || x.a.p[1] === 'id') && id === undefined) {
      id = x.b.v;
      return { k: 'lit', v: true };
    }
    return x;
  };
  const rest = walk(n);
  return id === undefined ? undefined : { id, rest };
}

/** `dev:field:ts[:seq]` → the Datastream id and the instant, or undefined. */
export function parseObservationId(id: string): { dsId: string; ts: number; seq?: number } | undefined {
  const m = /^(.+?:[a-z0-9_]+):(\d{1,15})(?::(-?\d{1,15}))?$/.exec(id);
  if (!m) return undefined;
  return { dsId: m[1] as string, ts: Number(m[2]), ...(m[3] !== undefined ? { seq: Number(m[3]) } : {}) };
}

/** STA 1.1 §14.3 `$resultFormat=dataArray`: one array per Datastream, `components` in
 * $select order (default id, phenomenonTime, resultTime, result). */
export function toDataArray(base: string, items: readonly Entity[], select: readonly string[] | undefined): Entity[] {
  const components = select ?? ['id', 'phenomenonTime', 'resultTime', 'result'];
  const groups = new Map<string, unknown[][]>();
  for (const e of items) {
    const ds = parseObservationId(String(e['@iot.id']))?.dsId ?? '';
    const rows = groups.get(ds) ?? [];
    groups.set(ds, rows);
    rows.push(components.map((k) => e[k === 'id' ? '@iot.id' : k] ?? null));
  }
  return [...groups].map(([ds, rows]) => ({
    'Datastream@iot.navigationLink': link(base, 'Datastreams', ds), components, 'dataArray@iot.count': rows.length, dataArray: rows,
  }));
}
