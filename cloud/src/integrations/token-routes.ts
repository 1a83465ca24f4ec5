import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { INTEGRATION_NAME_RE } from '@yulan/protos';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import { TOKEN_SCOPES } from './token-scopes.js';
import type { ApiTokenService } from './token-service.js';
import '../types.js';

const View = Type.Object({
  id: Type.String(), integration: Type.Union([Type.String(), Type.Null()]), scopes: Type.Array(Type.String()), sites: Type.Array(Type.String()),
  kinds: Type.Array(Type.String()), description: Type.Union([Type.String(), Type.Null()]), createdAt: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]), revokedAt: Type.Union([Type.String(), Type.Null()]),
});
const CreateBody = Type.Object({
  integration: Type.Optional(Type.Union([Type.String({ pattern: INTEGRATION_NAME_RE.source }), Type.Null()])),
  scopes: Type.Array(Type.String({ description: TOKEN_SCOPES.join(', ') }), { minItems: 1, maxItems: TOKEN_SCOPES.length }),
  sites: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100 })),
  kinds: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 20 })),
  description: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
  expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
}, { additionalProperties: false });
const Params = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{16}$' }) });

/** Scoped API tokens (admin token), mounted under /api/v1. The token is shown once. */
const tokenRoutes: FastifyPluginAsyncTypebox<{ tokens: ApiTokenService }> = async (fastify, { tokens }) => {
  fastify.addHook('onRequest', fastify.requireAdmin);
  const tags = ['integrations'];
  const actor = 'admin-token';

  fastify.post('/api-tokens', {
    schema: { tags, summary: 'Create a scoped API token (shown once), bound to an integration or standalone', security: adminSecurity, body: CreateBody,
      response: { 201: Type.Object({ apiToken: View, token: Type.String() }), ...errorResponses(400, 401, 404, 429) } },
  }, async (req, reply) => {
    const r = await tokens.create(req.body, actor);
    return reply.status(201).send({ apiToken: r.record, token: r.token });
  });

  fastify.get('/api-tokens', {
    schema: { tags, summary: 'List API tokens (never their secrets)', security: adminSecurity,
      querystring: Type.Object({ integration: Type.Optional(Type.String({ pattern: INTEGRATION_NAME_RE.source })) }),
      response: { 200: Type.Object({ items: Type.Array(View) }), ...errorResponses(400, 401, 429) } },
  }, async (req) => ({ items: await tokens.list(req.query.integration) }));

  fastify.get('/api-tokens/:id', {
    schema: { tags, summary: 'One API token', security: adminSecurity, params: Params, response: { 200: View, ...errorResponses(400, 401, 404, 429) } },
  }, async (req) => tokens.get(req.params.id));

  fastify.post('/api-tokens/:id/revoke', {
    schema: { tags, summary: 'Revoke an API token: refused from the next request on, open streams end', security: adminSecurity, params: Params,
      response: { 200: View, ...errorResponses(400, 401, 404, 429) } },
  }, async (req) => tokens.revoke(req.params.id, actor));
};
export default tokenRoutes;
