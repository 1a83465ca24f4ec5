import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { ID_PATTERN } from '@yulan/protos';
import { DerivedEvent } from '../domain/air-index.js';
import { parseTime } from '../http-api.js';
import type { EventPoint, TelemetryStore } from '../store/store.js';
import { siteEventKey } from './site-exceedances.js';

const DAY_MS = 86_400_000;
/** An episode started up to this long before `from` may still overlap the range. */
const LOOKBACK_MS = 7 * DAY_MS;
const TIME = Type.String({ minLength: 1, maxLength: 40, description: 'epoch ms or ISO-8601' });

const SiteEventsQuery = Type.Object({
  site: Type.String({ pattern: ID_PATTERN.source }),
  from: Type.Optional(TIME),
  to: Type.Optional(TIME),
  open: Type.Optional(Type.Boolean({ description: 'only the exceedances still going on' })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 500 }),
}, { additionalProperties: false });

export interface SiteEventCounts { total: number; open: number; aqi: number; noise: number }

/** The counts of a list of site exceedance events. Pure. */
export function countSiteEvents(events: readonly EventPoint[]): SiteEventCounts {
  return {
    total: events.length,
    open: events.filter((e) => e.attributes.until === '').length,
    aqi: events.filter((e) => e.type === DerivedEvent.AqiExceeded).length,
    noise: events.filter((e) => e.type === DerivedEvent.NoiseExceeded).length,
  };
}

/** GET /v1/air-quality/site-events (edge token): a site's stored exceedance events that
 * overlap [from, to) (default the last 7 days, at most 31), oldest first, with counts. */
export function registerSiteEventRoutes(app: FastifyInstance, store: TelemetryStore, now: () => number, aqiAlertLevel: number): void {
  app.withTypeProvider<TypeBoxTypeProvider>().get('/v1/air-quality/site-events', { schema: { querystring: SiteEventsQuery } }, async (req, reply) => {
    const q = req.query;
    const t = now();
    const toMs = q.to === undefined ? t + 1 : parseTime(q.to, 'to', t);
    const fromMs = q.from === undefined ? toMs - 7 * DAY_MS : parseTime(q.from, 'from', t);
    if (fromMs >= toMs) return reply.code(400).send({ error: 'bad-request', message: 'from must be before to' });
    if (toMs - fromMs > 31 * DAY_MS) return reply.code(400).send({ error: 'bad-request', message: 'at most 31 days at a time' });
    const rows = await store.queryEvents({ deviceId: siteEventKey(q.site), fromMs: fromMs - LOOKBACK_MS, toMs, limit: q.limit + 200 });
    const overlapping = rows.filter((e) => {
      const until = e.attributes.until;
      return until === '' || until === undefined || Date.parse(until) > fromMs;
    });
    const events = (q.open ? overlapping.filter((e) => e.attributes.until === '') : overlapping).slice(-q.limit).map((e) => ({
      type: e.type, severity: e.severity, message: e.message, since: e.attributes.since ?? new Date(e.ts).toISOString(),
      until: e.attributes.until ? e.attributes.until : null, attributes: e.attributes,
    }));
    return {
      site: q.site, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), aqiAlertLevel,
      counts: countSiteEvents(overlapping), events,
    };
  });
}
