import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { AppOptions } from '../app.js';
import services from './services.js';
import swagger from './swagger.js';
import rateLimit from './rate-limit.js';
import adminAuth from './admin-auth.js';
import dashboard from './dashboard.js';
import peopleAuth from '../care/people/auth-plugin.js';
import staffAuth from '../console/staff-auth.js';

/**
 * Registered explicitly rather than with @fastify/autoload: autoload imports plugin files
 * with a native `import()`, which cannot load `.ts` sources under vitest (Node 20 has no
 * type stripping), so the same code would not run in tests and from dist. Order matters:
 * swagger must see every route, so it comes before routes/.
 */
const plugins: FastifyPluginAsync<AppOptions> = async (fastify, opts) => {
  await fastify.register(services, opts);
  await fastify.register(swagger, opts);
  await fastify.register(rateLimit, opts);
  await fastify.register(adminAuth, opts);
  // `authenticate` + request.principal (sessions when opts.people is set, else admin token only)
  await fastify.register(peopleAuth, opts);
  // `authorizeStaff`: the admin token or a person with the route's permission (issue 15)
  await fastify.register(staffAuth, opts);
  await fastify.register(dashboard, opts);
};
export default fp(plugins, { name: 'yulan-plugins' });
