import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { generateSecret, hashSecret, isReservedId, isValidId } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { EdgeLatest } from '../edge-client.js';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import { DeviceParams, DeviceView, ListQuery, ListResponse, RegisterBody, RegisterResponse } from '../schemas/devices.js';
import { toDeviceView } from '../views.js';
import { revokeLiveSession } from '../mqtt-link.js';
import type { DeviceRecord } from '../repositories/device-repository.js';
import { OPEN_GATE } from '../console/health-gate.js';
import { redactLatest, withRedacted } from '../console/redact.js';
import { auditDeviceReads, type DeviceDataOptions } from './device-read-audit.js';
import '../types.js';

const EDGE_HEADER = 'x-yulan-edge-available';

/** Registry routes under /api/v1 (admin token required; hook added in routes/index.ts). */
const devices: FastifyPluginAsyncTypebox<DeviceDataOptions> = async (fastify, opts) => {
  /** lastValues for a page of devices in one edge call; never fails the registry read.
   * The values shown are audited (a fall sensor's presence and motion are health data). */
  async function latestFor(request: FastifyRequest, devices: DeviceRecord[]): Promise<{ latest: Record<string, EdgeLatest>; edgeAvailable: boolean }> {
    const ids = devices.map((d) => d.id);
    let latest: Record<string, EdgeLatest>;
    try {
      latest = await fastify.edge.latest(ids);
    } catch (err) {
      fastify.log.warn({ err: { message: (err as Error).message, code: (err as CloudError).code } }, 'edge latest unavailable');
      return { latest: {}, edgeAvailable: false };
    }
    await auditDeviceReads(opts, request, 'device.latest', Object.entries(latest).map(([deviceId, e]) => ({ deviceId, fromMs: e.ts, toMs: e.ts + 1 })));
    return { latest: await redactLatest(opts.health ?? OPEN_GATE, request, devices, latest), edgeAvailable: true };
  }

  async function mustGet(id: string) {
    const d = await fastify.devices.get(id);
    if (!d) throw new CloudError(CloudErrorCode.NotFound, `device "${id}" is not registered`);
    return d;
  }

  fastify.post(
    '/devices',
    {
      schema: {
        tags: ['devices'],
        summary: 'Register a device; the response carries its secret, shown only once',
        security: adminSecurity,
        body: RegisterBody,
        response: { 201: RegisterResponse, ...errorResponses(400, 401, 409, 429) },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const id = b.id ?? `${b.kind}-${randomBytes(5).toString('hex')}`;
      // The schema pattern is the same rule; this keeps the guarantee if schemas drift.
      if (!isValidId(id) || !isValidId(b.site)) throw new CloudError(CloudErrorCode.Validation, 'invalid id or site');
      // The broker reads these MQTT usernames as service accounts: a device by that name
      // could never connect.
      if (isReservedId(id)) throw new CloudError(CloudErrorCode.Validation, `device id "${id}" is reserved`);
      const secret = generateSecret();
      const device = await fastify.devices.create({
        id,
        site: b.site,
        kind: b.kind,
        name: b.name ?? null,
        firmwareVersion: b.firmwareVersion ?? null,
        ...(b.firmwareUpdates !== undefined ? { firmwareUpdates: b.firmwareUpdates } : {}),
        secretHash: await hashSecret(secret),
      });
      request.log.info({ deviceId: id, site: b.site, kind: b.kind }, 'device registered');
      return reply.status(201).header('cache-control', 'no-store').send({ device: toDeviceView(device), secret });
    },
  );

  fastify.get(
    '/devices',
    {
      schema: {
        tags: ['devices'],
        summary: 'List devices (filters, pagination) with their latest values',
        security: adminSecurity,
        querystring: ListQuery,
        response: { 200: ListResponse, ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await fastify.devices.list({
        limit: q.limit,
        offset: q.offset,
        ...(q.site !== undefined ? { site: q.site } : {}),
        ...(q.kind !== undefined ? { kind: q.kind } : {}),
        ...(q.status !== undefined ? { status: q.status } : {}),
      });
      const { latest, edgeAvailable } = await latestFor(request, page.items);
      return {
        items: page.items.map((d) => withRedacted(toDeviceView(d, latest[d.id]), latest[d.id])),
        total: page.total,
        limit: q.limit,
        offset: q.offset,
        edgeAvailable,
      };
    },
  );

  fastify.get(
    '/devices/:id',
    {
      schema: {
        tags: ['devices'],
        summary: `One device; header ${EDGE_HEADER}: false when lastValues could not be fetched`,
        security: adminSecurity,
        params: DeviceParams,
        response: { 200: DeviceView, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request, reply) => {
      const d = await mustGet(request.params.id);
      const { latest, edgeAvailable } = await latestFor(request, [d]);
      return reply.header(EDGE_HEADER, String(edgeAvailable)).send(withRedacted(toDeviceView(d, latest[d.id]), latest[d.id]));
    },
  );

  fastify.post(
    '/devices/:id/disable',
    {
      schema: {
        tags: ['devices'],
        summary: 'Disable a device and revoke its live session (header x-yulan-revoke: published|pending)',
        security: adminSecurity,
        params: DeviceParams,
        response: { 200: DeviceView, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request, reply) => {
      const d = await fastify.devices.setDisabled(request.params.id, true);
      if (!d) throw new CloudError(CloudErrorCode.NotFound, `device "${request.params.id}" is not registered`);
      // The registry refuses the device from now on (device-auth answers 403); the revoke
      // message makes the broker cut the live session too.
      const revoke = await revokeLiveSession(fastify.control, d.id, request.log, 'disable');
      request.log.info({ deviceId: d.id, revoke }, 'device disabled');
      return reply.header('x-yulan-revoke', revoke).send(toDeviceView(d));
    },
  );

  fastify.post(
    '/devices/:id/enable',
    {
      schema: {
        tags: ['devices'],
        summary: 'Re-enable a disabled device (its secret is unchanged)',
        security: adminSecurity,
        params: DeviceParams,
        response: { 200: DeviceView, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const d = await fastify.devices.setDisabled(request.params.id, false);
      if (!d) throw new CloudError(CloudErrorCode.NotFound, `device "${request.params.id}" is not registered`);
      return toDeviceView(d);
    },
  );
};
export default devices;
