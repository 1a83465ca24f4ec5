import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { AlertsModule } from '../care/alerts/index.js';
import { alertView } from '../care/alerts/access.js';
import type { Principal } from '../care/contracts.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import type { ApiTokenService, TokenPrincipal } from './token-service.js';
import '../types.js';

export const ALERT_STREAM_HEARTBEAT_MS = 15_000;
/** At most this many alerts in one catch-up (open ones plus those changed since the cursor). */
const CATCH_UP_LIMIT = 1000;

/**
 * `GET /api/v1/alerts/stream` (issue 16): open alerts and every change to them as
 * Server-Sent Events, for tools (the Node-RED `yulan alert` node) holding the admin token
 * or an API token with `alerts:read` (which needs its integration's health grant; people
 * use /care/stream). Each `alert` event carries the alert's view and `id: <updatedAt ms>`.
 *
 * Catch-up: on connect the stream first sends every alert not closed, plus every alert
 * changed at or after the cursor (`Last-Event-ID`, or `?since=<ms>`), then `synced`, then
 * live changes. A client that reconnects with the last id it saw misses nothing; it may
 * see an alert twice (same `updatedAt`) and drops the repeat. (`revision` is the edge's
 * report revision: a claim or resolution in the cloud changes `updatedAt` only.)
 *
 * Every alert written to a token's stream is audited like a read of the resident's data;
 * the stream ends (`event: end`) when the token is revoked or expires, or its integration
 * is disabled or loses the health grant.
 */
export function alertStreamRoute(o: { alerts: AlertsModule; tokens?: ApiTokenService; heartbeatMs?: number }): FastifyPluginAsync {
  return async (fastify) => {
    fastify.addHook('onRequest', fastify.authorizeStaff);
    const { repo, audit } = o.alerts.internals;
    // Hijacked responses outlive fastify.close(): end them, so clients notice a restart.
    const streams = new Set<ServerResponse>();
    fastify.addHook('onClose', async () => {
      for (const res of streams) if (!res.writableEnded) res.end('event: end\ndata: {"reason":"shutdown"}\n\n');
    });
    fastify.get('/alerts/stream', {
      schema: {
        tags: ['integrations'], summary: 'Server-Sent Events: open alerts, then their changes (admin token or an API token with alerts:read)',
        security: [...adminSecurity, { apiToken: [] }], querystring: Type.Object({ since: Type.Optional(Type.Integer({ minimum: 0 })) }),
        response: errorResponses(400, 401, 403, 429),
      },
      config: { rateLimit: false },
    }, async (request, reply) => {
      const p = request.principal;
      if (!p || p.kind === 'person') throw new CloudError(CloudErrorCode.Forbidden, 'people follow alerts on /api/v1/care/stream');
      if (p.kind === 'api-token' && !p.healthGrant) throw new CloudError(CloudErrorCode.Forbidden, 'alerts name residents: this token\'s integration has no health grant');
      const header = request.headers['last-event-id'];
      const fromHeader = typeof header === 'string' && /^\d{1,16}$/.test(header) ? Number(header) : undefined;
      const since = fromHeader ?? (request.query as { since?: number }).since;
      reply.hijack();
      await open(reply.raw, p, since);
    });

    async function open(res: ServerResponse, principal: Exclude<Principal, { kind: 'person' }>, since: number | undefined): Promise<void> {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      res.write('retry: 2000\n: connected\n\n');
      let who: Exclude<Principal, { kind: 'person' }> | undefined = principal;
      const actor = principal.kind === 'api-token' ? `token:${principal.tokenId}` : 'admin-token';
      const end = (reason: string): void => {
        who = undefined;
        if (!res.writableEnded) res.end(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
        fastify.log.info({ actor, reason }, 'alert stream ended');
      };
      // A token is looked at again (in the database: a revocation on another cloud counts)
      // before every write: revoked, expired, disabled or without the health grant,
      // nothing more is written.
      const stillOk = async (): Promise<boolean> => {
        if (!who) return false;
        if (who.kind !== 'api-token') return true;
        const now = await o.tokens?.stillValid(who as TokenPrincipal);
        if (!now) { end('token-revoked'); return false; }
        if (!now.healthGrant) { end('health-grant-revoked'); return false; }
        return true;
      };
      // Writes go out one after another, in the order they were asked for, although each
      // first awaits the token check.
      let queue: Promise<void> = Promise.resolve();
      const inOrder = (fn: () => Promise<void>): void => {
        queue = queue.then(fn).catch((err: unknown) => fastify.log.error({ err }, 'alert stream write failed'));
      };
      const write = async (id: string): Promise<void> => {
        const a = await repo.get(id);
        if (!a || !(await stillOk()) || res.writableEnded) return;
        // A token narrowed to sites sees those sites' alerts only.
        if (principal.kind === 'api-token' && principal.sites.length > 0 && !principal.sites.includes(a.site)) return;
        if (a.residentId !== null && principal.kind === 'api-token') {
          // Logged before it is written, like the care page's stream: not written unlogged.
          await audit.record({ actor, action: 'alert.stream', residentId: a.residentId, purpose: `integration: alert stream${principal.integration ? ` (int:${principal.integration})` : ''}`, detail: a.id })
            .catch((err: unknown) => { fastify.log.error({ err }, 'audit of a streamed alert failed'); throw err; });
          if (res.writableEnded) return;
        }
        res.write(`id: ${a.updatedAt}\nevent: alert\ndata: ${JSON.stringify(alertView(a))}\n\n`);
      };
      const send = (id: string): void => inOrder(() => write(id));
      // Listening before the catch-up is read: a change in between is sent twice, never lost.
      const unlisten = o.alerts.hub.onChange((data) => {
        const id = (data as { id?: unknown }).id;
        if (typeof id === 'string') void send(id);
      });
      const unrevoke = o.tokens?.onRevoke((id) => { if (principal.kind === 'api-token' && id === principal.tokenId) end('token-revoked'); }) ?? (() => undefined);
      const heartbeat = setInterval(() => inOrder(async () => { if ((await stillOk()) && !res.writableEnded) res.write(': heartbeat\n\n'); }), o.heartbeatMs ?? ALERT_STREAM_HEARTBEAT_MS);
      streams.add(res);
      const drop = (): void => { clearInterval(heartbeat); unlisten(); unrevoke(); streams.delete(res); };
      res.on('close', drop);
      res.on('error', drop);
      inOrder(async () => {
        for (const a of await repo.openOrChangedSince(since ?? Number.MAX_SAFE_INTEGER, CATCH_UP_LIMIT)) await write(a.id);
        if ((await stillOk()) && !res.writableEnded) res.write(`event: synced\ndata: {}\n\n`);
      });
    }
  };
}
