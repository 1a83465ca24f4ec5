import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CloudErrorCode } from '../errors.js';
import type { PublicRateLimit } from '../sta/public-rate-limit.js';

/** Counts the request against the open-data budget; false (and a 429 sent) when spent. */
export function withinBudget(limiter: PublicRateLimit, request: FastifyRequest, reply: FastifyReply, what = 'open-data'): boolean {
  const wait = limiter.take(request.ip);
  if (wait === 0) return true;
  void reply.code(429).header('retry-after', String(wait)).send({
    statusCode: 429, error: 'Too Many Requests', message: `${what} rate limit for this address`, code: CloudErrorCode.TooManyRequests,
  });
  return false;
}

/** A public, cacheable answer: strong-enough ETag over the body, 304 on If-None-Match. */
export function sendCached(request: FastifyRequest, reply: FastifyReply, body: string, type: string, maxAgeSec: number): FastifyReply {
  const etag = `W/"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  void reply.header('etag', etag).header('cache-control', `public, max-age=${maxAgeSec}`).header('access-control-allow-origin', '*');
  const inm = request.headers['if-none-match'];
  if (inm !== undefined && inm.split(',').map((x) => x.trim()).some((x) => x === etag || x === '*')) return reply.code(304).send();
  return reply.type(type).send(body);
}
