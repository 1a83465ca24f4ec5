import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { ID_PATTERN } from '@yulan/protos';
import { parseTime } from '../http-api.js';
import type { TelemetryStore } from '../store/store.js';
import { aqiEpisodes, noiseEpisodes } from '../domain/air-episodes.js';
import { registerSiteEventRoutes } from './site-events-routes.js';

const DAY_MS = 86_400_000;
const TIME = Type.String({ minLength: 1, maxLength: 40, description: 'epoch ms or ISO-8601' });

const AirQuery = Type.Object({
  scope: Type.Union([Type.Literal('device'), Type.Literal('site')], { default: 'device' }),
  id: Type.String({ pattern: ID_PATTERN.source }),
  measure: Type.Union([Type.Literal('aqi'), Type.Literal('noise')], { default: 'aqi' }),
  period: Type.Union([Type.Literal('hour'), Type.Literal('day'), Type.Literal('night')], { default: 'hour' }),
  from: Type.Optional(TIME),
  to: Type.Optional(TIME),
  limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
}, { additionalProperties: false });

const EpisodeQuery = Type.Object({
  scope: Type.Union([Type.Literal('device'), Type.Literal('site')], { default: 'site' }),
  id: Type.String({ pattern: ID_PATTERN.source }),
  from: Type.Optional(TIME),
  to: Type.Optional(TIME),
}, { additionalProperties: false });

/** GET /v1/air-quality: the computed AQI and noise levels of a monitor or a site (behind
 * the edge token, like every /v1 route). Default range: the last 7 days.
 * GET /v1/air-quality/exceedances: the episodes above `aqiAlertLevel` / the zone limit
 * in a range (at most 31 days), from the stored indices; for sites above all. */
export function registerAirRoutes(app: FastifyInstance, store: TelemetryStore, now: () => number = Date.now, aqiAlertLevel = 100): void {
  registerSiteEventRoutes(app, store, now, aqiAlertLevel);
  app.withTypeProvider<TypeBoxTypeProvider>().get('/v1/air-quality/exceedances', { schema: { querystring: EpisodeQuery } }, async (req, reply) => {
    const q = req.query;
    const t = now();
    const toMs = q.to === undefined ? t : parseTime(q.to, 'to', t);
    const fromMs = q.from === undefined ? toMs - 7 * DAY_MS : parseTime(q.from, 'from', t);
    if (toMs - fromMs > 31 * DAY_MS) return reply.code(400).send({ error: 'bad-request', message: 'at most 31 days at a time' });
    const read = (measure: 'aqi' | 'noise', period: 'hour' | 'day' | 'night') =>
      store.queryAirIndex({ scope: q.scope, id: q.id, measure, period, fromMs, toMs, limit: 31 * 24 + 1 });
    const episodes = [
      ...aqiEpisodes(await read('aqi', 'hour'), aqiAlertLevel),
      ...noiseEpisodes(await read('noise', 'day'), 'day'),
      ...noiseEpisodes(await read('noise', 'night'), 'night'),
    ].sort((a, b) => a.since.localeCompare(b.since));
    return { scope: q.scope, id: q.id, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), aqiAlertLevel, episodes };
  });
  app.withTypeProvider<TypeBoxTypeProvider>().get('/v1/air-quality', { schema: { querystring: AirQuery } }, async (req, reply) => {
    const q = req.query;
    if (q.measure === 'aqi' && q.period === 'night') return reply.code(400).send({ error: 'bad-request', message: 'AQI periods are hour and day' });
    if (q.measure === 'noise' && q.period === 'hour') return reply.code(400).send({ error: 'bad-request', message: 'noise periods are day (Ld) and night (Ln)' });
    const t = now();
    const toMs = q.to === undefined ? t : parseTime(q.to, 'to', t);
    const fromMs = q.from === undefined ? toMs - 7 * DAY_MS : parseTime(q.from, 'from', t);
    const points = await store.queryAirIndex({ scope: q.scope, id: q.id, measure: q.measure, period: q.period, fromMs, toMs, limit: q.limit });
    return { scope: q.scope, id: q.id, measure: q.measure, period: q.period, points };
  });
}
