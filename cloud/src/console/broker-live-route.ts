import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CloudError, CloudErrorCode, HttpError } from '../errors.js';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import type { SessionWatch } from '../care/contracts.js';
import type { BrokerRoutesOptions } from './broker-routes.js';
import '../types.js';

/**
 * GET /api/v1/broker/live (view): the broker's own event stream (`/admin/events`,
 * broker/src/admin-events.ts) passed through to the console, so the broker screen updates
 * when clients come and go and when counters change instead of re-reading on a timer.
 * The cloud holds one upstream connection per open screen and closes it with the screen;
 * the broker token never leaves the cloud.
 */
export interface BrokerLiveOptions extends BrokerRoutesOptions {
  /** a stream opened with a session ends with it (logout, expiry, role change) */
  sessions?: SessionWatch;
}

const brokerLiveRoute: FastifyPluginAsyncTypebox<BrokerLiveOptions> = async (fastify, opts) => {
  fastify.get('/broker/live', {
    schema: {
      tags: ['broker'], security: adminSecurity,
      summary: 'Server-sent events from the broker: `clients` (batched connects and disconnects), `counters` (when they change)',
      response: { ...errorResponses(401, 403, 429, 502, 503) },
    },
  }, async (request, reply) => {
    if (opts.baseUrl === undefined) {
      throw new HttpError(503, CloudErrorCode.BrokerUnreachable, 'the broker view is not configured (YULAN_BROKER_ADMIN_URL)', { expose: true });
    }
    const abort = new AbortController();
    let upstream: Response;
    try {
      upstream = await (opts.fetch ?? fetch)(`${opts.baseUrl}/admin/events`, { headers: { authorization: `Bearer ${opts.token}` }, signal: abort.signal });
    } catch (cause) {
      throw new CloudError(CloudErrorCode.BrokerUnreachable, 'cannot reach the broker', { cause });
    }
    if (upstream.status !== 200 || !upstream.body) {
      abort.abort();
      fastify.log.error({ status: upstream.status }, 'broker event stream refused');
      throw new CloudError(CloudErrorCode.BrokerUnreachable, `the broker answered ${upstream.status}`);
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.on('close', () => abort.abort());
    const session = await opts.sessions?.sessionOf(request);
    const unwatch = session?.onEnd((reason) => {
      if (!res.writableEnded) res.end(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
      abort.abort();
    });
    if (unwatch) res.on('close', unwatch);
    const reader = upstream.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || res.destroyed) break;
        res.write(value);
      }
    } catch {
      // The screen closed (abort) or the broker went away: EventSource reconnects by itself.
    } finally {
      abort.abort();
      if (!res.writableEnded) res.end();
    }
  });
};
export default brokerLiveRoute;
