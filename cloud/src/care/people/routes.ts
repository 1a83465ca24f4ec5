import type { FastifyPluginAsync } from 'fastify';
import type { AppOptions } from '../../app.js';
import { loginRoute, sessionRoutes } from './auth-routes.js';
import careRulesRoute from './care-rules-route.js';
import contactRoutes from './contact-routes.js';
import peopleRoutes from './people-routes.js';
import privacyRoutes from './privacy-routes.js';
import residentRoutes from './resident-routes.js';
import staffRoutes from './staff-routes.js';
import '../../types.js';

/**
 * The people routes under /api/v1 (registered by routes/index.ts when `opts.people` is
 * set). Login is open; the edge's care-rules endpoint takes the edge token; everything
 * else sits behind `authenticate` (a session, or the admin token) and decides per route
 * what the caller may do.
 */
const peopleRoutesPlugin: FastifyPluginAsync<AppOptions> = async (fastify, opts) => {
  const people = opts.people;
  if (!people) return;
  await fastify.register(
    async (api) => {
      await api.register(loginRoute, { people });
      await api.register(careRulesRoute, { people });
      await api.register(async (signedIn) => {
        signedIn.addHook('onRequest', signedIn.authenticate);
        // Any accepted change to people (a person added or enabled, a channel, a duty
        // roster, a family link) may make someone reachable: an alert that reached nobody
        // is tried again at once instead of at its next retry (docs/care.md §3).
        const alerts = opts.alerts;
        if (alerts) {
          signedIn.addHook('onResponse', async (request, reply) => {
            if (request.method === 'GET' || request.method === 'HEAD' || reply.statusCode >= 300) return;
            void alerts.retryUnreached().catch((err: unknown) => request.log.error({ err }, 'retrying unreached alerts failed'));
          });
        }
        await signedIn.register(sessionRoutes, { people });
        await signedIn.register(peopleRoutes, { people });
        await signedIn.register(staffRoutes, { people });
        await signedIn.register(residentRoutes, { people });
        await signedIn.register(contactRoutes, { people });
        await signedIn.register(privacyRoutes, { people });
      });
    },
    { prefix: '/api/v1' },
  );
};
export default peopleRoutesPlugin;
