import type { FastifyRequest } from 'fastify';

export const PURPOSE_HEADER = 'x-yulan-purpose';
const MAX_PURPOSE = 200;

/** Why the caller reads health data: the X-Yulan-Purpose header (trimmed, control
 * characters removed, at most 200 characters), else the route's default purpose. */
export function purposeOf(request: FastifyRequest, fallback: string): string {
  const raw = request.headers[PURPOSE_HEADER];
  const value = Array.isArray(raw) ? raw[0] : raw;
  // eslint-disable-next-line no-control-regex
  const clean = (value ?? '').replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, MAX_PURPOSE);
  return clean === '' ? fallback : clean;
}
