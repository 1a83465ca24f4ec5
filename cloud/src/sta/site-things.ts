import type { FastifyInstance } from 'fastify';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { SiteRecord } from '../repositories/device-repository.js';
import { timeBounds } from './odata.js';
import { MAX_OBS_RANGE_MS, MAX_OBS_ROWS, parseObservationId, type Budget } from './observations.js';
import { bad, parseOptions, type Options } from './query-options.js';
import { parseFilter } from './odata.js';
import { featureOfInterest, location, type Entity } from './sta-model.js';
import {
  SITE_QUANTITIES, parseSiteDatastreamId, siteDatastream, siteDatastreamId, siteHistoricalLocation, siteObservation, siteObservedProperty,
  siteOfThing, siteSensor, siteThing, type AirPoint, type SiteQuantity,
} from './site-model.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const notFound = (what: string): CloudError => new CloudError(CloudErrorCode.NotFound, `${what} not found`);

/** What resolve() in routes.ts answers: one entity of a set, or a collection. */
export type Resolved = { set: string; one: Entity } | { set: string; items: Entity[]; truncated?: boolean };

/**
 * The site Things of the SensorThings API (site-model.ts): which sites have them, their
 * Datastreams and Observations. Privacy: a site is public only while an env monitor is
 * registered at it, and its figures are the edge's site indices, which are computed from
 * env monitors alone — a site with only a fall sensor (a home) is never a Thing and the
 * edge is never asked about it.
 */
