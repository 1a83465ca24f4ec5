import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { safeEqual } from '@yulan/protos';
import type { AppOptions } from '../app.js';
import { tokenMatches } from '../auth-tokens.js';
import { FailureLimiter, retryAfterSeconds } from '../auth-limits.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import '../types.js';

export { FailureLimiter } from '../auth-limits.js';

export function bearer(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

/** Which service credential, if any, the request's bearer is. Cheap (SHA-256 and
 * constant-time compares), so the global rate limit can use it too. */
export function serviceCredential(request: FastifyRequest, opts: AppOptions): 'admin' | 'broker' | 'edge' | undefined {
  const token = bearer(request);
  if (token === undefined) return undefined;
  if (tokenMatches(token, opts.adminTokenDigest)) return 'admin';
  if (safeEqual(token, opts.brokerToken)) return 'broker';
  if (opts.edgeToken !== undefined && safeEqual(token, opts.edgeToken)) return 'edge';
  return undefined;
}

/**
 * `requireAdmin` / `requireBroker` / `requireEdge` onRequest hooks. The credential is
 * checked first: a right token is never counted nor refused, whatever others sent from
 * the same address (with `yulan up` or behind a proxy, every caller shares one). Wrong
 * or missing tokens are counted per (credential, address), so guessing at the admin
 * token cannot slow the broker's device-auth or the edge's alert intake. The tokens are
 * high-entropy secrets: the budget limits noise and load, not the odds of a guess.
 */
export default fp<AppOptions>(
  async (fastify, opts) => {
    const limiter = new FailureLimiter(opts.rateLimit?.authFailures ?? 20, opts.rateLimit?.windowMs ?? 60_000);

    function check(request: FastifyRequest, reply: FastifyReply, ok: (token: string) => boolean, what: 'admin' | 'broker' | 'edge'): void {
      const token = bearer(request);
      if (token !== undefined && ok(token)) return;
      const key = `${what}|${request.ip}`;
      const wait = limiter.retryAfterMs(key);
      if (wait > 0) {
        void reply.header('retry-after', retryAfterSeconds(wait));
        throw new CloudError(CloudErrorCode.TooManyRequests, 'too many failed authentication attempts; try again later');
      }
      limiter.fail(key);
      void reply.header('www-authenticate', 'Bearer realm="yulan"');
      throw new CloudError(
        CloudErrorCode.Unauthorized,
        token === undefined ? `missing "Authorization: Bearer <${what} token>"` : `invalid ${what} token`,
      );
    }

    fastify.decorate('requireAdmin', async function requireAdmin(request: FastifyRequest, reply: FastifyReply) {
      check(request, reply, (t) => tokenMatches(t, opts.adminTokenDigest), 'admin');
    });
    fastify.decorate('requireBroker', async function requireBroker(request: FastifyRequest, reply: FastifyReply) {
      // A field gateway authenticates its devices at the same endpoint with its own token.
      const gw = opts.gatewayToken;
      check(request, reply, (t) => safeEqual(t, opts.brokerToken) || (gw !== undefined && safeEqual(t, gw)), 'broker');
    });
    fastify.decorate('requireEdge', async function requireEdge(request: FastifyRequest, reply: FastifyReply) {
      const edgeToken = opts.edgeToken;
      check(request, reply, (t) => edgeToken !== undefined && safeEqual(t, edgeToken), 'edge');
    });
  },
  { name: 'yulan-auth' },
);
