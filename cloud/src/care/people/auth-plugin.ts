import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppOptions } from '../../app.js';
import { tokenMatches } from '../../auth-tokens.js';
import { CloudError, CloudErrorCode } from '../../errors.js';
import { FailureLimiter, retryAfterSeconds } from '../../auth-limits.js';
import { bearer } from '../../plugins/admin-auth.js';
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
 * A right credential always passes. Presented-but-wrong ones count towards a per-address
 * failure budget of their own (plugins/admin-auth.ts counts the service tokens apart),
 * and only wrong ones are refused with 429 once it is spent; a request with no
 * credentials at all is a 401 that costs nothing (the care page asks /me before anyone
 * has signed in).
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

    /** A wrong credential: 429 while the address's budget is spent, else counted and 401. */
    function wrong(request: FastifyRequest, reply: FastifyReply, message: string): never {
      const key = `session|${request.ip}`;
      const wait = limiter.retryAfterMs(key);
      if (wait > 0) {
        void reply.header('retry-after', retryAfterSeconds(wait));
        throw new CloudError(CloudErrorCode.TooManyRequests, 'too many failed authentication attempts; try again later');
      }
      limiter.fail(key);
      reject(reply, message);
    }

    fastify.decorate('authenticate', async function authenticate(request: FastifyRequest, reply: FastifyReply) {
      const token = bearer(request);
      if (token !== undefined) {
        if (tokenMatches(token, opts.adminTokenDigest)) {
          request.principal = { kind: 'admin-token' };
          return;
        }
        const user = await users?.resolveSession(token);
        if (user) {
          request.principal = principalOf(user);
          return;
        }
        wrong(request, reply, 'invalid token or session');
      }
      const cookie = readCookie(request, SESSION_COOKIE);
      if (cookie !== undefined) {
        const user = await users?.resolveSession(cookie);
        if (user) {
          request.principal = principalOf(user);
          return;
        }
        wrong(request, reply, 'session expired or invalid; sign in again');
      }
      reject(reply, 'sign in first (session cookie or "Authorization: Bearer <token>")');
    });
  },
  { name: 'yulan-people-auth' },
);
