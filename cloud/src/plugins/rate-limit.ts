import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import type { AppOptions } from '../app.js';
import { serviceCredential } from './admin-auth.js';

/** A ceiling on the whole API, per client address. Generous: the page polls every few
 * seconds and scripts page through the registry; this only stops runaway clients. Failed
 * logins have their own, much tighter budgets (plugins/admin-auth.ts, auth-limits.ts).
 * Device auth, alert intake and health opt out per route (`config.rateLimit: false`). A
 * request bearing a right service token (admin, broker, edge) is counted under that
 * credential instead of its address, so no volume from others at the same address (with
 * `yulan up` or behind a proxy, everyone) can starve the platform's own services. */
export default fp<AppOptions>(
  async (fastify, opts) => {
    await fastify.register(rateLimit, {
      global: true,
      max: opts.rateLimit?.max ?? 1200,
      timeWindow: opts.rateLimit?.windowMs ?? 60_000,
      keyGenerator: (request) => {
        const credential = serviceCredential(request, opts);
        return credential === undefined ? `ip|${request.ip}` : `credential|${credential}`;
      },
    });
  },
  { name: 'yulan-rate-limit' },
);
