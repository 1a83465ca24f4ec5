import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CloudCounters } from './rules.js';

/**
 * Counts the cloud's refused authentications for the security monitor, from the answers
 * rather than inside each auth check: one hook sees sign-in, the admin token, API tokens
 * and people's sessions alike, and adding a route can never forget to count. The internal
 * endpoints (the broker's device, certificate and claim checks) are left out: the broker
 * counts those refusals itself, and claims are counted by the claims module.
 */
export function createRefusalCounter(): { counters: Omit<CloudCounters, 'claimsRefused'>; onResponse: (request: FastifyRequest, reply: FastifyReply) => Promise<void> } {
  const counters = { signInRefused: 0, credentialRefused: 0 };
  return {
    counters,
    async onResponse(request, reply) {
      const status = reply.statusCode;
      if (status !== 401 && status !== 429) return;
      const url = request.routeOptions.url ?? '';
      if (url === '/api/v1/auth/login') counters.signInRefused++;
      else if (url.startsWith('/api/v1/') && !url.startsWith('/api/v1/internal/') && url !== '/api/v1/provision/claim') counters.credentialRefused++;
    },
  };
}
