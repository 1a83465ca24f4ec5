import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CloudError, CloudErrorCode } from '../../errors.js';
import { adminSecurity, errorResponses } from '../../schemas/common.js';
import type { PeopleModule } from './index.js';
import { Level } from './policy.js';
import { purposeOf } from './purpose.js';
import { eraseDeviceData, exportDeviceData } from './resident-data.js';
import { residentFor } from './resident-routes.js';
import { actorOf, iso, isAdmin, requireAdmin, toAuditView, toGrantView, toResidentView, who } from './route-helpers.js';
import { ActivityQuery, ActivityResponse, AuditList, AuditQuery, ResidentParams } from './schemas.js';
import '../../types.js';

/** The fall-sensor fields that make up "activity" (protos flattenTelemetry names). */
const ACTIVITY_FIELDS = 'presence,motion,movement_level,fall,long_lie,heart_rate_bpm,breathing_rate_bpm,battery_pct';
const PURPOSE_HEADER_DOC = 'why (X-Yulan-Purpose header, else the default purpose) is written to the audit log';

function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{1,16}$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new CloudError(CloudErrorCode.Validation, `querystring/${name} must be epoch milliseconds or ISO-8601`);
  return ms;
}

const ExportResponse = Type.Object(
  {
    exportedAt: Type.String({ format: 'date-time' }),
    resident: Type.Unknown(),
    community: Type.Unknown(),
    devices: Type.Array(Type.String()),
    family: Type.Array(Type.Unknown()),
    healthGrants: Type.Array(Type.Unknown()),
    alerts: Type.Array(Type.Unknown(), { description: "the alert side's records (alerts, timelines, notifications)" }),
    deviceData: Type.Array(Type.Unknown(), {
      description: 'per device and linked period: the raw telemetry and events held at the edge ({deviceId, from, to, telemetry, events, complete})',
    }),
    accessLog: Type.Array(Type.Unknown(), { description: "audit entries about this resident's data" }),
  },
  { description: 'everything held about a resident' },
);
const EraseResponse = Type.Object({
  residentId: Type.String(),
  erased: Type.Object({
    alerts: Type.Integer(), devices: Type.Integer(), familyLinks: Type.Integer(),
    devicePeriods: Type.Integer({ description: 'device link periods whose telemetry and events were deleted at the edge' }),
  }),
});

