import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { safeEqual } from '@yulan/protos';
import type { AppOptions } from '../app.js';
import { tokenMatches } from '../auth-tokens.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import '../types.js';

/** Counts failed authentications per client IP in fixed windows. In memory: one cloud
 * process, and a restart resetting the counters is acceptable. */
export class FailureLimiter {
  private readonly hits = new Map<string, { count: number; until: number }>();
  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}
  blocked(key: string, now = Date.now()): boolean {
    const h = this.hits.get(key);
    return h !== undefined && h.until > now && h.count >= this.max;
  }
  fail(key: string, now = Date.now()): void {
    const h = this.hits.get(key);
    if (h === undefined || h.until <= now) {
      // Bound memory under a spray from many addresses: drop expired entries first.
      if (this.hits.size > 10_000) for (const [k, v] of this.hits) if (v.until <= now) this.hits.delete(k);
      this.hits.set(key, { count: 1, until: now + this.windowMs });
    } else h.count++;
  }
}

export function bearer(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

/** `requireAdmin` / `requireBroker` / `requireEdge` onRequest hooks. */
export default fp<AppOptions>(
  async (fastify, opts) => {
    const limiter = new FailureLimiter(opts.rateLimit?.authFailures ?? 20, opts.rateLimit?.windowMs ?? 60_000);

    function check(request: FastifyRequest, reply: FastifyReply, ok: (token: string) => boolean, what: string): void {
      if (limiter.blocked(request.ip)) {
        void reply.header('retry-after', Math.ceil((opts.rateLimit?.windowMs ?? 60_000) / 1000));
        throw new CloudError(CloudErrorCode.TooManyRequests, 'too many failed authentication attempts; try again later');
      }
      const token = bearer(request);
      if (token !== undefined && ok(token)) return;
      limiter.fail(request.ip);
      void reply.header('www-authenticate', 'Bearer realm="yulan"');
      throw new CloudError(
        CloudErrorCode.Unauthorized,
        token === undefined ? `missing "Authorization: Bearer <${what}>"` : `invalid ${what}`,
      );
    }

    fastify.decorate('requireAdmin', async function requireAdmin(request: FastifyRequest, reply: FastifyReply) {
      check(request, reply, (t) => tokenMatches(t, opts.adminTokenDigest), 'admin token');
    });
    fastify.decorate('requireBroker', async function requireBroker(request: FastifyRequest, reply: FastifyReply) {
      check(request, reply, (t) => safeEqual(t, opts.brokerToken), 'broker token');
    });
    fastify.decorate('requireEdge', async function requireEdge(request: FastifyRequest, reply: FastifyReply) {
      const edgeToken = opts.edgeToken;
      check(request, reply, (t) => edgeToken !== undefined && safeEqual(t, edgeToken), 'edge token');
    });
  },
  { name: 'yulan-auth' },
);
