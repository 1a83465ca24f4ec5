import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CLAIM_ID_RE, CLAIM_USER_PREFIX, ClaimRefusal, isClaimId } from '@yulan/protos';
import { adminSecurity, errorResponses, Id, KindSlugSchema } from '../schemas/common.js';
import { statusOfRefusal, type ClaimService } from './service.js';
import type { ClaimRecord } from './store.js';
import '../types.js';

const View = Type.Object({
  id: Type.String(), mqttUsername: Type.String(), kind: Type.String(), site: Type.String(), maxCount: Type.Integer(), usedCount: Type.Integer(),
  expiresAt: Type.String(), revokedAt: Type.Union([Type.String(), Type.Null()]), status: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]), createdAt: Type.String(),
});
const Event = Type.Object({
  id: Type.Integer(), at: Type.String(), claimId: Type.String(), actor: Type.String(), action: Type.String(),
  serial: Type.Union([Type.String(), Type.Null()]), detail: Type.Union([Type.String(), Type.Null()]),
});
const Use = Type.Object({ serial: Type.String(), deviceId: Type.String(), via: Type.String(), usedAt: Type.String() });
const Params = Type.Object({ id: Type.String({ pattern: CLAIM_ID_RE.source }) });
const Limit = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) });
const Refused = Type.Object({ ok: Type.Literal(false), reason: Type.String(), message: Type.String() });
const Provisioned = Type.Object({
  ok: Type.Literal(true), device: Type.Object({ id: Type.String(), site: Type.String(), kind: Type.String() }),
  secret: Type.Optional(Type.String()), certificate: Type.Optional(Type.String()), caCertificate: Type.Optional(Type.String()),
});
const Serial = Type.String({ minLength: 1, maxLength: 64 });
const Csr = Type.String({ minLength: 100, maxLength: 16_000 });

export function toView(r: ClaimRecord, now: string) {
  const status = r.revokedAt !== null ? 'revoked' : r.expiresAt <= now ? 'expired' : r.usedCount >= r.maxCount ? 'used-up' : 'active';
  return { ...r, mqttUsername: `${CLAIM_USER_PREFIX}${r.id}`, status };
}

/** Claims (admin token), mounted under /api/v1: create (the secret is shown once), list,
 * show (with the serials that used it and its audit), revoke, and the refusals list. */
export const claimRoutes: FastifyPluginAsyncTypebox<{ claims: ClaimService }> = async (fastify, { claims: svc }) => {
  fastify.addHook('onRequest', fastify.requireAdmin);
  const tags = ['claims'];
  const actor = 'admin-token';

  fastify.post('/claims', {
    schema: {
      tags, summary: 'Create a claim for a batch of devices (the secret is shown once)', security: adminSecurity,
      body: Type.Object({
        id: Type.String({ minLength: 1, maxLength: 48 }), kind: KindSlugSchema, site: Id, count: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
        expiresAt: Type.Optional(Type.String({ format: 'date-time' })), days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
        description: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ claim: View, secret: Type.String() }), ...errorResponses(400, 401, 409, 429) },
    },
  }, async (req, reply) => {
    const r = await svc.create(req.body, actor);
    return reply.status(201).send({ claim: toView(r.record, svc.nowIso()), secret: r.secret });
  });

  fastify.get('/claims', {
    schema: { tags, summary: 'List claims', security: adminSecurity, response: { 200: Type.Object({ items: Type.Array(View) }), ...errorResponses(401, 429) } },
  }, async () => ({ items: (await svc.list()).map((r) => toView(r, svc.nowIso())) }));

  fastify.get('/claims/refusals', {
    schema: { tags, summary: 'Refused claim uses across all claims, newest first (reused serial, over count, expired, revoked…)', security: adminSecurity,
      querystring: Limit, response: { 200: Type.Object({ items: Type.Array(Event), counts: Type.Record(Type.String(), Type.Integer()) }), ...errorResponses(400, 401, 429) } },
  }, async (req) => ({ items: await svc.events({ refusedOnly: true, limit: req.query.limit ?? 100 }), counts: { ...svc.refused } }));

  fastify.get('/claims/:id', {
    schema: { tags, summary: 'One claim, the serials that used it and its audit trail', security: adminSecurity, params: Params, querystring: Limit,
      response: { 200: Type.Object({ claim: View, uses: Type.Array(Use), events: Type.Array(Event) }), ...errorResponses(400, 401, 404, 429) } },
  }, async (req) => ({
    claim: toView(await svc.get(req.params.id), svc.nowIso()), uses: await svc.uses(req.params.id), events: await svc.events({ claimId: req.params.id, limit: req.query.limit ?? 100 }),
  }));

  fastify.post('/claims/:id/revoke', {
    schema: { tags, summary: 'Revoke a claim: no more exchanges or claim logins (provisioned devices keep their identity)', security: adminSecurity,
      params: Params, response: { 200: View, ...errorResponses(400, 401, 404, 429) } },
  }, async (req) => toView(await svc.revoke(req.params.id, actor), svc.nowIso()));
};

