import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { WebhookHeader, verifyWebhook } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../../errors.js';
import { errorResponses } from '../../schemas/common.js';
import { alertView, personOf } from './access.js';
import type { AlertsModule } from './index.js';
import type { NotificationRecord } from './repository.js';
import '../../types.js';

const DeliveryParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 80 }) });
const header = (r: FastifyRequest, name: string): string | undefined => {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Runs an onRequest-style hook (async or callback) from inside a handler. */
function runHook(hook: onRequestHookHandler, fastify: unknown, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = (hook as (this: unknown, a: FastifyRequest, b: FastifyReply, done: (err?: Error) => void) => unknown)
      .call(fastify, request, reply, (err?: Error) => (err ? reject(err) : resolve()));
    if (r && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).then(() => resolve(), reject);
  });
}

/**
 * Receipts and claims by delivery id (docs/care.md §4). A webhook receiver signs its call
 * with its channel's secret over the raw body (so the body is kept unparsed here); the
 * care page uses its session instead (receipt only). The signed body is JSON naming the
 * delivery: `{"deliveryId": "<id>", …}`. Anything unsigned, wrongly signed or
 * stale is 401 and changes nothing; an unknown delivery id is the same 401, so ids
 * cannot be probed.
 */
const notificationRoutes: FastifyPluginAsyncTypebox<{ alerts: AlertsModule }> = async (fastify, { alerts }) => {
  const { repo, directory, now } = alerts.internals;
  const raw = new WeakMap<FastifyRequest, string>();
  // Encapsulated: only this scope keeps raw bodies, the rest of the API parses as usual.
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    raw.set(request, typeof body === 'string' ? body : body.toString('utf8'));
    done(null, undefined);
  });
  fastify.addContentTypeParser('text/plain', { parseAs: 'string' }, (request, body, done) => {
    raw.set(request, typeof body === 'string' ? body : body.toString('utf8'));
    done(null, undefined);
  });

  async function signed(request: FastifyRequest): Promise<NotificationRecord> {
    const fail = (why: string): never => {
      request.log.info({ why }, 'notification callback refused');
      throw new CloudError(CloudErrorCode.Unauthorized, 'missing, invalid or stale signature');
    };
    const id = (request.params as { id: string }).id;
    const n = await repo.notification(id);
    if (!n) return fail('unknown delivery id');
    const person = (await directory.person(n.userId).catch(() => null)) ?? n.recipient;
    const secrets = (person?.channels ?? []).filter((c) => c.type === 'webhook' && c.secret).map((c) => c.secret as string);
    if (secrets.length === 0) return fail('recipient has no webhook secret');
    const body = raw.get(request) ?? '';
    const ts = header(request, WebhookHeader.Timestamp);
    const sig = header(request, WebhookHeader.Signature);
    const checks = secrets.map((s) => verifyWebhook(s, ts, sig, body, now()));
    if (!checks.some((c) => c.ok)) return fail(checks.map((c) => (c.ok ? 'ok' : c.reason)).join(','));
    // The path is not covered by the signature, so the signed body must name the delivery:
    // otherwise a captured callback could be replayed against another delivery of the same person.
    let named: unknown;
    try { named = (JSON.parse(body) as { deliveryId?: unknown } | null)?.deliveryId; } catch { named = undefined; }
    if (named !== id) return fail('signed body does not name this delivery');
    return n;
  }

  async function markRead(n: NotificationRecord, via: string): Promise<void> {
    if (n.readAt !== null) return;
    const at = now();
    await repo.updateNotification(n.id, { readAt: at }, { alertId: n.alertId, atMs: at, kind: 'read', actor: n.userId, detail: { notificationId: n.id, kind: n.kind, via } });
  }

  const Receipt = Type.Object({ id: Type.String(), readAt: Type.Union([Type.Integer(), Type.Null()]) });

  fastify.post(
    '/notifications/:id/receipt',
    { schema: { tags: ['care'], summary: 'Confirm a notification was shown (webhook signature, or the session of its recipient)', params: DeliveryParams, response: { 200: Receipt, ...errorResponses(400, 401, 404, 429) } } },
    async (request, reply) => {
      let n: NotificationRecord;
      let via: string;
      if (header(request, WebhookHeader.Signature) !== undefined || header(request, WebhookHeader.Timestamp) !== undefined) {
        n = await signed(request);
        via = 'webhook';
      } else {
        await runHook(alerts.authenticate ?? fastify.authenticate, fastify, request, reply);
        const me = personOf(request);
        const found = await repo.notification(request.params.id);
        if (!found || found.userId !== me.userId) throw new CloudError(CloudErrorCode.NotFound, `notification ${request.params.id} not found`);
        n = found;
        via = 'app';
      }
      await markRead(n, via);
      return { id: n.id, readAt: (await repo.notification(n.id))?.readAt ?? null };
    },
  );

  fastify.post(
    '/notifications/:id/ack',
    { schema: { tags: ['care'], summary: 'Claim the alert of a delivery, signed with the webhook channel secret', params: DeliveryParams, response: { 200: Type.Unknown(), ...errorResponses(400, 401, 409, 429) } } },
    async (request) => {
      const n = await signed(request);
      await markRead(n, 'webhook');
      const a = await alerts.claim(n.alertId, n.userId, 'webhook');
      return { alert: alertView(a) };
    },
  );
};
export default notificationRoutes;
