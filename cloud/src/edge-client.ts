import { CloudError, CloudErrorCode } from './errors.js';

/** One device's newest reading as the edge reports it (`GET /v1/latest`). */
export interface EdgeLatest {
  ts: number;
  seq?: number;
  site?: string;
  kind?: string;
  fields: Record<string, number>;
  text?: Record<string, string>;
}

export interface TelemetryQuery {
  deviceId: string;
  from?: number;
  to?: number;
  fields?: string;
  resolution?: 'raw' | '1m';
  limit?: number;
}
export interface EventsQuery {
  deviceId: string;
  from?: number;
  to?: number;
  limit?: number;
}

/** Computed AQI / noise levels of a monitor or a site (edge `GET /v1/air-quality`). */
export interface AirQualityQuery {
  scope: 'device' | 'site';
  id: string;
  measure: 'aqi' | 'noise';
  period: 'hour' | 'day' | 'night';
  from?: number;
  to?: number;
  limit?: number;
}

/** A device's data in [from, to) (epoch ms), to erase at the edge. */
export interface EraseQuery {
  deviceId: string;
  from: number;
  to: number;
}

/** Thin client of the edge query API (docs/architecture.md, "Edge HTTP API"). */
export interface EdgeClient {
  latest(deviceIds: readonly string[]): Promise<Record<string, EdgeLatest>>;
  telemetry(q: TelemetryQuery): Promise<unknown>;
  events(q: EventsQuery): Promise<unknown>;
  /** Devices whose newest reading is a fault (edge `GET /v1/faulted`, rule in edge/src/domain/faults.ts) */
  faulted(): Promise<unknown>;
  /** A device's presence records in the range and the one before it (edge `GET /v1/presence`) */
  presence(q: EventsQuery): Promise<unknown>;
  airQuality(q: AirQualityQuery): Promise<unknown>;
  /** AQI / noise exceedance episodes of a site or monitor (edge `GET /v1/air-quality/exceedances`) */
  airExceedances(q: { scope: 'device' | 'site'; id: string; from?: number; to?: number }): Promise<unknown>;
  /** A site's stored exceedance events with counts (edge `GET /v1/air-quality/site-events`) */
  siteEvents(q: { site: string; from?: number; to?: number; open?: boolean }): Promise<unknown>;
  /** Erases the device's telemetry and events in the range (idempotent). */
  erase(q: EraseQuery): Promise<unknown>;
  healthy(): Promise<boolean>;
}

export interface HttpEdgeClientOptions {
  baseUrl: string;
  token: string;
  /** budget for the registry's enrichment call: the list must stay fast if the edge is slow */
  latestTimeoutMs?: number;
  queryTimeoutMs?: number;
  /** for an https:// edge URL with a private CA (fetchTrustingCa from @yulan/protos) */
  fetch?: typeof fetch;
}

type Params = Record<string, string | number | undefined>;

/** Comma-joined id lists of at most `maxChars` characters each. */
export function chunkIds(ids: readonly string[], maxChars: number): string[] {
  const chunks: string[] = [];
  let current = '';
  for (const id of ids) {
    if (current !== '' && current.length + 1 + id.length > maxChars) {
      chunks.push(current);
      current = '';
    }
    current = current === '' ? id : `${current},${id}`;
  }
  if (current !== '') chunks.push(current);
  return chunks;
}

export function createHttpEdgeClient(opts: HttpEdgeClientOptions): EdgeClient {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const latestTimeout = opts.latestTimeoutMs ?? 1500;
  const queryTimeout = opts.queryTimeoutMs ?? 10_000;

  async function get(path: string, params: Params, timeoutMs: number, auth = true, method: 'GET' | 'DELETE' = 'GET'): Promise<unknown> {
    const url = new URL(base + path);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, String(v));
    let res: Response;
    try {
      res = await (opts.fetch ?? fetch)(url, {
        method,
        headers: auth ? { authorization: `Bearer ${opts.token}`, accept: 'application/json' } : {},
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new CloudError(CloudErrorCode.EdgeUnreachable, `edge unreachable at ${base}`, { cause: err });
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch (err) {
      throw new CloudError(CloudErrorCode.EdgeBadResponse, `edge answered ${res.status} with a non-JSON body`, {
        cause: err,
      });
    }
    if (res.status >= 400 && res.status < 500 && res.status !== 401 && res.status !== 403) {
      // The edge rejected the query itself (e.g. a bad time range): the caller's fault.
      const message = (body as { message?: unknown } | null)?.message;
      throw new CloudError(CloudErrorCode.EdgeBadRequest, typeof message === 'string' ? message : `edge rejected the query (${res.status})`);
    }
    if (!res.ok) {
      // 401/403 mean our edge token is wrong: an operator problem, not the user's.
      throw new CloudError(CloudErrorCode.EdgeBadResponse, `edge answered ${res.status}`);
    }
    return body;
  }

  return {
    async latest(ids) {
      const out: Record<string, EdgeLatest> = {};
      // Normally one call per page; a page of long ids is split so the request line stays
      // well under Node's default 16 KiB header limit on the edge.
      const bodies = await Promise.all(chunkIds(ids, 6000).map((c) => get('/v1/latest', { deviceId: c }, latestTimeout)));
      for (const body of bodies) {
        const devices = (body as { devices?: unknown } | null)?.devices;
        if (typeof devices !== 'object' || devices === null) {
          throw new CloudError(CloudErrorCode.EdgeBadResponse, 'edge /v1/latest: missing "devices"');
        }
        for (const [id, v] of Object.entries(devices as Record<string, unknown>)) {
          const e = v as Partial<EdgeLatest> | null;
          // Skip malformed entries rather than failing the whole registry read.
          if (e && typeof e.ts === 'number' && typeof e.fields === 'object' && e.fields !== null) {
            out[id] = e as EdgeLatest;
          }
        }
      }
      return out;
    },
    telemetry(q) {
      const { deviceId, from, to, fields, resolution, limit } = q;
      return get('/v1/telemetry', { deviceId, from, to, fields, resolution, limit }, queryTimeout);
    },
    events(q) {
      const { deviceId, from, to, limit } = q;
      return get('/v1/events', { deviceId, from, to, limit }, queryTimeout);
    },
    faulted() {
      return get('/v1/faulted', {}, latestTimeout);
    },
    presence(q) {
      const { deviceId, from, to, limit } = q;
      return get('/v1/presence', { deviceId, from, to, limit }, queryTimeout);
    },
    airQuality(q) {
      const { scope, id, measure, period, from, to, limit } = q;
      return get('/v1/air-quality', { scope, id, measure, period, from, to, limit }, queryTimeout);
    },
    airExceedances(q) {
      return get('/v1/air-quality/exceedances', { scope: q.scope, id: q.id, from: q.from, to: q.to }, queryTimeout);
    },
    siteEvents(q) {
      return get('/v1/air-quality/site-events', { site: q.site, from: q.from, to: q.to, open: q.open === undefined ? undefined : String(q.open) }, queryTimeout);
    },
    erase(q) {
      return get('/v1/data', { deviceId: q.deviceId, from: q.from, to: q.to }, queryTimeout, true, 'DELETE');
    },
    async healthy() {
      try {
        await get('/healthz', {}, latestTimeout, false);
        return true;
      } catch {
        return false;
      }
    },
  };
}
