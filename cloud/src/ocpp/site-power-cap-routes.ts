import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { actorOf, who } from '../care/people/route-helpers.js';
import { adminSecurity, errorResponses, Id } from '../schemas/common.js';
import { MAX_SITE_CAP_W, type SitePowerCaps } from './site-power-cap-service.js';
import '../types.js';

const Params = Type.Object({ id: Id });
const View = Type.Object({
  site: Type.String(), capW: Type.Integer(), generation: Type.Integer(), updatedAt: Type.String(), updatedBy: Type.String(),
  chargers: Type.Array(Type.Object({
    deviceId: Type.String(), online: Type.Boolean(),
    limitW: Type.Union([Type.Integer(), Type.Null()], { description: "this charger's share in the last division; null: none sent (offline)" }),
    commandId: Type.Union([Type.String(), Type.Null()]), commandStatus: Type.Union([Type.String(), Type.Null()]),
  })),
});

/**
 * `PUT|GET|DELETE /api/v1/sites/:id/power-cap` (docs/ocpp.md §4.1). Staff auth: the admin token or
 * a person whose role has the `twin` permission (operators, admins; console/permissions.ts);
 * every change is audited (`GET …/power-cap/audit`).
 */
export const sitePowerCapRoutes: FastifyPluginAsyncTypebox<{ caps: SitePowerCaps }> = async (fastify, { caps }) => {
  fastify.addHook('onRequest', fastify.authorizeStaff);
  const tags = ['sites'];

  fastify.put('/sites/:id/power-cap', {
    schema: {
      tags, security: adminSecurity, params: Params,
      summary: "Set a site's power cap in W; it is divided over the site's online chargers at once",
      body: Type.Object({ capW: Type.Number({ description: `whole watts, 1..${MAX_SITE_CAP_W}` }) }, { additionalProperties: false }),
      response: { 200: View, ...errorResponses(400, 401, 403, 404, 429) },
    },
  }, async (req) => caps.set(req.params.id, req.body.capW, actorOf(who(req))));

  fastify.delete('/sites/:id/power-cap', {
    schema: {
      tags, security: adminSecurity, params: Params,
      summary: "Remove a site's power cap; its chargers' share profiles are cleared (now if online, else when they come online)",
      response: { 200: Type.Object({ site: Type.String(), clearedAt: Type.String() }), ...errorResponses(400, 401, 403, 404, 429) },
    },
  }, async (req) => caps.clear(req.params.id, actorOf(who(req))));

  fastify.get('/sites/:id/power-cap', {
    schema: { tags, security: adminSecurity, params: Params, summary: "A site's power cap and each charger's share in the last division",
      response: { 200: View, ...errorResponses(400, 401, 403, 404, 429) } },
  }, async (req) => caps.get(req.params.id));

  fastify.get('/sites/:id/power-cap/audit', {
    schema: { tags, security: adminSecurity, params: Params, summary: "Who set a site's power cap, when",
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
      response: { 200: Type.Object({ items: Type.Array(Type.Object({ at: Type.String(), actor: Type.String(), action: Type.String(),
        detail: Type.Union([Type.String(), Type.Null()]) })) }), ...errorResponses(400, 401, 403, 429) } },
  }, async (req) => ({ items: await caps.audit(req.params.id, req.query.limit ?? 100) }));
};