export function siteSta(fastify: FastifyInstance, now: () => number) {
  const hasMonitor = async (site: string): Promise<boolean> =>
    (await fastify.devices.list({ kind: 'env-monitor', site, limit: 1, offset: 0 })).items.some((d) => d.kind === 'env-monitor');

  /** Registered sites with at least one env monitor: two registry queries, however many
   * sites (each page of Things or Datastreams asks, for its total). */
  async function sites(): Promise<SiteRecord[]> {
    const counts = await fastify.devices.fleetCounts();
    const used = new Set(counts.bySiteKind.filter((x) => x.kind === 'env-monitor' && x.total > 0).map((x) => x.site));
    return (await fastify.devices.listSites()).filter((s) => used.has(s.id));
  }
  async function site(id: string, what: string): Promise<SiteRecord> {
    const s = await fastify.devices.getSite(id);
    if (!s || !(await hasMonitor(id))) throw notFound(what);
    return s;
  }
  const streamsOf = (base: string, ss: readonly SiteRecord[], only?: SiteQuantity): Entity[] =>
    ss.flatMap((s) => (only ? [only] : SITE_QUANTITIES).map((q) => siteDatastream(base, s, q)));

  /** A site Datastream's Observations: the stored periods in the $filter's phenomenonTime
   * range (default: the last 24 whole hours, 30 days for daily figures; at most 31 days). */
  async function observations(base: string, s: SiteRecord, q: SiteQuantity, o: Options, budget: Budget): Promise<Resolved> {
    const bounds = o.filter ? timeBounds(o.filter, 'phenomenonTime') : {};
    const t = now();
    const to = Math.min(bounds.toMs ?? t, t + 1);
    // periods are keyed by their start: the 24 whole hours before the current one
    const from = bounds.fromMs ?? (q.period === 'hour' ? Math.floor(to / HOUR_MS) * HOUR_MS - DAY_MS : to - 30 * DAY_MS);
    if (to - from > MAX_OBS_RANGE_MS) throw bad('Observations: a $filter on phenomenonTime may span at most 31 days');
    if (to <= from) return { set: 'Observations', items: [] };
    if (++budget.edgeCalls > budget.max) {
      throw bad(`this query reads more than ${budget.max} Observation collections; use a smaller $top or a narrower $filter`);
    }
    const body = await fastify.edge.airQuality({ scope: 'site', id: s.id, measure: q.measure, period: q.period, from, to, limit: MAX_OBS_ROWS }) as { points?: AirPoint[] };
    const pts = body.points ?? [];
    const dsId = siteDatastreamId(s.id, q.field);
    return { set: 'Observations', items: pts.map((p) => siteObservation(base, dsId, q, p)), ...(pts.length >= MAX_OBS_ROWS ? { truncated: true } : {}) };
  }

  return {
    sites,
    things: async (base: string): Promise<Entity[]> => (await sites()).map((s) => siteThing(base, s)),
    streams: async (base: string, only?: SiteQuantity): Promise<Entity[]> => streamsOf(base, await sites(), only),
    /** The site Thing of a Location, if that site has one. */
    thingAt: async (base: string, s: SiteRecord): Promise<Entity[]> => ((await hasMonitor(s.id)) ? [siteThing(base, s)] : []),
    historicalLocations: async (base: string): Promise<Entity[]> => (await sites()).map((s) => siteHistoricalLocation(base, s)),
    quantity: (field: string): SiteQuantity | undefined => SITE_QUANTITIES.find((q) => q.field === field),
    observedProperties: (base: string): Entity[] => SITE_QUANTITIES.filter((q) => !q.field.startsWith('aqi_')).map((q) => siteObservedProperty(base, q)),

    /** `Set('site:…')[/Nav]` for a site Thing, its Datastreams, Observations and
     * HistoricalLocation; undefined when the id is not a site's. */
    async resolve(base: string, set: string, id: string, nav: string | undefined, o: Options, budget: Budget): Promise<Resolved | undefined> {
      if (set === 'Things' || set === 'HistoricalLocations') {
        const at = set === 'HistoricalLocations' ? id.lastIndexOf('@') : id.length;
        const siteId = siteOfThing(id.slice(0, at));
        if (siteId === undefined) return undefined;
        const s = await site(siteId, `${set === 'Things' ? 'Thing' : 'HistoricalLocation'} '${id}'`);
        if (set === 'HistoricalLocations' && id.slice(at + 1) !== String(s.createdAt)) throw notFound(`HistoricalLocation '${id}'`);
        if (!nav) return set === 'Things' ? { set, one: siteThing(base, s) } : { set, one: siteHistoricalLocation(base, s) };
        if (nav === 'Thing' && set === 'HistoricalLocations') return { set: 'Things', one: siteThing(base, s) };
        if (nav === 'Locations') return { set: 'Locations', items: [location(base, s)] };
        if (nav === 'Datastreams' && set === 'Things') return { set: 'Datastreams', items: streamsOf(base, [s]) };
        if (nav === 'HistoricalLocations' && set === 'Things') return { set: 'HistoricalLocations', items: [siteHistoricalLocation(base, s)] };
        throw notFound(`${set}('${id}')/${nav}`);
      }
      if (set === 'Datastreams') {
        if (siteOfThing(id) === undefined) return undefined;
        const ref = parseSiteDatastreamId(id);
        if (!ref) throw notFound(`Datastream '${id}'`);
        const s = await site(ref.site, `Datastream '${id}'`);
        if (!nav) return { set, one: siteDatastream(base, s, ref.quantity) };
        if (nav === 'Thing') return { set: 'Things', one: siteThing(base, s) };
        if (nav === 'Sensor') return { set: 'Sensors', one: siteSensor(base) };
        if (nav === 'ObservedProperty') return { set: 'ObservedProperties', one: siteObservedProperty(base, ref.quantity) };
        if (nav === 'Observations') return observations(base, s, ref.quantity, o, budget);
        throw notFound(`Datastreams('${id}')/${nav}`);
      }
      if (set === 'Observations') {
        if (siteOfThing(id) === undefined) return undefined;
        const ref = parseObservationId(id);
        const ds = ref && parseSiteDatastreamId(ref.dsId);
        if (!ref || !ds || ref.seq !== undefined) throw notFound(`Observation '${id}'`);
        const s = await site(ds.site, `Observation '${id}'`);
        if (nav === 'Datastream') return { set: 'Datastreams', one: siteDatastream(base, s, ds.quantity) };
        if (nav === 'FeatureOfInterest') return { set: 'FeaturesOfInterest', one: featureOfInterest(base, s) };
        if (nav) throw notFound(`Observations('${id}')/${nav}`);
        const iso = new Date(ref.ts).toISOString();
        const at = { ...parseOptions({}), filter: parseFilter(`phenomenonTime ge ${iso} and phenomenonTime le ${iso}`) };
        const page = await observations(base, s, ds.quantity, at, budget);
        const one = 'items' in page ? page.items.find((x) => x['@iot.id'] === id) : undefined;
        if (!one) throw notFound(`Observation '${id}'`);
        return { set: 'Observations', one };
      }
      return undefined;
    },

    /** `/Observations?$filter=Datastream/@iot.id eq 'site:…'`. */
    async pinned(base: string, dsId: string, o: Options, budget: Budget): Promise<Resolved | undefined> {
      if (siteOfThing(dsId) === undefined) return undefined;
      const ref = parseSiteDatastreamId(dsId);
      const s = ref && (await fastify.devices.getSite(ref.site));
      if (!ref || !s || !(await hasMonitor(s.id))) return { set: 'Observations', items: [] };
      return observations(base, s, ref.quantity, o, budget);
    },
  };
}
export type SiteSta = ReturnType<typeof siteSta>;
