import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CloudCounters } from './rules.js';

/**
 * Counts the cloud's refused authentications for the security monitor, from the answers
 * rather than inside each auth check: one hook sees sign-in, the admin token, API tokens
 * and people's sessions alike, and adding a route can never forget to count. Counted:
 * every refused sign-in (401, 429), and API requests refused (401) although they
 * presented a bearer credential, or throttled (429). Not counted: a 401 without a bearer
 * (a signed-out page asking who it is, an expired session cookie: everyday, not an
 * attack), the internal endpoints (the broker counts its device, certificate and claim
 * refusals itself), and the provisioning exchange (the claims module counts it).
 */
export function createRefusalCounter(): { counters: Omit<CloudCounters, 'claimsRefused'>; onResponse: (request: FastifyRequest, reply: FastifyReply) => Promise<void> } {
  const counters = { signInRefused: 0, credentialRefused: 0 };
  return {
    counters,
    async onResponse(request, reply) {
      const status = reply.statusCode;
      if (status !== 401 && status !== 429) return;
      const url = request.routeOptions.url ?? '';
      if (url === '/api/v1/auth/login') {
        counters.signInRefused++;
        return;
      }
      if (!url.startsWith('/api/v1/') || url.startsWith('/api/v1/internal/') || url === '/api/v1/provision/claim') return;
      if (status === 429 || typeof request.headers.authorization === 'string') counters.credentialRefused++;
    },
  };
}
