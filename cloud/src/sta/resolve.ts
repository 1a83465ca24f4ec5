import type { FastifyInstance } from 'fastify';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { DeviceRecord, SiteRecord } from '../repositories/device-repository.js';
import { parseFilter } from './odata.js';
import { fetchObservations, parseObservationId, pinnedDatastream, type Budget } from './observations.js';
import { SITE_SENSOR_ID, siteObservedProperty, siteSensor } from './site-model.js';
import { siteSta } from './site-things.js';
import { bad, parseOptions, type Options } from './query-options.js';
import {
  QUANTITIES, SENSOR_ID, datastream, featureOfInterest, historicalLocation, location, observedProperty, parseDatastreamId,
  quantityOf, sensor, thing, type Entity,
} from './sta-model.js';
import '../types.js';

const SETS = ['Things', 'Locations', 'HistoricalLocations', 'Datastreams', 'Sensors', 'ObservedProperties', 'Observations', 'FeaturesOfInterest'];
const SEGMENT = /^([A-Za-z]+)(?:\('((?:[^']|'')*)'\))?$/;

function notFound(what: string): CloudError {
  return new CloudError(CloudErrorCode.NotFound, `${what} not found`);
}

/** A collection before paging: its set (for $expand) and, for Observations, whether the
 * edge had more rows than were fetched (then the count is unknown). */
export interface Collection {
  set: string;
  items: Entity[];
  truncated?: boolean;
  /** already the page [skip, skip + top) of `total` items (read page-wise from the registry) */
  page?: { total: number; offset: number };
}

/** What a resource path names: one entity with its set, a collection, or the service document. */
export type Resolved = { set: string; one: Entity } | Collection | Entity;

/**
 * The resource-path side of the SensorThings routes (routes.ts): a path such as
 * `Datastreams('id')/Observations` to the entity or collection it names, read from the
 * device registry (env monitors only), the sites (site-things.ts) and the edge.
 */
