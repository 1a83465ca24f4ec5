import { createHash } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { DeviceRecord, SiteRecord } from '../repositories/device-repository.js';
import { PublicRateLimit } from './public-rate-limit.js';
import {
  QUANTITIES, SENSOR_ID, datastream, datastreamId, location, observation, observedProperty, parseDatastreamId,
  quantityOf, select, sensor, thing, type Entity,
} from './sta-model.js';
import '../types.js';

export interface StaOptions {
  /** requests per window per client address (YULAN_STA_RATE_LIMIT) */
  rateLimitMax: number;
  rateLimitWindowMs?: number;
  now?: () => number;
}

const PREFIX = '/sta/v1.1';
const TOP_DEFAULT = 100;
const TOP_MAX = 1000;
const DAY_MS = 86_400_000;
const SETS = ['Things', 'Locations', 'HistoricalLocations', 'Datastreams', 'Sensors', 'ObservedProperties', 'Observations', 'FeaturesOfInterest'];
const SEGMENT = /^([A-Za-z]+)(?:\('((?:[^']|'')*)'\))?$/;

interface Options { top: number; skip: number; count: boolean; select?: string[] }

function bad(message: string): CloudError {
  return new CloudError(CloudErrorCode.Validation, message);
}
function notFound(what: string): CloudError {
  return new CloudError(CloudErrorCode.NotFound, `${what} not found`);
}

function options(q: Record<string, string | undefined>): Options {
  for (const k of Object.keys(q)) {
    if (k === '$filter' || k === '$orderby' || k === '$expand' || k === '$resultFormat') throw bad(`${k} is not supported yet by this server`);
    if (!['$top', '$skip', '$count', '$select'].includes(k)) throw bad(`unknown query option "${k}"`);
  }
  const int = (k: string, fallback: number, max: number): number => {
    const v = q[k];
    if (v === undefined) return fallback;
    if (!/^[0-9]{1,9}$/.test(v) || Number(v) > max) throw bad(`${k} must be an integer 0..${max}`);
    return Number(v);
  };
  const count = q.$count;
  if (count !== undefined && count !== 'true' && count !== 'false') throw bad('$count must be true or false');
  const sel = q.$select?.split(',').map((s) => s.trim()).filter(Boolean);
  if (sel?.some((s) => !/^(@iot\.(id|selfLink)|[A-Za-z]+)$/.test(s))) throw bad('$select takes property names');
  return { top: int('$top', TOP_DEFAULT, TOP_MAX), skip: int('$skip', 0, 1_000_000_000), count: count === 'true', ...(sel ? { select: sel } : {}) };
}

/** One page of a collection, with `@iot.count` and `@iot.nextLink` per STA 1.1 §9.3.3. */
function page(request: FastifyRequest, base: string, all: readonly Entity[], o: Options, hasMore?: boolean): Entity {
  const items = all.slice(o.skip, o.skip + o.top).map((e) => select(e, o.select));
  const out: Entity = {};
  if (o.count) out['@iot.count'] = all.length;
  if (hasMore ?? o.skip + o.top < all.length) {
    const url = new URL(request.url, 'http://x');
    url.searchParams.set('$skip', String(o.skip + o.top));
    url.searchParams.set('$top', String(o.top));
    out['@iot.nextLink'] = `${base.slice(0, base.length - PREFIX.length)}${url.pathname}${url.search}`;
  }
  out.value = items;
  return out;
}

/**
 * The public, read-only OGC SensorThings API 1.1 for environment monitors (issue 14).
 * No login. Its own per-address budget; the global API limiter skips these routes.
 * Implemented: entity sets Things, Locations, Datastreams, ObservedProperties, Sensors and a
 * Datastream's Observations (raw readings from the edge, the last 24 hours), navigation
 * between them, $top/$skip/$count/$select and @iot.nextLink, ETag/Cache-Control.
 * Not yet: $filter, $orderby, $expand (answered 400, never silently ignored).
 */
