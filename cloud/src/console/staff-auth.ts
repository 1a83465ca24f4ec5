import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppOptions } from '../app.js';
import { tokenMatches } from '../auth-tokens.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import { bearer } from '../plugins/admin-auth.js';
import { principalOf } from '../care/people/auth-plugin.js';
import { readCookie, SESSION_COOKIE } from '../care/people/session-cookie.js';
import { can, permissionFor } from './permissions.js';
import { isApiToken, tokenAuthorizer } from '../integrations/token-auth.js';
import '../types.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook of the device and fleet API: the admin token, or a signed-in person
     * whose role has the route's permission (console/permissions.ts); sets request.principal */
    authorizeStaff: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  }
}

/**
 * People on the device API (issue 15). The admin token passes as before (automation);
 * otherwise a session (bearer or the care page's `yulan_session` cookie) names a person
 * and the permission table decides. Anything else falls through to `requireAdmin`, so a
 * wrong token keeps its failure budget and its messages.
 */
export default fp<AppOptions>(
  async (fastify, opts) => {
    const users = opts.people?.repo.users;
    // Scoped API tokens (integrations/token-auth.ts): the third principal, by prefix.
    const control = opts.deviceControl;
    const tokenAuth = opts.integrations && tokenAuthorizer({
      tokens: opts.integrations.tokens, devices: opts.devices,
      ...(control ? { commandTarget: (id: string) => control.commands.get(id) } : {}),
      ...(opts.rateLimit?.authFailures !== undefined ? { authFailures: opts.rateLimit.authFailures } : {}),
      ...(opts.rateLimit?.windowMs !== undefined ? { windowMs: opts.rateLimit.windowMs } : {}),
    });
    fastify.decorate('authorizeStaff', async function authorizeStaff(request: FastifyRequest, reply: FastifyReply) {
      const token = bearer(request);
      if (token !== undefined && tokenMatches(token, opts.adminTokenDigest)) {
        request.principal = { kind: 'admin-token' };
        return;
      }
      if (token !== undefined && tokenAuth && isApiToken(token)) {
        await tokenAuth(request, reply, token);
        return;
      }
      const session = token ?? readCookie(request, SESSION_COOKIE);
      const user = session !== undefined ? await users?.resolveSession(session) : undefined;
      if (!user) {
        await fastify.requireAdmin.call(fastify, request, reply, () => undefined);
        // requireAdmin always refuses here (the admin token was checked above); never let through.
        throw new CloudError(CloudErrorCode.Unauthorized, 'sign in first');
      }
      const principal = principalOf(user);
      request.principal = principal;
      if (principal.kind !== 'person') return;
      const needed = permissionFor(request.method, request.routeOptions.url);
      if (!can(principal, needed)) {
        request.log.info({ actor: principal.userId, role: principal.role, needed, url: request.routeOptions.url }, 'device API refused');
        throw new CloudError(CloudErrorCode.Forbidden, `role "${principal.role}" may not do this (needs "${needed}")`);
      }
      // Every change through the API names the person in the log, whatever the route.
      if (needed !== 'view') request.log.info({ actor: principal.userId, role: principal.role, needed, url: request.routeOptions.url, params: request.params }, 'device API action');
    });
  },
  { name: 'yulan-staff-auth', dependencies: ['yulan-auth'] },
);
