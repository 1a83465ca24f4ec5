import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CloudError, CloudErrorCode } from '../../errors.js';
import { errorResponses } from '../../schemas/common.js';
import { actorId, alertView, isAdmin, maySee, metricsOf, notificationView, personOf, principalOf, purposeOf, seesUnassigned } from './access.js';
import type { AlertsModule } from './index.js';
import type { AlertReport } from './model.js';
import { AlertParams, AlertReportBody, IntakeResponse, ListAlertsQuery, ResolveBody, schemaErrorFormatter } from './schemas.js';
import notificationRoutes from './notification-routes.js';
import '../../types.js';

export interface AlertRoutesOptions { alerts: AlertsModule }

/** Registered under /api/v1 when `opts.alerts` is set (routes/index.ts). */
const alertRoutes: FastifyPluginAsyncTypebox<AlertRoutesOptions> = async (fastify, { alerts }) => {
  const { repo, directory, audit } = alerts.internals;
  // An alert pushed to a care page names the resident: audited like a read, before it is
  // pushed (the hub waits; an audit that fails keeps the alert off that stream).
  alerts.hub.onAlertShown(async (p, data) => {
    const a = data as { id?: unknown; residentId?: unknown };
    if (typeof a.residentId !== 'string') return;
    await audit.record({ actor: actorId(p), action: 'alert.stream', residentId: a.residentId, purpose: 'care: live stream', detail: String(a.id) })
      .catch((err: unknown) => { fastify.log.error({ err }, 'audit of a streamed alert failed'); throw err; });
  });

  // Edge → cloud intake, edge token.
  await fastify.register(async (scope) => {
    const edge = scope.withTypeProvider<TypeBoxTypeProvider>();
    edge.addHook('onRequest', edge.requireEdge);
    edge.post(
      '/internal/alerts',
      {
        schema: {
          tags: ['internal'],
          summary: 'Alert report from the edge (idempotent by id and revision)',
          body: AlertReportBody,
          response: { 200: IntakeResponse, ...errorResponses(400, 401, 429) },
        },
        schemaErrorFormatter,
        // The edge's outbox may drain a backlog in a burst after an outage.
        config: { rateLimit: false },
      },
      async (request) => {
        const r = await alerts.intake(request.body as AlertReport);
        return { id: r.id, revision: r.revision, status: r.status };
      },
    );
  });

  // People (session or admin token).
  await fastify.register(async (scope) => {
    const people = scope.withTypeProvider<TypeBoxTypeProvider>();
    people.addHook('onRequest', alerts.authenticate ?? people.authenticate);

    async function visible(id: string, request: Parameters<typeof principalOf>[0]) {
      const a = await repo.get(id);
      // Not visible answers exactly like missing: the id's existence is not revealed.
      if (!a || !(await maySee(principalOf(request), a, directory, repo))) {
        throw new CloudError(CloudErrorCode.NotFound, `alert ${id} not found`);
      }
      return a;
    }

    people.get(
      '/alerts',
      { schema: { tags: ['care'], summary: 'Alerts of the residents the caller may see', querystring: ListAlertsQuery, response: { 200: Type.Unknown(), ...errorResponses(400, 401, 429) } }, schemaErrorFormatter },
      async (request) => {
        const p = principalOf(request);
        const q = request.query;
        const residents = await directory.visibleResidents(p);
        const items = await repo.list({
          residents, includeUnassigned: seesUnassigned(p), limit: q.limit,
          ...(q.status !== undefined ? { status: q.status } : {}), ...(q.residentId !== undefined ? { residentId: q.residentId } : {}),
        });
        // One row per resident whose alerts are listed (a list that names no resident still leaves one).
        const named = [...new Set(items.map((a) => a.residentId).filter((r): r is string => r !== null))];
        const purpose = purposeOf(request, 'care');
        for (const residentId of named.length > 0 ? named : [q.residentId ?? null]) {
          const n = items.filter((a) => a.residentId === residentId).length;
          await audit.record({ actor: actorId(p), action: 'alerts.list', residentId, purpose, detail: `${n} of ${items.length} alerts` });
        }
        return { items: items.map(alertView) };
      },
    );

    people.get(
      '/alerts/:id',
      { schema: { tags: ['care'], summary: 'One alert with its timeline, notifications and response times', params: AlertParams, response: { 200: Type.Unknown(), ...errorResponses(400, 401, 404, 429) } } },
      async (request) => {
        const a = await visible(request.params.id, request);
        const p = principalOf(request);
        const ns = await repo.notificationsFor(a.id);
        await audit.record({ actor: actorId(p), action: 'alert.read', residentId: a.residentId, purpose: purposeOf(request, 'care'), detail: a.id });
        return { alert: alertView(a), timeline: await repo.timeline(a.id), notifications: ns.map(notificationView), metrics: metricsOf(a, ns) };
      },
    );

    people.post(
      '/alerts/:id/ack',
      { schema: { tags: ['care'], summary: '"I\'m handling it": claim the alert; stops the ladder', params: AlertParams, response: { 200: Type.Unknown(), ...errorResponses(400, 401, 403, 404, 409, 429) } } },
      async (request) => {
        const a = await visible(request.params.id, request);
        const me = personOf(request);
        const claimed = await alerts.claim(a.id, me.userId, 'care-page');
        return { alert: alertView(claimed) };
      },
    );

    people.post(
      '/alerts/:id/resolve',
      { schema: { tags: ['care'], summary: 'Resolve with an outcome (the claimer or an admin)', params: AlertParams, body: ResolveBody, response: { 200: Type.Unknown(), ...errorResponses(400, 401, 404, 409, 429) } }, schemaErrorFormatter },
      async (request) => {
        const a = await visible(request.params.id, request);
        const p = principalOf(request);
        const done = await alerts.resolve(a.id, { id: actorId(p), admin: isAdmin(p) }, request.body.outcome, request.body.note ?? null);
        return { alert: alertView(done) };
      },
    );

    people.get(
      '/care/metrics',
      { schema: { tags: ['care'], summary: 'Alert counts by status, notifications by channel:status (admins)', response: { 200: Type.Unknown(), ...errorResponses(401, 403, 429) } } },
      async (request) => {
        if (!isAdmin(principalOf(request))) throw new CloudError(CloudErrorCode.Forbidden, 'admins only');
        return await repo.counts();
      },
    );

    people.get(
      '/care/stream',
      { schema: { tags: ['care'], summary: 'Server-Sent Events: `alert` upserts and `page` notifications for the signed-in person' }, config: { rateLimit: false } },
      async (request, reply) => {
        const me = personOf(request);
        // The stream lives as long as the session it is opened with (docs/care.md §5).
        const session = await alerts.hub.sessionOf(request);
        if (session === undefined) throw new CloudError(CloudErrorCode.Unauthorized, 'a live stream needs a signed-in session');
        reply.hijack();
        alerts.hub.open(me, reply.raw, session);
        // An open page makes its person reachable on the app channel: an alert that
        // reached nobody is tried again now, not at its next retry.
        void alerts.retryUnreached().catch((err: unknown) => request.log.error({ err }, 'retrying unreached alerts failed'));
      },
    );
  });

  await fastify.register(notificationRoutes, { alerts });
};
export default alertRoutes;