export const staRoutes: FastifyPluginAsync<StaOptions> = async (fastify, opts) => {
  const limiter = new PublicRateLimit(opts.rateLimitMax, opts.rateLimitWindowMs ?? 60_000, opts.now);
  const now = opts.now ?? Date.now;

  async function monitors(): Promise<DeviceRecord[]> {
    const out: DeviceRecord[] = [];
    for (let offset = 0; ; offset += 500) {
      // Only env monitors are ever read: the kind filter is the privacy boundary.
      const p = await fastify.devices.list({ kind: 'env-monitor', limit: 500, offset });
      out.push(...p.items.filter((d) => d.kind === 'env-monitor'));
      if (p.items.length < 500) return out;
    }
  }
  async function monitor(id: string): Promise<DeviceRecord> {
    const d = await fastify.devices.get(id);
    if (!d || d.kind !== 'env-monitor') throw notFound(`Thing '${id}'`);
    return d;
  }
  async function sites(ms: readonly DeviceRecord[]): Promise<SiteRecord[]> {
    const used = new Set(ms.map((d) => d.site));
    return (await fastify.devices.listSites()).filter((s) => used.has(s.id));
  }
  async function site(id: string): Promise<SiteRecord> {
    const s = await fastify.devices.getSite(id);
    const ms = s ? (await fastify.devices.list({ kind: 'env-monitor', site: id, limit: 1, offset: 0 })).items : [];
    if (!s || ms.length === 0) throw notFound(`Location '${id}'`);
    return s;
  }
  const streamsOf = (base: string, ms: readonly DeviceRecord[]): Entity[] => ms.flatMap((d) => QUANTITIES.map((q) => datastream(base, d, q)));

  async function handle(request: FastifyRequest, base: string, path: string[], o: Options): Promise<Entity> {
    if (path.length === 0) {
      return {
        value: SETS.filter((s) => s !== 'HistoricalLocations' && s !== 'FeaturesOfInterest').map((name) => ({ name, url: `${base}/${name}` })),
        serverSettings: { conformance: ['http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel', 'http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities'] },
      };
    }
    const segs = path.map((p) => {
      const m = SEGMENT.exec(p);
      if (!m) throw bad(`bad path segment "${p}"`);
      return { set: m[1] as string, id: m[2]?.replace(/''/g, "'") };
    });
    const [a, b] = segs;
    if (!a || segs.length > 2 || (b && b.id !== undefined)) throw bad('paths of at most Set(\'id\')/Navigation are supported');
    const one = (e: Entity): Entity => select(e, o.select);
    switch (a.set) {
      case 'Things': {
        if (a.id === undefined) return page(request, base, (await monitors()).map((d) => thing(base, d)), o);
        const d = await monitor(a.id);
        if (!b) return one(thing(base, d));
        if (b.set === 'Datastreams') return page(request, base, streamsOf(base, [d]), o);
        if (b.set === 'Locations') {
          const s = await fastify.devices.getSite(d.site);
          return page(request, base, s ? [location(base, s)] : [], o);
        }
        break;
      }
      case 'Locations': {
        if (a.id === undefined) return page(request, base, (await sites(await monitors())).map((s) => location(base, s)), o);
        const s = await site(a.id);
        if (!b) return one(location(base, s));
        if (b.set === 'Things') return page(request, base, (await monitors()).filter((d) => d.site === s.id).map((d) => thing(base, d)), o);
        break;
      }
      case 'Datastreams': {
        if (a.id === undefined) return page(request, base, streamsOf(base, await monitors()), o);
        const ref = parseDatastreamId(a.id);
        if (!ref) throw notFound(`Datastream '${a.id}'`);
        const d = await monitor(ref.deviceId);
        if (!b) return one(datastream(base, d, ref.quantity));
        if (b.set === 'Thing') return one(thing(base, d));
        if (b.set === 'Sensor') return one(sensor(base));
        if (b.set === 'ObservedProperty') return one(observedProperty(base, ref.quantity));
        if (b.set === 'Observations') {
          const to = now();
          const body = await fastify.edge.telemetry({
            deviceId: d.id, from: to - DAY_MS, to, fields: ref.quantity.field, resolution: 'raw', limit: Math.min(10_000, o.skip + o.top + 1),
          }) as { points?: { ts: number; seq: number; fields: Record<string, number> }[] };
          const dsId = datastreamId(d.id, ref.quantity.field);
          const obs = (body.points ?? []).filter((p) => typeof p.fields[ref.quantity.field] === 'number')
            .map((p) => observation(base, dsId, p.ts, p.seq, p.fields[ref.quantity.field] as number));
          const o2 = { ...o, count: false };
          return page(request, base, obs, o2, obs.length > o.skip + o.top);
        }
        break;
      }
      case 'ObservedProperties': {
        if (a.id === undefined) return page(request, base, QUANTITIES.map((q) => observedProperty(base, q)), o);
        const q = quantityOf(a.id);
        if (!q || b) throw notFound(`ObservedProperty '${a.id}'`);
        return one(observedProperty(base, q));
      }
      case 'Sensors': {
        if (a.id === undefined) return page(request, base, [sensor(base)], o);
        if (a.id !== SENSOR_ID || b) throw notFound(`Sensor '${a.id}'`);
        return one(sensor(base));
      }
      default:
        if (SETS.includes(a.set)) throw bad(`${a.set} are not served yet`);
    }
    throw notFound(`${path.join('/')}`);
  }

  async function serve(request: FastifyRequest, reply: FastifyReply, rest: string): Promise<unknown> {
    const wait = limiter.take(request.ip);
    if (wait > 0) {
      return reply.code(429).header('retry-after', String(wait)).send({
        statusCode: 429, error: 'Too Many Requests', message: 'open-data rate limit for this address', code: CloudErrorCode.TooManyRequests,
      });
    }
    const base = `${request.protocol}://${request.host}${PREFIX}`;
    const path = rest.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
    const body = await handle(request, base, path, options(request.query as Record<string, string | undefined>));
    const json = JSON.stringify(body);
    const etag = `W/"${createHash('sha256').update(json).digest('base64url').slice(0, 27)}"`;
    reply.header('etag', etag).header('cache-control', 'public, max-age=60').header('access-control-allow-origin', '*');
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(json);
  }

  // Own limiter above; the global one must not count these (issue 14, the auth budget).
  const config = { rateLimit: false };
  fastify.get(PREFIX, { config }, (req, reply) => serve(req, reply, ''));
  fastify.get(`${PREFIX}/*`, { config }, (req, reply) => serve(req, reply, (req.params as { '*': string })['*']));
};
