import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CloudError, CloudErrorCode } from '../errors.js';
import { adminSecurity, errorResponses, ErrorResponse, Id } from '../schemas/common.js';
import type { ControlModule } from './index.js';
import type { CommandRow } from './store.js';
import { StaleVersionError } from './twins.js';
import { actorOf, who } from '../care/people/route-helpers.js';
import '../types.js';

const StatusLiteral = Type.Union([
  Type.Literal('queued'), Type.Literal('sent'), Type.Literal('acknowledged'), Type.Literal('succeeded'),
  Type.Literal('failed'), Type.Literal('timed_out'), Type.Literal('expired'),
]);
const Settings = Type.Record(Type.String(), Type.Number());
const TwinView = Type.Object({
  deviceId: Type.String(), kind: Type.String(),
  desired: Type.Object({ version: Type.Integer(), settings: Settings, updatedAt: Type.Union([Type.String(), Type.Null()]), updatedBy: Type.Optional(Type.Union([Type.String(), Type.Null()])) }),
  reported: Type.Object({ appliedVersion: Type.Integer(), settings: Settings, error: Type.Union([Type.String(), Type.Null()]), updatedAt: Type.Union([Type.String(), Type.Null()]) }),
  delta: Type.Record(Type.String(), Type.Object({ desired: Type.Number(), reported: Type.Union([Type.Number(), Type.Null()]) })),
  inSync: Type.Boolean(),
});
const NullableString = Type.Union([Type.String(), Type.Null()]);
const CommandView = Type.Object({
  id: Type.String(), deviceId: Type.String(), name: Type.String(), args: Type.Record(Type.String(), Type.String()),
  status: StatusLiteral, message: NullableString, output: Type.Record(Type.String(), Type.String()),
  idempotencyKey: NullableString, timeoutSec: Type.Number(), requestedBy: NullableString,
  createdAt: Type.String(), expiresAt: Type.String(), deadlineAt: NullableString, updatedAt: Type.String(),
  transitions: Type.Array(Type.Object({ status: StatusLiteral, at: Type.String(), message: NullableString })),
});
const Conflict = Type.Object({ ...ErrorResponse.properties, currentVersion: Type.Integer() });
const DeviceParams = Type.Object({ id: Id });

const iso = (ms: number): string => new Date(ms).toISOString();

