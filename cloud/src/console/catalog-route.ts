import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { COMMANDS } from '../control/catalog.js';
import { SETTINGS_SCHEMAS } from '../control/settings.js';
import { adminSecurity } from '../schemas/common.js';
import '../types.js';

/** GET /api/v1/catalog: the per-kind command and twin-setting catalogues as JSON Schema,
 * the same objects the API validates with, so the console builds its typed forms from
 * them instead of restating names and ranges. */
const catalogRoute: FastifyPluginAsyncTypebox = async (fastify) => {
  const body = JSON.stringify({ commands: COMMANDS, settings: SETTINGS_SCHEMAS });
  fastify.get('/catalog', {
    schema: {
      tags: ['control'], security: adminSecurity,
      summary: 'Commands (name → JSON Schema of args) and twin settings (JSON Schema) per device kind',
    },
  }, async (_request, reply) => reply.type('application/json').header('cache-control', 'private, max-age=300').send(body));
};
export default catalogRoute;
