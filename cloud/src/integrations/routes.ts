import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { INTEGRATION_NAME_RE, INTEGRATION_USER_PREFIX } from '@yulan/protos';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import type { IntegrationService } from './service.js';
import type { IntegrationRecord } from './store.js';
import '../types.js';

const Rule = Type.Object({
  filter: Type.String({ minLength: 1, maxLength: 256 }),
  read: Type.Optional(Type.Boolean()),
  write: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });
const StoredRule = Type.Object({ filter: Type.String(), read: Type.Boolean(), write: Type.Boolean() });
const Body = Type.Object({
  rules: Type.Optional(Type.Array(Rule, { maxItems: 100 })),
  namespace: Type.Optional(Type.Boolean()),
  healthGrant: Type.Optional(Type.Boolean()),
  description: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
}, { additionalProperties: false });
const CreateBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 32 }), ...Body.properties }, { additionalProperties: false });
const View = Type.Object({
  name: Type.String(), mqttUsername: Type.String(), status: Type.String(), rules: Type.Array(StoredRule), namespace: Type.Boolean(),
  namespaceFilter: Type.Union([Type.String(), Type.Null()]), healthGrant: Type.Boolean(), description: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(), updatedAt: Type.String(), secretRotatedAt: Type.String(),
});
const WithSecret = Type.Object({ integration: View, secret: Type.String() });
const Params = Type.Object({ name: Type.String({ pattern: INTEGRATION_NAME_RE.source }) });
const NOTICE_HEADER = 'x-yulan-notice';

export function toView(r: IntegrationRecord) {
  return { ...r, mqttUsername: `${INTEGRATION_USER_PREFIX}${r.name}`, namespaceFilter: r.namespace ? `ext/${r.name}/#` : null };
}

/** Integration accounts (admin token), mounted under /api/v1. Changes that touch live
 * sessions answer with `x-yulan-notice: sent|pending` (pending: the broker is told when
 * the cloud's MQTT link is back). */
const integrationRoutes: FastifyPluginAsyncTypebox<{ integrations: IntegrationService }> = async (fastify, { integrations: svc }) => {
  fastify.addHook('onRequest', fastify.requireAdmin);
  const tags = ['integrations'];
  const actor = 'admin-token';

  fastify.post('/integrations', {
    schema: { tags, summary: 'Create an integration account (the secret is shown once)', security: adminSecurity, body: CreateBody,
      response: { 201: WithSecret, ...errorResponses(400, 401, 409, 429) } },
  }, async (req, reply) => {
    const { name, ...input } = req.body;
    const r = await svc.create(name, input, actor);
    return reply.status(201).send({ integration: toView(r.record), secret: r.secret });
  });

  fastify.get('/integrations', {
    schema: { tags, summary: 'List integration accounts', security: adminSecurity,
      response: { 200: Type.Object({ items: Type.Array(View) }), ...errorResponses(401, 429) } },
  }, async () => ({ items: (await svc.list()).map(toView) }));

  fastify.get('/integrations/:name', {
    schema: { tags, summary: 'One integration account', security: adminSecurity, params: Params, response: { 200: View, ...errorResponses(400, 401, 404, 429) } },
  }, async (req) => toView(await svc.get(req.params.name)));

  fastify.patch('/integrations/:name', {
    schema: { tags, summary: 'Change rules, namespace or health grant (applies to live sessions)', security: adminSecurity, params: Params, body: Body,
      response: { 200: View, ...errorResponses(400, 401, 404, 429) } },
  }, async (req, reply) => {
    const r = await svc.update(req.params.name, req.body, actor);
    return reply.header(NOTICE_HEADER, r.notice).send(toView(r.record));
  });

  for (const action of ['disable', 'enable'] as const) {
    fastify.post(`/integrations/:name/${action}`, {
      schema: { tags, summary: action === 'disable' ? 'Disable an integration and cut its live sessions' : 'Enable an integration again',
        security: adminSecurity, params: Params, response: { 200: View, ...errorResponses(400, 401, 404, 429) } },
    }, async (req, reply) => {
      const r = await svc.setStatus(req.params.name, action === 'disable' ? 'disabled' : 'active', actor);
      return reply.header(NOTICE_HEADER, r.notice).send(toView(r.record));
    });
  }

  fastify.post('/integrations/:name/rotate', {
    schema: { tags, summary: 'New secret (shown once); live sessions with the old one are cut', security: adminSecurity, params: Params,
      response: { 200: WithSecret, ...errorResponses(400, 401, 404, 429) } },
  }, async (req, reply) => {
    const r = await svc.rotate(req.params.name, actor);
    return reply.header(NOTICE_HEADER, r.notice).send({ integration: toView(r.record), secret: r.secret });
  });

  fastify.delete('/integrations/:name', {
    schema: { tags, summary: 'Delete an integration account and cut its sessions', security: adminSecurity, params: Params,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 404, 429) } },
  }, async (req, reply) => {
    const notice = await svc.remove(req.params.name, actor);
    return reply.header(NOTICE_HEADER, notice).status(204).send(null);
  });

  fastify.get('/integrations/:name/audit', {
    schema: { tags, summary: 'Audit trail of an integration (changes, health-grant connects)', security: adminSecurity, params: Params,
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
      response: { 200: Type.Object({ items: Type.Array(Type.Object({ id: Type.Integer(), at: Type.String(), actor: Type.String(), action: Type.String(), detail: Type.Union([Type.String(), Type.Null()]) })) }), ...errorResponses(400, 401, 404, 429) } },
  }, async (req) => ({ items: await svc.audit(req.params.name, req.query.limit ?? 100) }));
};
export default integrationRoutes;

/** `POST /api/v1/internal/integration-auth` (broker token), the integration counterpart of device-auth. */
export const integrationAuthRoute: FastifyPluginAsyncTypebox<{ integrations: IntegrationService }> = async (fastify, { integrations: svc }) => {
  fastify.addHook('onRequest', fastify.requireBroker);
  const Refused = Type.Object({ ok: Type.Literal(false), reason: Type.String() });
  fastify.post('/internal/integration-auth', {
    schema: {
      tags: ['internal'], summary: 'Integration-account authentication for the broker (bearer = broker token)', security: [{ brokerToken: [] }],
      body: Type.Object({ name: Type.String({ maxLength: 64 }), secret: Type.String({ maxLength: 256 }) }),
      response: {
        200: Type.Object({ ok: Type.Literal(true), account: Type.Object({ name: Type.String(), rules: Type.Array(StoredRule), namespace: Type.Boolean(), healthGrant: Type.Boolean() }) }),
        401: Type.Union([Refused, Type.Object({}, { additionalProperties: true })]), 403: Refused, ...errorResponses(400, 429),
      },
    },
    config: { rateLimit: false },
  }, async (req, reply) => {
    const r = await svc.authenticate(req.body.name, req.body.secret);
    if (r.ok) return reply.send(r);
    req.log.info({ integration: INTEGRATION_NAME_RE.test(req.body.name) ? req.body.name : '(malformed)', reason: r.reason }, 'integration auth refused');
    return reply.status(r.reason === 'disabled' ? 403 : 401).send(r);
  });
};
