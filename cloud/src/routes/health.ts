import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HealthResponse } from '../schemas/data.js';
import '../types.js';

/** Liveness and dependencies, no auth. 503 only when the registry itself is down: MQTT or
 * edge trouble degrades features but the API still serves. */
const health: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/healthz',
    {
      schema: { tags: ['health'], summary: 'Service health', response: { 200: HealthResponse, 503: HealthResponse } },
      config: { rateLimit: false },
    },
    async (_request, reply) => {
      const [db, edge] = await Promise.all([fastify.devices.ping(), fastify.edge.healthy()]);
      const mqtt = fastify.control.connected();
      const status = !db ? 'down' : mqtt && edge ? 'ok' : 'degraded';
      return reply.status(db ? 200 : 503).send({ status, db, mqtt, edge });
    },
  );
};
export default health;
