import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { isValidId } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { SiteRecord } from '../repositories/device-repository.js';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import { SiteBody, SiteList, SiteParams, SiteView } from '../schemas/sites.js';
import '../types.js';

const view = (s: SiteRecord): SiteView => ({ id: s.id, nameZh: s.nameZh, nameEn: s.nameEn, lat: s.lat, lon: s.lon, createdAt: new Date(s.createdAt).toISOString() });

/** Site registry under /api/v1 (admin token; hook added in routes/index.ts). */
const sites: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/sites', {
    schema: {
      tags: ['sites'], summary: 'Register a site with its WGS 84 coordinates and zh/en names', security: adminSecurity,
      body: SiteBody, response: { 201: SiteView, ...errorResponses(400, 401, 409, 429) },
    },
  }, async (request, reply) => {
    const b = request.body;
    if (!isValidId(b.id)) throw new CloudError(CloudErrorCode.Validation, 'invalid site id');
    const site = await fastify.devices.createSite({ id: b.id, nameZh: b.nameZh, nameEn: b.nameEn, lat: b.lat, lon: b.lon });
    request.log.info({ site: site.id }, 'site registered');
    return reply.status(201).send(view(site));
  });

  fastify.get('/sites', {
    schema: { tags: ['sites'], summary: 'List sites', security: adminSecurity, response: { 200: SiteList, ...errorResponses(401, 429) } },
  }, async () => ({ items: (await fastify.devices.listSites()).map(view) }));

  fastify.get('/sites/:id', {
    schema: { tags: ['sites'], summary: 'One site', security: adminSecurity, params: SiteParams, response: { 200: SiteView, ...errorResponses(400, 401, 404, 429) } },
  }, async (request) => {
    const s = await fastify.devices.getSite(request.params.id);
    if (!s) throw new CloudError(CloudErrorCode.NotFound, `site "${request.params.id}" is not registered`);
    return view(s);
  });
};
export default sites;
