import type { FastifyPluginAsync } from 'fastify';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { PublicRateLimit } from '../sta/public-rate-limit.js';
import { dayCsv, dayJson, dayRange, type Licence } from './downloads.js';
import type { OpenDataService } from './open-data-service.js';
import { sendCached, withinBudget } from './public-http.js';

export interface OpenRoutesOptions {
  service: OpenDataService;
  /** the open-data budget per address, shared with /sta/v1.1 */
  limiter: PublicRateLimit;
  licence: Licence;
  now?: () => number;
  /** complaint counts per site and kind (no personal detail), for the summaries */
  complaintsToday?: () => Promise<{ site: string; last24h: number }[]>;
}

const SITE = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
const notFound = (what: string): CloudError => new CloudError(CloudErrorCode.NotFound, `${what} not found`);

/**
 * Public open-data routes besides SensorThings (issue 14), no login: the page's site
 * summaries and charts, and bulk downloads of a site's day as CSV or JSON. Same budget
 * as /sta/v1.1; the global API limiter skips them (`rateLimit: false`).
 */
export const openRoutes: FastifyPluginAsync<OpenRoutesOptions> = async (fastify, opts) => {
  const now = opts.now ?? Date.now;
  const config = { rateLimit: false };
  const siteParam = { type: 'object', properties: { site: { type: 'string', pattern: SITE } }, required: ['site'] } as const;

  fastify.get('/open', { schema: { hide: true }, config }, (_req, reply) => reply.redirect('/open/', 301));

  fastify.get('/open/v1/sites', { schema: { hide: true }, config }, async (request, reply) => {
    if (!withinBudget(opts.limiter, request, reply)) return reply;
    const counts = new Map<string, number>();
    for (const r of (await opts.complaintsToday?.()) ?? []) counts.set(r.site, (counts.get(r.site) ?? 0) + r.last24h);
    const sites = (await opts.service.summary()).map((s) => ({ ...s, complaints24h: counts.get(s.id) ?? 0 }));
    return sendCached(request, reply, JSON.stringify({ licence: opts.licence, sites }), 'application/json; charset=utf-8', 60);
  });

  fastify.get('/open/v1/sites/:site/history', { schema: { hide: true, params: siteParam }, config }, async (request, reply) => {
    if (!withinBudget(opts.limiter, request, reply)) return reply;
    const { site } = request.params as { site: string };
    if (!(await opts.service.site(site))) throw notFound(`site '${site}'`);
    const h = await opts.service.history(site);
    return sendCached(request, reply, JSON.stringify({ site, ...h }), 'application/json; charset=utf-8', 300);
  });

  fastify.get('/open/v1/sites/:site/exceedances', {
    schema: {
      hide: true, params: siteParam,
      querystring: { type: 'object', properties: { days: { type: 'integer', minimum: 1, maximum: 31, default: 7 } }, additionalProperties: false },
    },
    config,
  }, async (request, reply) => {
    if (!withinBudget(opts.limiter, request, reply)) return reply;
    const { site } = request.params as { site: string };
    if (!(await opts.service.site(site))) throw notFound(`site '${site}'`);
    const body = await opts.service.exceedances(site, (request.query as { days: number }).days);
    return sendCached(request, reply, JSON.stringify(body), 'application/json; charset=utf-8', 300);
  });

  const dayParams = {
    type: 'object',
    properties: { site: { type: 'string', pattern: SITE }, file: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}\\.(csv|json)$' } },
    required: ['site', 'file'],
  } as const;
  fastify.get('/open/v1/sites/:site/days/:file', { schema: { hide: true, params: dayParams }, config }, async (request, reply) => {
    if (!withinBudget(opts.limiter, request, reply)) return reply;
    const { site, file } = request.params as { site: string; file: string };
    const [day, ext] = file.split('.') as [string, 'csv' | 'json'];
    const range = dayRange(day, opts.service.utcOffsetMin);
    if (!range) throw new CloudError(CloudErrorCode.Validation, `"${day}" is not a calendar date (YYYY-MM-DD)`);
    const t = now();
    if (range.fromMs > t) throw new CloudError(CloudErrorCode.Validation, `${day} has not begun yet`);
    const s = await opts.service.site(site);
    if (!s) throw notFound(`site '${site}'`);
    const data = await opts.service.day(s, day);
    if (!data) throw notFound(`day ${day}`);
    // A finished day rarely changes (only late uploads from an edge that was offline).
    const maxAge = range.toMs <= t ? 3600 : 60;
    void reply.header('content-disposition', `attachment; filename="yulan-${site}-${day}.${ext}"`);
    // The body carries its generation time; the ETag must not change with it alone.
    const body = ext === 'csv' ? dayCsv(data, opts.licence, range.toMs <= t ? range.toMs : t - (t % 60_000)) : dayJson(data, opts.licence, range.toMs <= t ? range.toMs : t - (t % 60_000));
    return sendCached(request, reply, body, ext === 'csv' ? 'text/csv; charset=utf-8; header=present' : 'application/json; charset=utf-8', maxAge);
  });
};
