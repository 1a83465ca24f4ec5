import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import { CloudError, CloudErrorCode } from '../errors.js';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import { SiteParams } from '../schemas/sites.js';
import '../types.js';

const TIME = Type.String({ minLength: 1, maxLength: 40, description: 'epoch ms or ISO-8601' });
const Query = Type.Object({
  from: Type.Optional(TIME),
  to: Type.Optional(TIME),
  open: Type.Optional(Type.Boolean({ description: 'only exceedances still going on' })),
}, { additionalProperties: false });

const Counts = Type.Object({ total: Type.Integer(), open: Type.Integer(), aqi: Type.Integer(), noise: Type.Integer() });
const Event = Type.Object({
  type: Type.String({ description: 'air.aqi_exceeded | air.noise_exceeded' }),
  severity: Type.String(),
  message: Type.String(),
  since: Type.String({ description: 'ISO 8601' }),
  until: Type.Union([Type.String(), Type.Null()], { description: 'null while it lasts' }),
  attributes: Type.Record(Type.String(), Type.String()),
});
const SiteExceedances = Type.Object({
  site: Type.String(), from: Type.String(), to: Type.String(), aqiAlertLevel: Type.Number(), counts: Counts, events: Type.Array(Event),
});
const AllExceedances = Type.Object({
  counts: Counts,
  sites: Type.Array(Type.Object({ site: Type.String(), nameZh: Type.String(), nameEn: Type.String(), counts: Counts, events: Type.Array(Event) })),
});
type SiteBody = Static<typeof SiteExceedances>;

function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{1,16}$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new CloudError(CloudErrorCode.Validation, `querystring/${name} must be epoch milliseconds or ISO-8601`);
  return ms;
}

function shaped(body: unknown): SiteBody {
  const b = body as Partial<SiteBody> | null;
  if (!b || !Array.isArray(b.events) || typeof b.counts !== 'object') {
    throw new CloudError(CloudErrorCode.EdgeBadResponse, 'edge returned an invalid response (no "events" array)');
  }
  return b as SiteBody;
}

/**
 * Site exceedances for operators (issue 14), under /api/v1 (staff `view`): the events the
 * edge stores when a site's hourly AQI goes above YULAN_AQI_ALERT_LEVEL or its Ld/Ln over
 * its GB 3096 zone limit, each with since and until (null while it lasts), and counted.
 * Read from the edge like every stored event; no personal data is in them.
 */
const siteExceedances: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/sites/:id/exceedances', {
    schema: {
      tags: ['sites'], summary: "A site's AQI and noise exceedances (stored events, with since/until and counts)", security: adminSecurity,
      params: SiteParams, querystring: Query, response: { 200: SiteExceedances, ...errorResponses(400, 401, 404, 429, 502) },
    },
  }, async (request) => {
    const s = await fastify.devices.getSite(request.params.id);
    if (!s) throw new CloudError(CloudErrorCode.NotFound, `site "${request.params.id}" is not registered`);
    const q = request.query;
    return shaped(await fastify.edge.siteEvents({ site: s.id, from: parseTime(q.from, 'from'), to: parseTime(q.to, 'to'), open: q.open }));
  });

  fastify.get('/exceedances', {
    schema: {
      tags: ['sites'], summary: 'Exceedances of every registered site that has any (default: the last 7 days; open=true: those going on now)',
      security: adminSecurity, querystring: Query, response: { 200: AllExceedances, ...errorResponses(400, 401, 429, 502) },
    },
  }, async (request) => {
    const q = request.query;
    const from = parseTime(q.from, 'from');
    const to = parseTime(q.to, 'to');
    const out: Static<typeof AllExceedances>['sites'] = [];
    // one edge query per site, in order: sites are a city's dozens, not thousands
    for (const s of await fastify.devices.listSites()) {
      const b = shaped(await fastify.edge.siteEvents({ site: s.id, from, to, open: q.open }));
      if (b.events.length > 0) out.push({ site: s.id, nameZh: s.nameZh, nameEn: s.nameEn, counts: b.counts, events: b.events });
    }
    const counts = { total: 0, open: 0, aqi: 0, noise: 0 };
    for (const x of out) for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] += x.counts[k];
    return { counts, sites: out };
  });
};
export default siteExceedances;
