import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

/** OpenAPI document generated from the routes' TypeBox schemas: `/openapi.json`, UI at `/docs`. */
export default fp(
  async (fastify) => {
    await fastify.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Yulan cloud API',
          version: '0.1.0',
          description: 'Device registry, presence and telemetry queries of the Yulan IoT platform.',
        },
        components: {
          securitySchemes: {
            adminToken: { type: 'http', scheme: 'bearer', description: 'admin token (printed once at first start)' },
            brokerToken: { type: 'http', scheme: 'bearer', description: 'YULAN_BROKER_TOKEN (broker only)' },
            gatewayToken: { type: 'http', scheme: 'bearer', description: 'YULAN_GATEWAY_TOKEN (field gateways only)' },
            apiToken: { type: 'http', scheme: 'bearer', description: 'scoped API token ylt_… (yulan integration token add; docs/integrations.md)' },
          },
        },
      },
    });
    await fastify.register(swaggerUi, { routePrefix: '/docs' });
    fastify.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => fastify.swagger());
  },
  { name: 'yulan-swagger' },
);
