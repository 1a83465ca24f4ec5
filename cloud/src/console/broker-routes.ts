import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AuditLog } from '../care/contracts.js';
import { actorOf } from '../care/people/route-helpers.js';
import { CloudError, CloudErrorCode, HttpError } from '../errors.js';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import '../types.js';

/**
 * The console's broker view (docs/console.md): a proxy to the broker's admin API
 * (broker/src/admin-api.ts) at YULAN_BROKER_ADMIN_URL, called with the broker token the
 * cloud already shares with the broker. People never see that token; staff-auth checks
 * their permission first (reads `view`, disconnect `broker`), and every disconnect is
 * written to the audit log with the person.
 */
export interface BrokerRoutesOptions {
  baseUrl?: string;
  token: string;
  audit?: AuditLog;
  timeoutMs?: number;
  /** for an https:// admin URL with a private CA (fetchTrustingCa) */
  fetch?: typeof fetch;
}

const ClientId = Type.String({ minLength: 1, maxLength: 256 });
const ClientParams = Type.Object({ id: ClientId });
const Paging = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
};
const BrokerClient = Type.Object({
  id: Type.String(),
  username: Type.Optional(Type.String()),
  address: Type.Optional(Type.String()),
  connectedSince: Type.Number({ description: 'ms since epoch' }),
  lastActivity: Type.Number({ description: 'ms since epoch, the last packet from the client' }),
  subscriptions: Type.Integer(),
});
const ClientsPage = Type.Object({ total: Type.Integer(), offset: Type.Integer(), limit: Type.Integer(), clients: Type.Array(BrokerClient) });
const Subscriptions = Type.Object({ id: Type.String(), subscriptions: Type.Array(Type.Object({ topic: Type.String(), qos: Type.Integer() })) });
const Retained = Type.Object({
  filter: Type.String(), count: Type.Integer(), bytes: Type.Integer(),
  messages: Type.Array(Type.Object({
    topic: Type.String(), qos: Type.Integer(), size: Type.Integer(),
    payloadHex: Type.Optional(Type.String({ description: 'the first 64 bytes, hex; never decoded' })),
    payloadHidden: Type.Optional(Type.Boolean({ description: 'fall-sensor payloads: size only' })),
  })),
});

const brokerRoutes: FastifyPluginAsyncTypebox<BrokerRoutesOptions> = async (fastify, opts) => {
  const timeoutMs = opts.timeoutMs ?? 5000;
  async function call(path: string, method: 'GET' | 'POST' = 'GET'): Promise<{ status: number; body: unknown }> {
    if (opts.baseUrl === undefined) {
      throw new HttpError(503, CloudErrorCode.BrokerUnreachable, 'the broker view is not configured (YULAN_BROKER_ADMIN_URL)', { expose: true });
    }
    let res: Response;
    try {
      res = await (opts.fetch ?? fetch)(`${opts.baseUrl}/admin/${path}`, {
        method, headers: { authorization: `Bearer ${opts.token}` }, signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (cause) {
      throw new CloudError(CloudErrorCode.BrokerUnreachable, 'cannot reach the broker', { cause });
    }
    const body: unknown = res.status === 204 ? undefined : await res.json().catch(() => undefined);
    if (res.status === 404 && path.startsWith('clients/')) throw new CloudError(CloudErrorCode.NotFound, 'that client is not connected');
    // A 401 means the two sides hold different broker tokens: a deployment fault, not the caller's.
    if (res.status !== 200 && res.status !== 204) {
      fastify.log.error({ status: res.status, path }, 'broker admin API answered unexpectedly');
      throw new CloudError(CloudErrorCode.BrokerUnreachable, `the broker answered ${res.status}`);
    }
    return { status: res.status, body };
  }
  const qs = (q: Record<string, string | number | undefined>): string => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v));
    const s = p.toString();
    return s === '' ? '' : `?${s}`;
  };
  const tags = ['broker'];

  fastify.get('/broker/clients', {
    schema: {
      tags, security: adminSecurity, summary: 'Clients connected to the broker, sorted by id; q searches id, username, address',
      querystring: Type.Object({ q: Type.Optional(Type.String({ maxLength: 200 })), ...Paging }),
      response: { 200: ClientsPage, ...errorResponses(400, 401, 403, 429, 502, 503) },
    },
  }, async (request) => (await call(`clients${qs(request.query)}`)).body as never);

  fastify.get('/broker/clients/:id/subscriptions', {
    schema: {
      tags, security: adminSecurity, summary: 'One connected client\'s subscriptions', params: ClientParams,
      response: { 200: Subscriptions, ...errorResponses(401, 403, 404, 429, 502, 503) },
    },
  }, async (request) => (await call(`clients/${encodeURIComponent(request.params.id)}/subscriptions`)).body as never);

  fastify.post('/broker/clients/:id/disconnect', {
    schema: {
      tags, security: adminSecurity, params: ClientParams,
      summary: 'Close a client\'s connection (it may reconnect; disable a device to keep it out). Audited.',
      response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 429, 502, 503) },
    },
  }, async (request, reply) => {
    const id = request.params.id;
    const actor = request.principal ? actorOf(request.principal) : 'admin-token';
    await call(`clients/${encodeURIComponent(id)}/disconnect`, 'POST');
    await opts.audit?.record({ actor, action: 'broker.disconnect', residentId: null, purpose: 'broker operations', detail: `client ${id}` });
    request.log.info({ actor, clientId: id }, 'broker client disconnected');
    return reply.status(204).send(null);
  });

  fastify.get('/broker/retained', {
    schema: {
      tags, security: adminSecurity, summary: 'Retained messages matching an MQTT filter: count, bytes, and the first `limit`',
      querystring: Type.Object({ filter: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })), ...Paging }),
      response: { 200: Retained, ...errorResponses(400, 401, 403, 429, 502, 503) },
    },
  }, async (request) => {
    const filter = request.query.filter ?? '#';
    if (!/^((\+|[^#+/]*)\/)*(\+|#|[^#+/]*)$/.test(filter)) throw new CloudError(CloudErrorCode.Validation, 'filter must be an MQTT topic filter');
    return (await call(`retained${qs({ ...request.query, filter })}`)).body as never;
  });

  fastify.get('/broker/counters', {
    schema: { tags, security: adminSecurity, summary: 'The broker\'s counters (the same as its /metrics)', response: { 200: Type.Object({}, { additionalProperties: true }), ...errorResponses(401, 403, 429, 502, 503) } },
  }, async () => (await call('counters')).body as never);
};
export default brokerRoutes;
