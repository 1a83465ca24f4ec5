import { Type } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { PublicRateLimit } from '../sta/public-rate-limit.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import { actorOf } from '../care/people/route-helpers.js';
import type { ComplaintsService } from './complaints-service.js';
import { sendCached, withinBudget } from './public-http.js';
import '../types.js';

export interface ComplaintRoutesOptions { complaints: ComplaintsService; limiter: PublicRateLimit }

const SITE = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
const NewComplaint = Type.Object({
  site: Type.String({ pattern: SITE }),
  kind: Type.String({ maxLength: 16 }),
  contact: Type.Optional(Type.String({ maxLength: 500 })),
  challenge: Type.String({ maxLength: 100 }),
  nonce: Type.String({ maxLength: 20 }),
  website: Type.Optional(Type.String({ maxLength: 500 })),
  lang: Type.Optional(Type.String({ maxLength: 10 })),
}, { additionalProperties: false });
const Id = Type.Object({ id: Type.String({ pattern: '^c-[a-z0-9]{1,12}-[0-9a-f]{8}$' }) });

/** Anonymous complaints in (`/open/v1/complaints`) and the operators' side
 * (`/api/v1/complaints`, the admin token or a person with the `complaints` permission):
 * list, one with its evidence, the contact on an audited request with a reason, close. */
export const complaintRoutes: FastifyPluginAsync<ComplaintRoutesOptions> = async (fastify, opts) => {
  const c = opts.complaints;
  const config = { rateLimit: false };

  fastify.get('/open/v1/complaints/challenge', { schema: { hide: true }, config }, async (request, reply) => {
    if (!withinBudget(opts.limiter, request, reply)) return reply;
    void reply.header('cache-control', 'no-store');
    return c.pow.issue();
  });

  fastify.post('/open/v1/complaints', { schema: { hide: true, body: NewComplaint }, config }, async (request, reply) => {
    const body = request.body as { site: string; kind: string; contact?: string; challenge: string; nonce: string; website?: string };
    const r = await c.submit(body, request.ip);
    return reply.code(r.repeated ? 200 : 201).header('cache-control', 'no-store').send({ ...r, receiptUrl: `/open/#receipt=${r.receipt}` });
  });

  fastify.get('/open/v1/complaints/receipt/:receipt', {
    schema: { hide: true, params: Type.Object({ receipt: Type.String({ pattern: '^[A-Za-z0-9_-]{16,64}$' }) }) }, config,
  }, async (request, reply) => {
    if (!withinBudget(opts.limiter, request, reply)) return reply;
    const v = await c.byReceipt((request.params as { receipt: string }).receipt);
    void reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
    if (!v) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'no complaint with this receipt', code: 'E_NOT_FOUND' });
    return v;
  });

  fastify.get('/open/v1/complaints/stats', { schema: { hide: true }, config }, async (request, reply) => {
    if (!withinBudget(opts.limiter, request, reply)) return reply;
    return sendCached(request, reply, JSON.stringify({ counts: await c.counts() }), 'application/json; charset=utf-8', 60);
  });

  await fastify.register(async (admin) => {
    admin.addHook('onRequest', admin.authorizeStaff);
    // The person (their id) or 'admin-token', and where from.
    const actor = (req: FastifyRequest): string => `${req.principal ? actorOf(req.principal) : 'admin-token'}@${req.ip}`;
    admin.get('/complaints', {
      schema: {
        tags: ['complaints'], summary: 'List complaints (newest first); contacts are never listed',
        querystring: Type.Object({
          status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
          site: Type.Optional(Type.String({ pattern: SITE })),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
          offset: Type.Integer({ minimum: 0, default: 0 }),
        }, { additionalProperties: false }),
      },
    }, async (request) => {
      const q = request.query as { status?: 'open' | 'closed'; site?: string; limit: number; offset: number };
      return { items: await c.list(q) };
    });
    admin.get('/complaints/:id', {
      schema: {
        tags: ['complaints'], summary: 'One complaint with its evidence; contact=true reveals the contact (audited)', params: Id,
        querystring: Type.Object({ contact: Type.Boolean({ default: false }), reason: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }),
      },
    }, async (request) => {
      const q = request.query as { contact: boolean; reason?: string };
      if (q.contact && !q.reason?.trim()) throw new CloudError(CloudErrorCode.Validation, 'revealing a contact needs a reason (it is written to the audit log)');
      return c.get((request.params as { id: string }).id, { contact: q.contact, actor: actor(request), ...(q.reason ? { reason: q.reason } : {}) });
    });
    admin.get('/complaints/:id/audit', { schema: { tags: ['complaints'], summary: 'Who looked at or changed the complaint', params: Id } },
      async (request) => ({ items: await c.audit((request.params as { id: string }).id) }));
    admin.post('/complaints/:id/close', {
      schema: {
        tags: ['complaints'], summary: 'Close a complaint (its contact is erased); the reporter sees the status and the note', params: Id,
        body: Type.Object({ resolution: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false }),
      },
    }, async (request) => c.close((request.params as { id: string }).id, (request.body as { resolution: string }).resolution, actor(request)));
  }, { prefix: '/api/v1' });
};
