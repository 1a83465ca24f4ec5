import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuditLog } from '../care/contracts.js';
import { actorOf } from '../care/people/route-helpers.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import { adminSecurity, errorResponses, KindSlugSchema } from '../schemas/common.js';
import { isSemver } from './semver.js';
import type { UpdatePolicy } from './update-policy.js';
import '../types.js';

const Minimum = Type.Object({
  kind: Type.String(), version: Type.String(), security: Type.Boolean(), advisory: Type.Union([Type.String(), Type.Null()]),
  setAt: Type.String(), setBy: Type.String(),
});
const Required = Type.Object({
  id: Type.String(), kind: Type.String(), site: Type.String(), status: Type.String(),
  firmwareVersion: Type.Union([Type.String(), Type.Null()]), minimumVersion: Type.String(), security: Type.Boolean(),
});
const KindParams = Type.Object({ kind: KindSlugSchema });

/**
 * Minimum supported firmware per kind and the devices below it (docs/security.md, "Update
 * required"), in the staff scope: reads are `view`; setting and clearing a minimum is
 * `firmware` (console/permissions.ts), audited.
 */
export const updatePolicyRoutes: FastifyPluginAsyncTypebox<{ policy: UpdatePolicy; audit?: AuditLog }> = async (fastify, { policy, audit }) => {
  const tags = ['firmware'];
  fastify.get('/firmware/minimum', {
    schema: { tags, security: adminSecurity, summary: 'Minimum supported firmware per kind', response: { 200: Type.Object({ items: Type.Array(Minimum) }), ...errorResponses(401, 403, 429) } },
  }, async () => ({ items: await policy.list() }));

  fastify.put('/firmware/minimum/:kind', {
    schema: {
      tags, security: adminSecurity, params: KindParams,
      summary: 'Set the lowest firmware version still supported for a kind; devices below it are "update required" (audited)',
      body: Type.Object({
        version: Type.String({ minLength: 5, maxLength: 64, description: 'SemVer' }),
        security: Type.Optional(Type.Boolean({ description: 'the version fixes a vulnerability' })),
        advisory: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'advisory id or text shown with the requirement' })),
      }, { additionalProperties: false }),
      response: { 200: Minimum, ...errorResponses(400, 401, 403, 429) },
    },
  }, async (request) => {
    const b = request.body;
    if (!isSemver(b.version)) throw new CloudError(CloudErrorCode.Validation, 'body/version must be a SemVer version (e.g. 1.4.2)');
    const actor = request.principal ? actorOf(request.principal) : 'admin-token';
    const m = await policy.set({ kind: request.params.kind, version: b.version, security: b.security ?? false, advisory: b.advisory ?? null, setBy: actor });
    await audit?.record({ actor, action: 'firmware.minimum.set', residentId: null, purpose: 'software updates', detail: `${m.kind} >= ${m.version}${m.security ? ' (security)' : ''}${m.advisory ? `: ${m.advisory}` : ''}` });
    request.log.info({ actor, kind: m.kind, version: m.version, security: m.security }, 'minimum firmware version set');
    return m;
  });

  fastify.delete('/firmware/minimum/:kind', {
    schema: { tags, security: adminSecurity, params: KindParams, summary: 'Clear a kind\'s minimum firmware version (audited)', response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 429) } },
  }, async (request, reply) => {
    if (!await policy.clear(request.params.kind)) throw new CloudError(CloudErrorCode.NotFound, `no minimum version is set for ${request.params.kind}`);
    const actor = request.principal ? actorOf(request.principal) : 'admin-token';
    await audit?.record({ actor, action: 'firmware.minimum.clear', residentId: null, purpose: 'software updates', detail: request.params.kind });
    return reply.status(204).send(null);
  });

  fastify.get('/firmware/update-required', {
    schema: {
      tags, security: adminSecurity, summary: 'Enabled devices below their kind\'s minimum firmware (or reporting none)',
      querystring: Type.Object({ kind: Type.Optional(KindSlugSchema), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
      response: { 200: Type.Object({ total: Type.Integer(), items: Type.Array(Required) }), ...errorResponses(400, 401, 403, 429) },
    },
  }, async (request) => {
    const all = (await policy.required()).filter((d) => request.query.kind === undefined || d.kind === request.query.kind);
    return { total: all.length, items: all.slice(0, request.query.limit ?? 100) };
  });
};
