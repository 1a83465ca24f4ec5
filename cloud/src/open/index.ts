import type { FastifyPluginAsync } from 'fastify';
import type { AppOptions } from '../app.js';
import { PublicRateLimit } from '../sta/public-rate-limit.js';
import { staRoutes, type StaOptions } from '../sta/routes.js';
import { OpenDataService } from './open-data-service.js';
import { openRoutes } from './routes.js';
import { complaintRoutes } from './complaint-routes.js';

export const DEFAULT_LICENCE = { id: 'CC-BY-4.0', url: 'https://creativecommons.org/licenses/by/4.0/' };

/** Everything public and anonymous (issue 14): SensorThings, the page's data and the
 * downloads, under one per-address budget that the authenticated API never shares. */
export const openDataPlugin: FastifyPluginAsync<AppOptions & { sta: StaOptions }> = async (fastify, opts) => {
  const sta = opts.sta;
  const limiter = sta.limiter ?? new PublicRateLimit(sta.rateLimitMax, sta.rateLimitWindowMs ?? 60_000, sta.now);
  await fastify.register(staRoutes, { ...sta, limiter });
  const service = new OpenDataService({ devices: opts.devices, edge: opts.edge, ...(sta.now ? { now: sta.now } : {}) });
  const complaints = opts.complaints;
  await fastify.register(openRoutes, {
    service, limiter, licence: sta.licence ?? DEFAULT_LICENCE, ...(sta.now ? { now: sta.now } : {}),
    ...(complaints ? { complaintsToday: () => complaints.counts() } : {}),
  });
  if (complaints) await fastify.register(complaintRoutes, { complaints, limiter });
};
