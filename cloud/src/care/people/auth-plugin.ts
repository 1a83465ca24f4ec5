import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppOptions } from '../../app.js';
import { tokenMatches } from '../../auth-tokens.js';
import { CloudError, CloudErrorCode } from '../../errors.js';
import { bearer, FailureLimiter } from '../../plugins/admin-auth.js';
import type { Principal } from '../contracts.js';
import type { UserRecord } from './records.js';
import { readCookie, SESSION_COOKIE } from './session-cookie.js';
import '../../types.js';

export function principalOf(u: UserRecord): Principal {
  return { kind: 'person', userId: u.id, role: u.role, name: u.name, locale: u.locale };
}

/**
 * `fastify.authenticate`: sets `request.principal` from `Authorization: Bearer <admin
 * token | session token>` or the `yulan_session` cookie. Always registered, so routes
 * that take people also work with the admin token alone when no people module is set.
 * Presented-but-wrong credentials count towards the same per-IP failure budget as the
 * admin token; a request with no credentials at all is a 401 that costs nothing (the
 * care page asks /me before anyone has signed in).
 */
export default fp<AppOptions>(
  async (fastify, opts) => {
    const windowMs = opts.rateLimit?.windowMs ?? 60_000;
    const limiter = new FailureLimiter(opts.rateLimit?.authFailures ?? 20, windowMs);
    const users = opts.people?.repo.users;

    fastify.decorateRequest('principal', undefined);

    function reject(reply: FastifyReply, message: string): never {
      void reply.header('www-authenticate', 'Bearer realm="yulan"');
      throw new CloudError(CloudErrorCode.Unauthorized, message);
    }

    fastify.decorate('authenticate', async function authenticate(request: FastifyRequest, reply: FastifyReply) {
      if (limiter.blocked(request.ip)) {
        void reply.header('retry-after', Math.ceil(windowMs / 1000));
        throw new CloudError(CloudErrorCode.TooManyRequests, 'too many failed authentication attempts; try again later');
      }
      const token = bearer(request);
      if (token !== undefined) {
        if (tokenMatches(token, opts.adminTokenDigest)) {
          request.principal = { kind: 'admin-token' };
          return;
        }
        const user = users?.resolveSession(token);
        if (user) {
          request.principal = principalOf(user);
          return;
        }
        limiter.fail(request.ip);
        reject(reply, 'invalid token or session');
      }
      const cookie = readCookie(request, SESSION_COOKIE);
      if (cookie !== undefined) {
        const user = users?.resolveSession(cookie);
        if (user) {
          request.principal = principalOf(user);
          return;
        }
        limiter.fail(request.ip);
        reject(reply, 'session expired or invalid; sign in again');
      }
      reject(reply, 'sign in first (session cookie or "Authorization: Bearer <token>")');
    });
  },
  { name: 'yulan-people-auth' },
);