/** The broker's side (broker token): `claim-auth` at CONNECT of a `claim:<id>` login, and
 * `claim-exchange` for a request the claim session published (always 200 with the answer
 * the broker relays to the device). */
export const claimInternalRoutes: FastifyPluginAsyncTypebox<{ claims: ClaimService }> = async (fastify, { claims: svc }) => {
  fastify.addHook('onRequest', fastify.requireBroker);
  fastify.post('/internal/claim-auth', {
    schema: {
      tags: ['internal'], summary: 'Claim login check for the broker (bearer = broker token)', security: [{ brokerToken: [] }],
      body: Type.Object({ claimId: Type.String({ maxLength: 64 }), secret: Type.String({ maxLength: 256 }), serial: Type.Optional(Type.String({ maxLength: 64 })) }),
    },
    config: { rateLimit: false },
  }, async (req, reply) => {
    const r = await svc.authenticate(req.body.claimId, req.body.secret, req.body.serial, 'mqtt');
    if (r.ok) return reply.send(r);
    // The broker's cloud check reads 401 bad-credentials and 403 disabled (cloud-check.ts).
    return r.reason === ClaimRefusal.BadCredentials
      ? reply.status(401).send({ ok: false, reason: 'bad-credentials' })
      : reply.status(403).send({ ok: false, reason: 'disabled', detail: r.reason });
  });

  fastify.post('/internal/claim-exchange', {
    schema: {
      tags: ['internal'], summary: 'Exchange a claim for a device identity, for a claim session (bearer = broker token)', security: [{ brokerToken: [] }],
      body: Type.Object({ claimId: Type.String({ maxLength: 64 }), serial: Serial, csr: Type.Optional(Csr) }),
      response: { 200: Type.Union([Provisioned, Refused]), ...errorResponses(400, 401, 429) },
    },
    config: { rateLimit: false },
  }, async (req) => svc.exchange(req.body.claimId, req.body.serial, req.body.csr, 'mqtt'));
};

/** `POST /api/v1/provision/claim`: the same exchange over HTTP for devices that speak it,
 * the claim secret in the body. No other credential, so a tight per-address budget. */
export const claimHttpExchangeRoute: FastifyPluginAsyncTypebox<{ claims: ClaimService }> = async (fastify, { claims: svc }) => {
  fastify.post('/provision/claim', {
    schema: {
      tags: ['claims'], summary: 'Exchange a claim for a device identity over HTTP (claim secret in the body)',
      body: Type.Object({ claimId: Type.String({ maxLength: 64 }), secret: Type.String({ maxLength: 256 }), serial: Serial, csr: Type.Optional(Csr) }, { additionalProperties: false }),
      response: { 200: Provisioned, 400: Type.Union([Refused, Type.Object({}, { additionalProperties: true })]), 401: Refused, 403: Refused, 409: Refused, 429: Type.Object({}, { additionalProperties: true }), 503: Refused },
    },
    config: { rateLimit: { max: 30, timeWindow: 60_000 } },
  }, async (req, reply) => {
    const { claimId, secret, serial, csr } = req.body;
    const auth = await svc.authenticate(claimId, secret, serial, 'http');
    if (!auth.ok) return reply.status(statusOfRefusal(auth.reason)).send({ ok: false, reason: auth.reason, message: auth.reason === ClaimRefusal.BadCredentials ? 'unknown claim or wrong secret' : `claim ${auth.reason}` });
    const r = await svc.exchange(isClaimId(claimId) ? claimId : '', serial, csr, 'http');
    return r.ok ? reply.send(r) : reply.status(statusOfRefusal(r.reason)).send(r);
  });
};
