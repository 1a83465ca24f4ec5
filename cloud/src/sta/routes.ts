import { createHash } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { CloudErrorCode } from '../errors.js';
import { evaluate } from './odata.js';
import { sortBy } from './order-by.js';
import { EDGE_CALLS_MAX, toDataArray, type Budget } from './observations.js';
import { PublicRateLimit } from './public-rate-limit.js';
import { bad, parseOptions, type Options } from './query-options.js';
import { staResolver, type Collection } from './resolve.js';
import { select, type Entity } from './sta-model.js';
import '../types.js';

export interface StaOptions {
  /** requests per window per client address (YULAN_STA_RATE_LIMIT) */
  rateLimitMax: number;
  rateLimitWindowMs?: number;
  /** shared with the other open-data routes; made here from rateLimitMax when absent */
  limiter?: PublicRateLimit;
  /** licence of the open data (YULAN_OPEN_DATA_LICENCE), for downloads and the page */
  licence?: { id: string; url: string };
  /** edge queries one request may make (default EDGE_CALLS_MAX) */
  edgeCallsMax?: number;
  now?: () => number;
}

const PREFIX = '/sta/v1.1';

/** Navigation properties per entity set, and the set each leads to. */
const NAV: Record<string, Record<string, string>> = {
  Things: { Datastreams: 'Datastreams', Locations: 'Locations', HistoricalLocations: 'HistoricalLocations' },
  HistoricalLocations: { Thing: 'Things', Locations: 'Locations' },
  Locations: { Things: 'Things' },
  Datastreams: { Thing: 'Things', Sensor: 'Sensors', ObservedProperty: 'ObservedProperties', Observations: 'Observations' },
  Sensors: { Datastreams: 'Datastreams' },
  ObservedProperties: { Datastreams: 'Datastreams' },
  Observations: { Datastream: 'Datastreams', FeatureOfInterest: 'FeaturesOfInterest' },
};
const EXPAND_PARALLEL = 4;
const quoteId = (id: string): string => `'${id.replace(/'/g, "''")}'`;

/**
 * The public, read-only OGC SensorThings API 1.1 for environment monitors (issue 14).
 * No login. Its own per-address budget; the global API limiter skips these routes.
 * Implemented: entity sets Things (monitors, then sites as Things `site:<id>` with their AQI,
 * IAQI, category, primary pollutant and Ld/Ln Datastreams — site-things.ts), Locations,
 * Datastreams, ObservedProperties, Sensors and a Datastream's Observations (raw readings from the edge; the last 24 hours unless a
 * $filter on phenomenonTime says otherwise), navigation between them, $filter, $orderby,
 * $top/$skip/$count/$select, nested $expand (3 levels, each with its own options),
 * @iot.nextLink, ETag/Cache-Control. One request may make at most EDGE_CALLS_MAX edge
 * queries. `$resultFormat=dataArray` for Observations.
 */
export const staRoutes: FastifyPluginAsync<StaOptions> = async (fastify, opts) => {
  const limiter = opts.limiter ?? new PublicRateLimit(opts.rateLimitMax, opts.rateLimitWindowMs ?? 60_000, opts.now);
  const now = opts.now ?? Date.now;
  const resolve = staResolver(fastify, now);

  /** $expand of one entity: each navigation property inlined with its own options. */
  async function expand(base: string, set: string, e: Entity, o: Options, budget: Budget): Promise<Entity> {
    const out = select(e, o.select);
    for (const x of o.expand ?? []) {
      if (!NAV[set]?.[x.nav]) throw bad(`$expand: ${set} have no navigation property ${x.nav}`);
      const path = [`${set}(${quoteId(String(e['@iot.id']))})`, x.nav];
      const r = await render(base, path, x.opts, budget);
      if ('value' in r && Array.isArray(r.value)) {
        out[x.nav] = r.value;
        if (r['@iot.count'] !== undefined) out[`${x.nav}@iot.count`] = r['@iot.count'];
        if (r['@iot.nextLink']) out[`${x.nav}@iot.nextLink`] = r['@iot.nextLink'];
      } else out[x.nav] = r;
    }
    return out;
  }

  /** A resource with its options applied: filter, order, page, expand, select. */
  async function render(base: string, path: string[], o: Options, budget: Budget): Promise<Entity> {
    const r = await resolve(base, path, o, budget);
    if ('one' in r && typeof r.set === 'string') return expand(base, r.set, r.one as Entity, o, budget);
    if (!('items' in r)) return r;
    const c = r as Collection;
    const t = now();
    let items = o.filter ? c.items.filter((e) => evaluate(o.filter as NonNullable<Options['filter']>, e, t) === true) : c.items;
    if (o.orderby) items = sortBy(items, o.orderby);
    const out: Entity = {};
    const total = c.page ? c.page.total : items.length;
    if (o.count && !c.truncated) out['@iot.count'] = total;
    if (o.skip + o.top < total) {
      const q = new URLSearchParams({ ...o.raw, $top: String(o.top), $skip: String(o.skip + o.top) });
      out['@iot.nextLink'] = `${base}/${path.join('/')}?${q}`;
    }
    const pageItems = c.page ? items : items.slice(o.skip, o.skip + o.top);
    // At most EXPAND_PARALLEL at a time per level: a page of Datastreams each expanding
    // Observations is one edge query each, and a public request must not burst the edge
    // (the budget caps the total).
    const value: Entity[] = new Array<Entity>(pageItems.length);
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(EXPAND_PARALLEL, pageItems.length) }, async () => {
      while (next < pageItems.length) {
        const i = next++;
        value[i] = await expand(base, c.set, pageItems[i] as Entity, o, budget);
      }
    }));
    if (o.dataArray && c.set !== 'Observations') throw bad('$resultFormat=dataArray is for Observations');
    out.value = o.dataArray ? toDataArray(base, pageItems, o.select) : value;
    return out;
  }

  async function serve(request: FastifyRequest, reply: FastifyReply, rest: string): Promise<unknown> {
    const wait = limiter.take(request.ip);
    if (wait > 0) {
      return reply.code(429).header('retry-after', String(wait)).send({
        statusCode: 429, error: 'Too Many Requests', message: 'open-data rate limit for this address', code: CloudErrorCode.TooManyRequests,
      });
    }
    const base = `${request.protocol}://${request.host}${PREFIX}`;
    const path = rest.split('/').filter(Boolean).map((x) => decodeURIComponent(x));
    const body = await render(base, path, parseOptions(request.query as Record<string, string | undefined>), { edgeCalls: 0, max: opts.edgeCallsMax ?? EDGE_CALLS_MAX });
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
