import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { FirmwareModule } from '../firmware/index.js';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import { DeviceParams } from '../schemas/devices.js';
import { auditDeviceReads, type DeviceDataOptions } from '../routes/device-read-audit.js';
import { firmwareChanges, parsePresenceHistory, presenceTimeline, type PresenceHistory } from './presence-timeline.js';
import '../types.js';

const HOUR_MS = 3_600_000;
const MAX_RANGE_MS = 90 * 24 * HOUR_MS;
/** the edge's own cap per query; a range with more records is cut at the newest it returned */
const EDGE_LIMIT = 10_000;
/** how far back firmware history looks in the edge's presence records */
const FIRMWARE_LOOKBACK_MS = 365 * 24 * HOUR_MS;

const Ms = Type.Integer({ minimum: 0, description: 'epoch ms' });
const State = Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('unknown')]);
const TimelineSchema = Type.Object({
  deviceId: Type.String(), from: Ms, to: Ms,
  intervals: Type.Array(Type.Object({ from: Ms, to: Ms, state: State, reason: Type.String() })),
  totals: Type.Object({ online: Ms, offline: Ms, unknown: Ms }),
  changes: Type.Integer(), truncated: Type.Boolean(),
});
const FirmwareHistorySchema = Type.Object({
  deviceId: Type.String(),
  current: Type.Union([Type.String(), Type.Null()]),
  versions: Type.Array(Type.Object({ version: Type.String(), since: Ms })),
  campaigns: Type.Array(Type.Object({
    campaignId: Type.String(), firmwareId: Type.String(), version: Type.Union([Type.String(), Type.Null()]), status: Type.String(),
    reason: Type.Union([Type.String(), Type.Null()]), installedAt: Type.Union([Ms, Type.Null()]), finishedAt: Type.Union([Ms, Type.Null()]),
  })),
  edgeAvailable: Type.Boolean(),
});

export interface DeviceHistoryOptions extends DeviceDataOptions { firmware?: FirmwareModule }

/**
 * The device page's presence timeline and firmware history (issue 15). Presence lives at
 * the edge (every birth, will and broker connect/disconnect, with the firmware version the
 * device announced); campaigns live in the cloud's firmware module.
 */
const deviceHistoryRoutes: FastifyPluginAsyncTypebox<DeviceHistoryOptions> = async (fastify, opts) => {
  async function mustExist(id: string) {
    const d = await fastify.devices.get(id);
    if (!d) throw new CloudError(CloudErrorCode.NotFound, `device "${id}" is not registered`);
    return d;
  }
  async function history(deviceId: string, from: number, to: number): Promise<PresenceHistory> {
    const h = parsePresenceHistory(await fastify.edge.presence({ deviceId, from, to, limit: EDGE_LIMIT }));
    if (!h) throw new CloudError(CloudErrorCode.EdgeBadResponse, 'edge returned an invalid presence response');
    return h;
  }

  fastify.get('/devices/:id/presence', {
    schema: {
      tags: ['data'], security: adminSecurity, params: DeviceParams,
      summary: 'Online/offline intervals of one device over [from, to) (default: the last 24 hours, at most 90 days), from the edge',
      querystring: Type.Object({ from: Type.Optional(Ms), to: Type.Optional(Ms) }, { additionalProperties: false }),
      response: { 200: TimelineSchema, ...errorResponses(400, 401, 403, 404, 429, 502) },
    },
  }, async (request) => {
    const { id } = request.params;
    const to = request.query.to ?? Date.now();
    const from = request.query.from ?? to - 24 * HOUR_MS;
    if (from >= to) throw new CloudError(CloudErrorCode.Validation, 'querystring/from must be before to');
    if (to - from > MAX_RANGE_MS) throw new CloudError(CloudErrorCode.Validation, 'the range is at most 90 days');
    await mustExist(id);
    await auditDeviceReads(opts, request, 'device.presence', [{ deviceId: id, fromMs: from, toMs: to }]);
    const h = await history(id, from, to);
    const truncated = h.points.length >= EDGE_LIMIT;
    // Cut where the records end, rather than drawing the last state to `to` as if known.
    const end = truncated ? (h.points.at(-1)?.ts ?? to) + 1 : to;
    return { deviceId: id, ...presenceTimeline(h, from, end), truncated };
  });

  fastify.get('/devices/:id/firmware-history', {
    schema: {
      tags: ['firmware'], security: adminSecurity, params: DeviceParams,
      summary: 'Firmware versions the device announced over the last year (edge presence) and the campaigns that targeted it',
      response: { 200: FirmwareHistorySchema, ...errorResponses(401, 403, 404, 429) },
    },
  }, async (request) => {
    const { id } = request.params;
    const device = await mustExist(id);
    let versions: { version: string; since: number }[] = [];
    let edgeAvailable = true;
    try {
      const to = Date.now() + 1;
      versions = firmwareChanges(await history(id, to - FIRMWARE_LOOKBACK_MS, to));
    } catch (err) {
      // The campaigns are still worth showing when the edge is down.
      if (!(err instanceof CloudError)) throw err;
      edgeAvailable = false;
    }
    const m = opts.firmware;
    const campaigns = m ? (await Promise.all((await m.repo.listCampaigns()).map(async (c) => {
      const r = await m.repo.rollout(c.id, id);
      if (!r) return [];
      return [{
        campaignId: c.id, firmwareId: c.firmwareId, version: (await m.repo.getFirmware(c.firmwareId))?.version ?? null, status: r.status,
        reason: r.reason, installedAt: r.installedAt, finishedAt: r.finishedAt ?? null,
      }];
    }))).flat().reverse() : [];
    return { deviceId: id, current: device.firmwareVersion, versions, campaigns, edgeAvailable };
  });
};
export default deviceHistoryRoutes;
