import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import type { AppOptions } from '../app.js';

/** A per-IP ceiling on the whole API. Generous: the page polls every few seconds and
 * scripts page through the registry; this only stops runaway clients. Failed logins have
 * their own, much tighter budget (plugins/admin-auth.ts). */
export default fp<AppOptions>(
  async (fastify, opts) => {
    await fastify.register(rateLimit, {
      global: true,
      max: opts.rateLimit?.max ?? 1200,
      timeWindow: opts.rateLimit?.windowMs ?? 60_000,
    });
  },
  { name: 'yulan-rate-limit' },
);
