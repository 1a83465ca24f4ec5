import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { CloudError, CloudErrorCode } from '../errors.js';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import { DeviceParams } from '../schemas/devices.js';
import { EventsQuery, EventsResponse, TelemetryQuery, TelemetryResponse } from '../schemas/data.js';
import { auditDeviceReads, type DeviceDataOptions } from './device-read-audit.js';
import type { DeviceRecord } from '../repositories/device-repository.js';
import { OPEN_GATE } from '../console/health-gate.js';
import { redactPoints } from '../console/redact.js';
import '../types.js';

const DAY_MS = 86_400_000;

/** Epoch ms or ISO-8601 → epoch ms; checked here so a typo is our 400, not an edge 502. */
function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{1,16}$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new CloudError(CloudErrorCode.Validation, `querystring/${name} must be epoch milliseconds or ISO-8601`);
  }
  return ms;
}

function range(q: { from?: string; to?: string }): { from?: number; to?: number } {
  const from = parseTime(q.from, 'from');
  const to = parseTime(q.to, 'to');
  if (from !== undefined && to !== undefined && from > to) {
    throw new CloudError(CloudErrorCode.Validation, 'querystring/from must not be after to');
  }
  return { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
}

/** Telemetry and events of one device, proxied to the edge query API with the edge token. */
const deviceData: FastifyPluginAsyncTypebox<DeviceDataOptions> = async (fastify, opts) => {
  /** Audited for the range read; the edge's default (the last day) when none is given. */
  async function audited(request: FastifyRequest, action: string, deviceId: string, times: { from?: number; to?: number }): Promise<void> {
    const toMs = times.to ?? Date.now() + 1;
    await auditDeviceReads(opts, request, action, [{ deviceId, fromMs: times.from ?? toMs - DAY_MS, toMs }]);
  }

  async function mustExist(id: string): Promise<DeviceRecord> {
    const d = await fastify.devices.get(id);
    if (!d) throw new CloudError(CloudErrorCode.NotFound, `device "${id}" is not registered`);
    return d;
  }
  function shaped<T>(body: unknown, key: string): T {
    if (typeof body !== 'object' || body === null || !Array.isArray((body as Record<string, unknown>)[key])) {
      throw new CloudError(CloudErrorCode.EdgeBadResponse, `edge returned an invalid response (no "${key}" array)`);
    }
    return body as T;
  }

  fastify.get(
    '/devices/:id/telemetry',
    {
      schema: {
        tags: ['data'],
        summary: 'Telemetry of one device (raw points or 1-minute aggregates), from the edge',
        security: adminSecurity,
        params: DeviceParams,
        querystring: TelemetryQuery,
        response: { 200: TelemetryResponse, ...errorResponses(400, 401, 404, 429, 502) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const q = request.query;
      const times = range(q);
      const device = await mustExist(id);
      await audited(request, 'device.telemetry', id, times);
      const body = await fastify.edge.telemetry({
        deviceId: id,
        ...times,
        resolution: q.resolution,
        ...(q.fields !== undefined ? { fields: q.fields } : {}),
        ...(q.limit !== undefined ? { limit: q.limit } : {}),
      });
      const data = shaped<{ deviceId: string; resolution: string; points: { ts: number; fields: Record<string, unknown> }[] }>(
        body,
        'points',
      );
      const { points, redacted } = await redactPoints(opts.health ?? OPEN_GATE, request, device, data.points);
      return { ...data, points, ...(redacted.length > 0 ? { redacted } : {}) };
    },
  );

  fastify.get(
    '/devices/:id/events',
    {
      schema: {
        tags: ['data'],
        summary: 'Events of one device, from the edge',
        security: adminSecurity,
        params: DeviceParams,
        querystring: EventsQuery,
        response: { 200: EventsResponse, ...errorResponses(400, 401, 404, 429, 502) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const times = range(request.query);
      await mustExist(id);
      const limit = request.query.limit;
      await audited(request, 'device.events', id, times);
      const body = await fastify.edge.events({ deviceId: id, ...times, ...(limit !== undefined ? { limit } : {}) });
      return shaped<{ events: never[] }>(body, 'events');
    },
  );
};
export default deviceData;
