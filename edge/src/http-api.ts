import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { ID_PATTERN, MAX_QUERY_LIMIT, safeEqual } from '@yulan/protos';
import { EdgeError, EdgeErrorCode, StoreError } from './errors.js';
import type { EraseResult } from './erase.js';
import type { LatestCache } from './latest-cache.js';
import type { EdgeMetrics } from './metrics.js';
import type { DeleteRange, TelemetryStore } from './store/store.js';

export interface HttpApiDeps {
  token: string;
  store: TelemetryStore;
  latest: LatestCache;
  metrics: () => EdgeMetrics;
  outboxDepth: () => number;
  /** Recent alerts, newest first (works while the cloud is down). */
  alerts?: (limit: number, deviceId?: string) => unknown[];
  /** Erases a device's data in a time range (DELETE /v1/data). */
  erase?: (q: DeleteRange) => Promise<EraseResult>;
  logger: Logger;
  now?: () => number;
}

const DAY_MS = 86_400_000;
const TIME = Type.String({ minLength: 1, maxLength: 40, description: 'epoch ms or ISO-8601' });
const DEVICE_ID = Type.String({ pattern: ID_PATTERN.source });
const DEVICE_LIST = Type.String({ pattern: `^${ID_PATTERN.source.slice(1, -1)}(,${ID_PATTERN.source.slice(1, -1)})*$` });
const LIMIT = Type.Integer({ minimum: 1, maximum: MAX_QUERY_LIMIT, default: 1000 });

const TelemetryQuery = Type.Object({
  deviceId: DEVICE_ID,
  from: Type.Optional(TIME),
  to: Type.Optional(TIME),
  fields: Type.Optional(Type.String({ pattern: '^[a-z0-9_]+(,[a-z0-9_]+)*$' })),
  resolution: Type.Union([Type.Literal('raw'), Type.Literal('1m')], { default: 'raw' }),
  limit: LIMIT,
}, { additionalProperties: false });
const EventsQuery = Type.Object({
  deviceId: DEVICE_ID, from: Type.Optional(TIME), to: Type.Optional(TIME), limit: LIMIT,
}, { additionalProperties: false });
const AlertsQuery = Type.Object({
  deviceId: Type.Optional(DEVICE_ID), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
}, { additionalProperties: false });
// Both ends are required: an erasure never falls back to a default range.
const EraseQuery = Type.Object({ deviceId: DEVICE_ID, from: TIME, to: TIME }, { additionalProperties: false });
const LatestQuery = Type.Object({ deviceId: Type.Optional(DEVICE_LIST) }, { additionalProperties: false });

class BadRequest extends EdgeError {
  constructor(message: string) {
    super(EdgeErrorCode.Query, message);
  }
}

/** Epoch milliseconds (digits) or an ISO-8601 date. */
export function parseTime(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = /^-?\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new BadRequest(`${name}: expected epoch milliseconds or ISO-8601, got "${value}"`);
  return ms;
}

function range(q: { from?: string; to?: string }, now: number): { fromMs: number; toMs: number } {
  const toMs = parseTime(q.to, 'to', now + 1);
  const fromMs = parseTime(q.from, 'from', toMs - DAY_MS);
  if (fromMs >= toMs) throw new BadRequest('from must be before to');
  return { fromMs, toMs };
}

/** The edge query API of docs/architecture.md. Bearer token on everything but /healthz. */
export function buildHttpApi(d: HttpApiDeps): FastifyInstance {
  const now = d.now ?? Date.now;
  const app = Fastify({
    // Per-request info lines would drown the agent's own log; errors still get through.
    loggerInstance: d.logger.child({}, { level: 'warn' }) as FastifyBaseLogger,
    // Shutdown must not wait for the cloud's keep-alive connections to time out.
    forceCloseConnections: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onRequest', async (req, reply) => {
    if (req.url === '/healthz' || req.url.startsWith('/healthz?')) return;
    const h = req.headers.authorization ?? '';
    const token = h.startsWith('Bearer ') ? h.slice(7) : '';
    if (!token || !safeEqual(token, d.token)) {
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const e = err as Error & { validation?: unknown; statusCode?: number };
    if (e instanceof BadRequest || e.validation) {
      return reply.code(400).send({ error: 'bad-request', message: e.message });
    }
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(e.statusCode).send({ error: 'bad-request', message: e.message });
    }
    req.log.error({ err: e, url: req.url }, 'edge api request failed');
    if (e instanceof StoreError && e.retryable) return reply.code(503).send({ error: 'store-unavailable' });
    return reply.code(500).send({ error: 'internal' });
  });

  app.get('/healthz', async () => ({ status: 'ok', store: d.store.name, outbox: d.outboxDepth() }));

  app.get('/metrics', async () => d.metrics());

  app.get('/v1/telemetry', { schema: { querystring: TelemetryQuery } }, async (req) => {
    const q = req.query;
    const r = range(q, now());
    const fields = q.fields?.split(',');
    const base = { deviceId: q.deviceId, ...r, limit: q.limit, ...(fields ? { fields } : {}) };
    if (q.resolution === '1m') {
      return { deviceId: q.deviceId, resolution: '1m', points: await d.store.queryAggregates(base) };
    }
    return { deviceId: q.deviceId, resolution: 'raw', points: await d.store.queryRaw(base) };
  });

  app.get('/v1/latest', { schema: { querystring: LatestQuery } }, async (req) => {
    const ids = req.query.deviceId?.split(',');
    return { devices: d.latest.get(ids) };
  });

  // Devices whose newest reading is a fault (edge/src/domain/faults.ts), for fleet counts.
  app.get('/v1/faulted', async () => ({ devices: d.latest.faulted() }));

  app.get('/v1/events', { schema: { querystring: EventsQuery } }, async (req) => {
    const q = req.query;
    return { events: await d.store.queryEvents({ deviceId: q.deviceId, ...range(q, now()), limit: q.limit }) };
  });

  // Presence records in the range and the one before it (the console's presence timeline
  // and firmware history); same query shape as events.
  app.get('/v1/presence', { schema: { querystring: EventsQuery } }, async (req) => {
    const q = req.query;
    return { deviceId: q.deviceId, ...(await d.store.queryPresence({ deviceId: q.deviceId, ...range(q, now()), limit: q.limit })) };
  });

  const erase = d.erase;
  if (erase) {
    app.delete('/v1/data', { schema: { querystring: EraseQuery } }, async (req) => {
      const fromMs = parseTime(req.query.from, 'from', 0);
      const toMs = parseTime(req.query.to, 'to', 0);
      if (fromMs >= toMs) throw new BadRequest('from must be before to');
      const r = await erase({ deviceId: req.query.deviceId, fromMs, toMs });
      return { deviceId: r.deviceId, from: r.fromMs, to: r.toMs, outboxDropped: r.outboxDropped };
    });
  }

  const alerts = d.alerts;
  if (alerts) {
    app.get('/v1/alerts', { schema: { querystring: AlertsQuery } }, async (req) => ({
      alerts: alerts(req.query.limit, req.query.deviceId),
    }));
  }

  return app;
}