export function staResolver(fastify: FastifyInstance, now: () => number): (base: string, path: string[], o: Options, budget: Budget) => Promise<Resolved> {
  // Sites as Things with their AQI / noise Datastreams (site-model.ts), after the monitors.
  const siteS = siteSta(fastify, now);
  /** A registry page of `devTotal` items, continued by `more` once it runs out. */
  const continued = (items: Entity[], devTotal: number, o: Options, more: Entity[]): { items: Entity[]; total: number } => {
    const from = Math.max(0, o.skip - devTotal);
    return { items: [...items, ...more.slice(from, from + Math.max(0, o.top - items.length))], total: devTotal + more.length };
  };

  async function monitors(site?: string): Promise<DeviceRecord[]> {
    const out: DeviceRecord[] = [];
    for (let offset = 0; ; offset += 500) {
      // Only env monitors are ever read: the kind filter is the privacy boundary.
      const p = await fastify.devices.list({ kind: 'env-monitor', ...(site ? { site } : {}), limit: 500, offset });
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
  // No $filter or $orderby: the registry's own order and paging give the same page.
  const unordered = (o: Options): boolean => o.filter === undefined && o.orderby === undefined;
  const col = (set: string, items: Entity[], truncated?: boolean): Collection => ({ set, items, ...(truncated ? { truncated } : {}) });

  /** Resolves a resource path to one entity (with its set) or a collection. */
  async function resolve(base: string, path: string[], o: Options, budget: Budget): Promise<{ set: string; one: Entity } | Collection | Entity> {
    if (path.length === 0) {
      return {
        value: SETS.map((name) => ({ name, url: `${base}/${name}` })),
        serverSettings: { conformance: ['http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel', 'http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities', 'http://www.opengis.net/spec/iot_sensing/1.1/req/request-data'] },
      };
    }
    const segs = path.map((p) => {
      const m = SEGMENT.exec(p);
      if (!m) throw bad(`bad path segment "${p}"`);
      return { set: m[1] as string, id: m[2]?.replace(/''/g, "'") };
    });
    const [a, b] = segs;
    if (!a || segs.length > 2 || (b && b.id !== undefined)) throw bad("paths of at most Set('id')/Navigation are supported");
    const ofSite = a.id === undefined ? undefined : await siteS.resolve(base, a.set, a.id, b?.set, o, budget);
    if (ofSite) return 'one' in ofSite ? ofSite : col(ofSite.set, ofSite.items, ofSite.truncated);
    switch (a.set) {
      case 'Things': {
        if (a.id === undefined) {
          if (unordered(o)) {
            // Only the page is read: listing 5,000 monitors per request is what costs.
            const p = await fastify.devices.list({ kind: 'env-monitor', limit: o.top, offset: o.skip });
            const c = continued(p.items.filter((d) => d.kind === 'env-monitor').map((d) => thing(base, d)), p.total, o, await siteS.things(base));
            return { set: 'Things', items: c.items, page: { total: c.total, offset: o.skip } };
          }
          return col('Things', [...(await monitors()).map((d) => thing(base, d)), ...(await siteS.things(base))]);
        }
        const d = await monitor(a.id);
        if (!b) return { set: 'Things', one: thing(base, d) };
        if (b.set === 'Datastreams') return col('Datastreams', streamsOf(base, [d]));
        if (b.set === 'HistoricalLocations') return col('HistoricalLocations', [historicalLocation(base, d)]);
        if (b.set === 'Locations') {
          const st = await fastify.devices.getSite(d.site);
          return col('Locations', st ? [location(base, st)] : []);
        }
        break;
      }
      case 'Locations': {
        if (a.id === undefined) return col('Locations', (await sites(await monitors())).map((x) => location(base, x)));
        const st = await site(a.id);
        if (!b) return { set: 'Locations', one: location(base, st) };
        if (b.set === 'Things') return col('Things', [...(await monitors(st.id)).map((d) => thing(base, d)), ...(await siteS.thingAt(base, st))]);
        break;
      }
      case 'Datastreams': {
        if (a.id === undefined) {
          if (unordered(o)) {
            const per = QUANTITIES.length;
            const first = Math.floor(o.skip / per);
            const p = await fastify.devices.list({ kind: 'env-monitor', limit: Math.max(1, Math.ceil((o.skip + o.top) / per) - first), offset: first });
            const items = streamsOf(base, p.items.filter((d) => d.kind === 'env-monitor')).slice(o.skip - first * per, o.skip - first * per + o.top);
            const c = continued(items, p.total * per, o, await siteS.streams(base));
            return { set: 'Datastreams', items: c.items, page: { total: c.total, offset: o.skip } };
          }
          return col('Datastreams', [...streamsOf(base, await monitors()), ...(await siteS.streams(base))]);
        }
        const ref = parseDatastreamId(a.id);
        if (!ref) throw notFound(`Datastream '${a.id}'`);
        const d = await monitor(ref.deviceId);
        if (!b) return { set: 'Datastreams', one: datastream(base, d, ref.quantity) };
        if (b.set === 'Thing') return { set: 'Things', one: thing(base, d) };
        if (b.set === 'Sensor') return { set: 'Sensors', one: sensor(base) };
        if (b.set === 'ObservedProperty') return { set: 'ObservedProperties', one: observedProperty(base, ref.quantity) };
        if (b.set === 'Observations') {
          const page = await fetchObservations(fastify, base, d, ref.quantity, o, budget, now());
          return col('Observations', page.items, page.truncated);
        }
        break;
      }
      case 'ObservedProperties': {
        if (a.id === undefined) return col('ObservedProperties', [...QUANTITIES.map((q) => observedProperty(base, q)), ...siteS.observedProperties(base)]);
        const q = quantityOf(a.id);
        const sq = siteS.quantity(a.id);
        if (!q && !sq) throw notFound(`ObservedProperty '${a.id}'`);
        if (!b) return { set: 'ObservedProperties', one: q ? observedProperty(base, q) : siteObservedProperty(base, sq as NonNullable<typeof sq>) };
        if (b.set === 'Datastreams') {
          return col('Datastreams', [...(q ? (await monitors()).map((d) => datastream(base, d, q)) : []), ...(sq ? await siteS.streams(base, sq) : [])]);
        }
        break;
      }
      case 'Sensors': {
        if (a.id === undefined) return col('Sensors', [sensor(base), siteSensor(base)]);
        if (a.id === SITE_SENSOR_ID) {
          if (!b) return { set: 'Sensors', one: siteSensor(base) };
          if (b.set === 'Datastreams') return col('Datastreams', await siteS.streams(base));
          break;
        }
        if (a.id !== SENSOR_ID) throw notFound(`Sensor '${a.id}'`);
        if (!b) return { set: 'Sensors', one: sensor(base) };
        if (b.set === 'Datastreams') return col('Datastreams', streamsOf(base, await monitors()));
        break;
      }
      case 'Observations': {
        // One Observation by id (what selfLinks point to) and its Datastream; the set as a
        // whole is not listed — ask a Datastream for its Observations.
        if (a.id === undefined) {
          // Clients also ask the set with the Datastream in the filter.
          const pin = o.filter ? pinnedDatastream(o.filter) : undefined;
          if (!pin || b) throw bad("list Observations through one Datastream: Datastreams('id')/Observations or $filter=Datastream/@iot.id eq 'id'");
          const ofSitePin = await siteS.pinned(base, pin.id, { ...o, filter: pin.rest }, budget);
          if (ofSitePin && 'items' in ofSitePin) {
            o.filter = pin.rest;
            return col('Observations', ofSitePin.items, ofSitePin.truncated);
          }
          const ref = parseDatastreamId(pin.id);
          if (!ref) return col('Observations', []);
          const d = await fastify.devices.get(ref.deviceId);
          if (!d || d.kind !== 'env-monitor') return col('Observations', []);
          o.filter = pin.rest;
          const page = await fetchObservations(fastify, base, d, ref.quantity, o, budget, now());
          return col('Observations', page.items, page.truncated);
        }
        const ref = parseObservationId(a.id);
        const dsRef = ref && parseDatastreamId(ref.dsId);
        if (!ref || !dsRef) throw notFound(`Observation '${a.id}'`);
        const d = await monitor(dsRef.deviceId);
        if (b?.set === 'Datastream') return { set: 'Datastreams', one: datastream(base, d, dsRef.quantity) };
        if (b?.set === 'FeatureOfInterest') return { set: 'FeaturesOfInterest', one: featureOfInterest(base, await site(d.site)) };
        if (b) break;
        const iso = new Date(ref.ts).toISOString();
        const at = { ...parseOptions({}), filter: parseFilter(`phenomenonTime ge ${iso} and phenomenonTime le ${iso}`) };
        const page = await fetchObservations(fastify, base, d, dsRef.quantity, at, budget, now());
        const one = page.items.find((x) => x['@iot.id'] === a.id);
        if (!one) throw notFound(`Observation '${a.id}'`);
        return { set: 'Observations', one };
      }
      case 'FeaturesOfInterest': {
        if (a.id === undefined) return col('FeaturesOfInterest', (await sites(await monitors())).map((x) => featureOfInterest(base, x)));
        const st = await site(a.id);
        if (!b) return { set: 'FeaturesOfInterest', one: featureOfInterest(base, st) };
        if (b.set === 'Observations') throw bad("list Observations through a Datastream: Datastreams('id')/Observations");
        break;
      }
      case 'HistoricalLocations': {
        if (a.id === undefined) return col('HistoricalLocations', [...(await monitors()).map((d) => historicalLocation(base, d)), ...(await siteS.historicalLocations(base))]);
        const at = a.id.lastIndexOf('@');
        const d = at > 0 ? await monitor(a.id.slice(0, at)) : undefined;
        if (!d || String(d.createdAt) !== a.id.slice(at + 1)) throw notFound(`HistoricalLocation '${a.id}'`);
        if (!b) return { set: 'HistoricalLocations', one: historicalLocation(base, d) };
        if (b.set === 'Thing') return { set: 'Things', one: thing(base, d) };
        if (b.set === 'Locations') return col('Locations', [location(base, await site(d.site))]);
        break;
      }
      default:
    }
    throw notFound(path.join('/'));
  }
  return resolve;
}
