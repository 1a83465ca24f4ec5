import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { FleetCounts } from '../repositories/device-repository.js';
import { adminSecurity, errorResponses, Id, KindSlugSchema, StatusSchema } from '../schemas/common.js';
import { DeviceView } from '../schemas/devices.js';
import { toDeviceView } from '../views.js';
import { auditDeviceReads, type DeviceDataOptions } from '../routes/device-read-audit.js';
import { OPEN_GATE } from './health-gate.js';
import { redactLatest, withRedacted } from './redact.js';
import '../types.js';

export const FleetQuerySchema = Type.Object({
  site: Type.Optional(Id),
  kind: Type.Optional(KindSlugSchema),
  status: Type.Optional(StatusSchema),
  firmware: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  q: Type.Optional(Type.String({ maxLength: 64, description: 'case-insensitive substring of the id or name' })),
  faulted: Type.Optional(Type.Boolean({ description: 'only devices whose newest reading is a fault (docs/console.md, "Faulted")' })),
  sort: Type.Union(['id', 'site', 'kind', 'status', 'firmware', 'lastSeen'].map((s) => Type.Literal(s)), { default: 'id' }),
  order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'asc' }),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
  offset: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 0 }),
}, { additionalProperties: false });

const CountRow = Type.Object({
  site: Type.String(), kind: KindSlugSchema, online: Type.Integer(), offline: Type.Integer(), disabled: Type.Integer(),
  faulted: Type.Integer({ description: 'enabled devices whose newest reading is a fault; online and offline include them' }), total: Type.Integer(),
});
export const FleetCountsSchema = Type.Object({
  bySiteKind: Type.Array(CountRow),
  lastHour: Type.Object({ wentOnline: Type.Integer(), wentOffline: Type.Integer(), registered: Type.Integer() }),
  faultedAvailable: Type.Boolean({ description: 'false: the edge did not answer, faulted counts are 0 and unknown' }),
  asOf: Type.String({ format: 'date-time' }),
});

/** Counts are a full index scan (~40 ms at 100,000 devices): shared for this long by every console. */
const COUNTS_TTL_MS = 2000;

/** The console's fleet table and its counts (issue 15), behind `authorizeStaff` (view). */
const fleetRoutes: FastifyPluginAsyncTypebox<DeviceDataOptions> = async (fastify, opts) => {
  let cached: { at: number; counts: FleetCounts; faultedAvailable: boolean } | undefined;

  /** Ids of the faulted devices, from the edge (it keeps the set as readings arrive). */
  async function faultedIds(): Promise<string[]> {
    const body = (await fastify.edge.faulted()) as { devices?: unknown } | null;
    if (!Array.isArray(body?.devices)) throw new CloudError(CloudErrorCode.EdgeBadResponse, 'edge /v1/faulted: missing "devices"');
    return body.devices.flatMap((d) => (typeof (d as { deviceId?: unknown }).deviceId === 'string' ? [(d as { deviceId: string }).deviceId] : []));
  }

  fastify.get('/fleet', {
    schema: {
      tags: ['devices'], summary: 'The fleet table: filtered, searched, sorted, paged on the server, with latest values of the page',
      security: adminSecurity, querystring: FleetQuerySchema,
      response: { 200: Type.Object({ items: Type.Array(DeviceView), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer(), edgeAvailable: Type.Boolean() }), ...errorResponses(400, 401, 403, 429) },
    },
  }, async (request) => {
    const q = request.query;
    const page = await fastify.devices.fleet({
      ...(q.site !== undefined ? { site: q.site } : {}), ...(q.kind !== undefined ? { kind: q.kind } : {}),
      ...(q.status !== undefined ? { status: q.status } : {}), ...(q.firmware !== undefined ? { firmware: q.firmware } : {}),
      ...(q.q !== undefined ? { text: q.q.trim() } : {}),
      ...(q.faulted === true ? { ids: await faultedIds() } : {}),
      sort: q.sort as 'id', order: q.order, limit: q.limit, offset: q.offset,
    });
    let latest = {};
    let edgeAvailable = true;
    try {
      const raw = await fastify.edge.latest(page.items.map((d) => d.id));
      await auditDeviceReads(opts, request, 'device.latest', Object.entries(raw).map(([deviceId, e]) => ({ deviceId, fromMs: e.ts, toMs: e.ts + 1 })));
      latest = await redactLatest(opts.health ?? OPEN_GATE, request, page.items, raw);
    } catch (err) {
      if (!(err instanceof CloudError)) throw err;
      edgeAvailable = false;
    }
    const l = latest as Record<string, Parameters<typeof withRedacted>[1]>;
    return {
      items: page.items.map((d) => withRedacted(toDeviceView(d, l[d.id]), l[d.id])),
      total: page.total, limit: q.limit, offset: q.offset, edgeAvailable,
    };
  });

  fastify.get('/fleet/counts', {
    schema: {
      tags: ['devices'], summary: 'Devices per site and kind (online, offline, disabled, faulted) and what changed in the last hour',
      security: adminSecurity, response: { 200: FleetCountsSchema, ...errorResponses(401, 403, 429) },
    },
  }, async () => {
    const now = Date.now();
    if (!cached || now - cached.at > COUNTS_TTL_MS) {
      let ids: string[] = [];
      let faultedAvailable = true;
      try {
        ids = await faultedIds();
      } catch (err) {
        if (!(err instanceof CloudError)) throw err;
        faultedAvailable = false;
      }
      cached = { at: now, counts: await fastify.devices.fleetCounts(ids), faultedAvailable };
    }
    return { ...cached.counts, faultedAvailable: cached.faultedAvailable, asOf: new Date(cached.at).toISOString() };
  });
};
export default fleetRoutes;