/** Health-data reads (audited), export, erasure and the audit log itself. */
const privacyRoutes: FastifyPluginAsyncTypebox<{ people: PeopleModule }> = async (fastify, { people }) => {
  const { residents, users, staff } = people.repo;

  fastify.get(
    '/residents/:id/activity',
    {
      schema: {
        tags: ['residents'], summary: `Recent fall-sensor readings of the resident's devices; ${PURPOSE_HEADER_DOC}`,
        security: adminSecurity, params: ResidentParams, querystring: ActivityQuery,
        response: { 200: ActivityResponse, ...errorResponses(400, 401, 403, 404, 429, 502) },
      },
    },
    async (request) => {
      const p = who(request);
      const from = parseTime(request.query.from, 'from');
      const to = parseTime(request.query.to, 'to');
      if (from !== undefined && to !== undefined && from > to) throw new CloudError(CloudErrorCode.Validation, 'querystring/from must not be after to');
      const { resident } = await residentFor(people, p, request.params.id, 'health');
      const devices = [];
      for (const deviceId of await residents.devicesOf(resident.id)) {
        const body = (await fastify.edge.telemetry({
          deviceId, resolution: 'raw', fields: ACTIVITY_FIELDS,
          ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}),
          ...(request.query.limit !== undefined ? { limit: request.query.limit } : {}),
        })) as { points?: unknown } | null;
        if (!Array.isArray(body?.points)) throw new CloudError(CloudErrorCode.EdgeBadResponse, 'edge returned an invalid response (no "points" array)');
        devices.push({ deviceId, points: body.points as { ts: number; fields: Record<string, unknown> }[] });
      }
      // Written before the data leaves: a read that cannot be logged does not happen.
      await people.audit.record({
        actor: actorOf(p), action: 'resident.activity', residentId: resident.id,
        purpose: purposeOf(request, 'care: recent activity'), detail: `devices=${devices.length}`,
      });
      return { residentId: resident.id, devices };
    },
  );

  fastify.get(
    '/residents/:id/export',
    {
      schema: {
        tags: ['residents'], summary: `Everything held about a resident (admins, or their family); ${PURPOSE_HEADER_DOC}`,
        security: adminSecurity, params: ResidentParams, response: { 200: ExportResponse, ...errorResponses(400, 401, 403, 404, 429, 502) },
      },
    },
    async (request, reply) => {
      const p = who(request);
      const { resident } = await residentFor(people, p, request.params.id, 'health');
      if (!isAdmin(p) && !(p.kind === 'person' && p.role === 'family')) {
        throw new CloudError(CloudErrorCode.Forbidden, 'an export needs an administrator or a family member');
      }
      const alerts = (await people.alertData()?.exportResident(resident.id)) ?? [];
      const deviceData = await exportDeviceData(fastify.edge, await residents.linkPeriods(resident.id, people.now()));
      const points = deviceData.reduce((n, d) => n + d.telemetry.length + d.events.length, 0);
      await people.audit.record({
        actor: actorOf(p), action: 'resident.export', residentId: resident.id,
        purpose: purposeOf(request, 'data subject access request'), detail: `alerts=${alerts.length} devicePoints=${points}`,
      });
      const now = people.now();
      const devices = await residents.devicesOf(resident.id);
      const community = await residents.community(resident.communityId);
      return reply.header('cache-control', 'no-store').send({
        exportedAt: iso(now),
        resident: toResidentView(resident, devices, Level.Health),
        community: community ? { id: community.id, name: community.name } : null,
        devices,
        family: await Promise.all((await residents.family(resident.id)).map(async (l) => ({ ...l, name: (await users.get(l.userId))?.name ?? null }))),
        healthGrants: (await staff.grants()).filter((g) => g.residentId === resident.id).map((g) => toGrantView(g, now)),
        alerts,
        deviceData,
        accessLog: (await people.audit.query({ residentId: resident.id, limit: 10_000 })).map(toAuditView),
      });
    },
  );

  fastify.delete(
    '/residents/:id',
    {
      schema: {
        tags: ['residents'],
        summary: "Erase a resident: their devices' telemetry and events at the edge for the linked periods, profile, device and family links, alerts and notifications (audit rows keep only the id); 502 and nothing erased here when the edge cannot delete",
        security: adminSecurity, params: ResidentParams, response: { 200: EraseResponse, ...errorResponses(400, 401, 403, 404, 429, 502) },
      },
    },
    async (request) => {
      const p = who(request);
      const { resident } = await residentFor(people, p, request.params.id, 'admin');
      // Outside in: the edge's device data, then alerts, then the resident. If a step
      // fails, the resident and their link periods are still here and the same request
      // can be repeated; the other order could leave data no one can find to delete.
      const devicePeriods = await eraseDeviceData(fastify.edge, await residents.linkPeriods(resident.id, people.now()));
      const alerts = (await people.alertData()?.eraseResident(resident.id)) ?? 0;
      // The erasure's audit row is written in the erasure's transaction: no erasure unrecorded.
      const erased = await residents.erase(resident.id, {
        actor: actorOf(p), action: 'resident.erase', residentId: resident.id,
        purpose: purposeOf(request, 'erasure request'), detail: `alerts=${alerts} devicePeriods=${devicePeriods}`,
      });
      if (!erased) throw new CloudError(CloudErrorCode.NotFound, `resident "${resident.id}" not found`);
      request.log.info({ residentId: resident.id, alerts, devicePeriods, ...erased }, 'resident erased');
      return { residentId: resident.id, erased: { alerts, devicePeriods, ...erased } };
    },
  );

  fastify.get(
    '/audit',
    {
      schema: {
        tags: ['residents'], summary: 'Audit log of health-data reads, newest first (admins)', security: adminSecurity,
        querystring: AuditQuery, response: { 200: AuditList, ...errorResponses(400, 401, 403, 429) },
      },
    },
    async (request) => {
      requireAdmin(request);
      const q = request.query;
      return {
        items: (await people.audit
          .query({ limit: q.limit, ...(q.residentId ? { residentId: q.residentId } : {}), ...(q.actor ? { actor: q.actor } : {}), ...(q.beforeId ? { beforeId: q.beforeId } : {}) }))
          .map(toAuditView),
      };
    },
  );
};
export default privacyRoutes;
