import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { safeEqual } from '@yulan/protos';
import { bearer } from '../plugins/admin-auth.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import { adminSecurity, errorResponses, Id } from '../schemas/common.js';
import { ID_TAG_STATUSES } from './id-tag-store.js';
import type { IdTagService } from './id-tag-service.js';
import '../types.js';

const Status = Type.Union([Type.Literal(ID_TAG_STATUSES[0]), Type.Literal(ID_TAG_STATUSES[1]), Type.Literal(ID_TAG_STATUSES[2])]);
const Tag = Type.String({ minLength: 1, maxLength: 20, description: 'OCPP IdToken (case-insensitive, stored upper-case)' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const Fields = {
  status: Type.Optional(Status),
  expiryDate: Type.Optional(Nullable(Type.String({ maxLength: 40, description: 'ISO-8601; after it the tag is Expired' }))),
  parentIdTag: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 20 }))),
  note: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
};
const CreateBody = Type.Object({ tag: Tag, site: Type.Optional(Nullable(Id)), ...Fields }, { additionalProperties: false });
const PatchBody = Type.Object(Fields, { additionalProperties: false });
const View = Type.Object({
  tag: Type.String(), site: Type.Union([Type.String(), Type.Null()]), status: Status, effectiveStatus: Status,
  expiryDate: Type.Union([Type.String(), Type.Null()]), parentIdTag: Type.Union([Type.String(), Type.Null()]),
  note: Type.Union([Type.String(), Type.Null()]), createdAt: Type.String(), updatedAt: Type.String(),
});
const Params = Type.Object({ tag: Tag });
const SiteQuery = Type.Object({ site: Type.Optional(Id) }, { description: 'site: the site-specific entry; omitted: the every-site entry' });

/** The id tag list (admin token) under /api/v1/id-tags (docs/ocpp.md §1.4). */
export const idTagRoutes: FastifyPluginAsyncTypebox<{ idTags: IdTagService }> = async (fastify, { idTags: svc }) => {
  fastify.addHook('onRequest', fastify.requireAdmin);
  const tags = ['id-tags'];
  const actor = 'admin-token';

  fastify.post('/id-tags', {
    schema: { tags, summary: 'List an id tag (RFID card) for one site or every site', security: adminSecurity, body: CreateBody,
      response: { 201: View, ...errorResponses(400, 401, 409, 429) } },
  }, async (req, reply) => {
    const { tag, site, ...input } = req.body;
    return reply.status(201).send(await svc.add(tag, site ?? null, input, actor));
  });

  fastify.get('/id-tags', {
    schema: { tags, summary: 'List id tags', security: adminSecurity,
      querystring: Type.Object({
        site: Type.Optional(Id), everySite: Type.Optional(Type.Boolean()), status: Type.Optional(Status),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })), offset: Type.Optional(Type.Integer({ minimum: 0 })),
      }),
      response: { 200: Type.Object({ items: Type.Array(View) }), ...errorResponses(400, 401, 429) } },
  }, async (req) => {
    const q = req.query;
    return { items: (await svc.list({ ...(q.site ? { site: q.site } : {}), ...(q.everySite ? { everySite: true } : {}), ...(q.status ? { status: q.status } : {}),
      limit: q.limit ?? 100, offset: q.offset ?? 0 })) };
  });

  fastify.get('/id-tags/:tag', {
    schema: { tags, summary: 'One id tag', security: adminSecurity, params: Params, querystring: SiteQuery,
      response: { 200: View, ...errorResponses(400, 401, 404, 429) } },
  }, async (req) => await svc.get(req.params.tag, req.query.site ?? null));

  fastify.patch('/id-tags/:tag', {
    schema: { tags, summary: 'Block, unblock, expire or re-parent an id tag', security: adminSecurity, params: Params, querystring: SiteQuery,
      body: PatchBody, response: { 200: View, ...errorResponses(400, 401, 404, 429) } },
  }, async (req) => svc.update(req.params.tag, req.query.site ?? null, req.body, actor));

  fastify.delete('/id-tags/:tag', {
    schema: { tags, summary: 'Remove an id tag (chargers then answer Invalid)', security: adminSecurity, params: Params, querystring: SiteQuery,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 404, 429) } },
  }, async (req, reply) => {
    await svc.remove(req.params.tag, req.query.site ?? null, actor);
    return reply.status(204).send(null);
  });

  fastify.get('/id-tags/:tag/audit', {
    schema: { tags, summary: 'Who changed an id tag, when', security: adminSecurity, params: Params,
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
      response: { 200: Type.Object({ items: Type.Array(Type.Object({ at: Type.String(), actor: Type.String(), scope: Type.String(), action: Type.String(),
        detail: Type.Union([Type.String(), Type.Null()]) })) }), ...errorResponses(400, 401, 429) } },
  }, async (req) => ({ items: await svc.audit(req.params.tag, req.query.limit ?? 100) }));
};

const Change = Type.Object({
  tag: Type.String(), site: Type.Union([Type.String(), Type.Null()]), status: Status, expiryDate: Type.Union([Type.String(), Type.Null()]),
  parentIdTag: Type.Union([Type.String(), Type.Null()]), deleted: Type.Boolean(), version: Type.Integer(),
});

/**
 * `GET /api/v1/internal/ocpp/id-tags?since=v` for the OCPP gateways (bearer =
 * YULAN_GATEWAY_TOKEN, and only that: the list is personal data the broker has no use for).
 */
export const idTagSyncRoute: FastifyPluginAsyncTypebox<{ idTags: IdTagService; gatewayToken?: string }> = async (fastify, { idTags: svc, gatewayToken }) => {
  fastify.addHook('onRequest', async (req, reply) => {
    const t = bearer(req);
    if (gatewayToken !== undefined && t !== undefined && safeEqual(t, gatewayToken)) return;
    void reply.header('www-authenticate', 'Bearer realm="yulan"');
    throw new CloudError(CloudErrorCode.Unauthorized, 'gateway token required');
  });
  fastify.get('/internal/ocpp/id-tags', {
    schema: {
      tags: ['internal'], summary: 'Id tag changes since a list version, for OCPP gateways (bearer = gateway token)', security: [{ gatewayToken: [] }],
      querystring: Type.Object({ since: Type.Optional(Type.Integer({ minimum: 0 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })) }),
      response: { 200: Type.Object({ version: Type.Integer(), items: Type.Array(Change), more: Type.Boolean() }), ...errorResponses(400, 401, 429) },
    },
    config: { rateLimit: false },
  }, async (req) => svc.changes(req.query.since ?? 0, req.query.limit ?? 1000));
};