/** Twin and command routes (admin token), mounted under /api/v1 by routes/index.ts. */
const controlRoutes: FastifyPluginAsyncTypebox<{ control: ControlModule }> = async (fastify, { control }) => {
  fastify.addHook('onRequest', fastify.authorizeStaff);

  const view = async (r: CommandRow) => ({
    id: r.id, deviceId: r.device_id, name: r.name, args: JSON.parse(r.args) as Record<string, string>,
    status: r.status, message: r.message, output: r.output ? (JSON.parse(r.output) as Record<string, string>) : {},
    idempotencyKey: r.idempotency_key, timeoutSec: r.timeout_ms / 1000, requestedBy: r.requested_by ?? null,
    createdAt: iso(r.created_at), expiresAt: iso(r.expires_at), deadlineAt: r.deadline_at === null ? null : iso(r.deadline_at), updatedAt: iso(r.updated_at),
    transitions: (await control.commands.transitionsOf(r.id)).map((t) => ({ status: t.status, at: iso(t.at), message: t.message })),
  });

  fastify.get('/devices/:id/twin', {
    schema: { tags: ['control'], summary: 'Desired, reported and delta of a device twin; ETag = desired version', security: adminSecurity,
      params: DeviceParams, response: { 200: TwinView, ...errorResponses(400, 401, 404, 429) } },
  }, async (request, reply) => {
    const twin = await control.twins.get(request.params.id);
    return reply.header('etag', `"${twin.desired.version}"`).send(twin);
  });

  fastify.put('/devices/:id/twin/desired', {
    schema: { tags: ['control'], summary: 'Merge-patch the desired settings (null removes a key); If-Match or body version guards', security: adminSecurity,
      params: DeviceParams,
      headers: Type.Object({ 'if-match': Type.Optional(Type.String({ maxLength: 32 })) }),
      // Null before Number: Fastify's Ajv coerces types, and tries anyOf branches in order,
      // so with Number first a JSON null (release the key) became 0 and was applied.
      body: Type.Object({ settings: Type.Record(Type.String({ maxLength: 64 }), Type.Union([Type.Null(), Type.Number()])), version: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: false }),
      response: { 200: TwinView, 409: Conflict, ...errorResponses(400, 401, 404, 429) } },
  }, async (request, reply) => {
    const header = request.headers['if-match'];
    let expected = request.body.version;
    if (header !== undefined) {
      const m = /^(?:W\/)?"?(\d+)"?$/.exec(header.trim());
      if (!m) throw new CloudError(CloudErrorCode.Validation, 'If-Match must be the desired version, e.g. If-Match: "3"');
      expected = Number(m[1]);
    }
    try {
      const { twin, published } = await control.twins.setDesired(request.params.id, request.body.settings, expected, actorOf(who(request)));
      return reply.header('etag', `"${twin.desired.version}"`).header('x-yulan-publish', published ? 'published' : 'pending').send(twin);
    } catch (err) {
      if (!(err instanceof StaleVersionError)) throw err;
      return reply.status(409).send({ statusCode: 409, error: 'Conflict', message: err.message, code: err.code, currentVersion: err.currentVersion });
    }
  });

  fastify.post('/devices/:id/commands', {
    schema: { tags: ['control'], summary: 'Send a command (queued while the device is offline); Idempotency-Key dedupes per device', security: adminSecurity,
      params: DeviceParams,
      headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }),
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 64 }),
        args: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Union([Type.String({ maxLength: 4096 }), Type.Number(), Type.Boolean()]))),
        expiresInSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86_400 })),
        timeoutSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
      }, { additionalProperties: false }),
      response: { 200: CommandView, 201: CommandView, ...errorResponses(400, 401, 404, 409, 429) } },
  }, async (request, reply) => {
    const { row, created } = await control.commands.create(request.params.id, request.body, request.headers['idempotency-key'], actorOf(who(request)));
    return reply.status(created ? 201 : 200).send(await view(row));
  });

  fastify.get('/devices/:id/commands', {
    schema: { tags: ['control'], summary: 'Commands of a device, newest first', security: adminSecurity, params: DeviceParams,
      querystring: Type.Object({ status: Type.Optional(StatusLiteral), limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }), offset: Type.Integer({ minimum: 0, default: 0 }) }),
      response: { 200: Type.Object({ items: Type.Array(CommandView), total: Type.Integer() }), ...errorResponses(400, 401, 404, 429) } },
  }, async (request) => {
    if (!(await fastify.devices.get(request.params.id))) throw new CloudError(CloudErrorCode.NotFound, `device "${request.params.id}" is not registered`);
    const q = request.query;
    const page = await control.commands.list(request.params.id, { limit: q.limit, offset: q.offset, ...(q.status ? { status: q.status } : {}) });
    return { items: await Promise.all(page.items.map(view)), total: page.total };
  });

  fastify.get('/commands/:id', {
    schema: { tags: ['control'], summary: 'One command with its transitions; ?wait=<s> holds until it is final (long-poll)', security: adminSecurity,
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
      querystring: Type.Object({ wait: Type.Optional(Type.Number({ minimum: 0, maximum: 60 })) }),
      response: { 200: CommandView, ...errorResponses(400, 401, 404, 429) } },
  }, async (request) => {
    const row = await control.commands.waitFinal(request.params.id, (request.query.wait ?? 0) * 1000);
    if (!row) throw new CloudError(CloudErrorCode.NotFound, `command "${request.params.id}" not found`);
    return await view(row);
  });

  fastify.get('/control/metrics', {
    schema: { tags: ['control'], summary: 'Control counters: malformed device messages by channel, publishes, watched devices', security: adminSecurity },
  }, async () => control.stats());
};
export default controlRoutes;
