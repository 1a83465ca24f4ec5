import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { MqttTransport } from '../mqtt-link.js';
import type { SessionWatch } from '../care/contracts.js';
import { adminSecurity, errorResponses, Id } from '../schemas/common.js';
import { OPEN_GATE, type HealthGate } from './health-gate.js';
import { LiveHub } from './live-hub.js';
import '../types.js';

export interface LiveRouteOptions {
  mqtt: MqttTransport;
  health?: HealthGate;
  sessions?: SessionWatch;
}

/** GET /api/v1/live: the console's server-sent events (behind `authorizeStaff`, view). */
const liveRoutes: FastifyPluginAsyncTypebox<LiveRouteOptions> = async (fastify, opts) => {
  const hub = new LiveHub(opts.mqtt, fastify.log.child({ part: 'console-live' }));
  fastify.addHook('onClose', async () => hub.close());

  fastify.get('/live', {
    schema: {
      tags: ['devices'], security: adminSecurity,
      summary: 'Server-sent events: `presence` (batched fleet changes, every stream); with ?device=, that device\'s `telemetry`, `event`, `twin` and `command`',
      querystring: Type.Object({ device: Type.Optional(Id) }, { additionalProperties: false }),
      response: { ...errorResponses(400, 401, 403, 404, 429) },
    },
  }, async (request, reply) => {
    const id = request.query.device;
    let device;
    let health = true;
    if (id !== undefined) {
      const d = await fastify.devices.get(id);
      if (!d) throw new CloudError(CloudErrorCode.NotFound, `device "${id}" is not registered`);
      device = { id: d.id, site: d.site, kind: d.kind };
      health = (await (opts.health ?? OPEN_GATE).visible(request.principal, [d])).has(d.id);
    }
    reply.hijack();
    hub.open(reply.raw, device, health, await opts.sessions?.sessionOf(request));
  });

  fastify.get('/live/metrics', {
    schema: { tags: ['devices'], security: adminSecurity, summary: 'Open console streams and events written' },
  }, async () => ({ ...hub.stats }));
};
export default liveRoutes;
