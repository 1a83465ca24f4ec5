import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppOptions } from '../app.js';
import { adminSecurity, errorResponses } from '../schemas/common.js';

const Counters = Type.Object({
  received: Type.Integer(),
  applied: Type.Integer(),
  dropped: Type.Record(Type.String(), Type.Integer()),
});

/** Counters an operator needs to see that bad input is being dropped, not crashing us. */
const metrics: FastifyPluginAsyncTypebox<AppOptions> = async (fastify, opts) => {
  fastify.get(
    '/metrics',
    {
      schema: {
        tags: ['health'],
        summary: 'Presence ingestion counters (received, applied, dropped by reason); alerts that reached nobody',
        security: adminSecurity,
        response: {
          200: Type.Object({
            mqttConnected: Type.Boolean(),
            presence: Counters,
            alerts_unreached: Type.Integer({ description: 'open urgent alerts nobody could be reached for in time (docs/care.md §3); each is an incident' }),
            claims_refused: Type.Optional(Type.Record(Type.String(), Type.Integer(), { description: 'claim logins and exchanges refused, by reason (docs/security.md)' })),
            deviceAuth: Type.Optional(Type.Object({
              running: Type.Integer(), waiting: Type.Integer(),
              abandoned: Type.Integer({ description: 'broker checks dropped unhashed because the broker had given up waiting (overload)' }),
            })),
            ocpp_diagnostics: Type.Optional(Type.Record(Type.String(), Type.Integer(), { description: 'OCPP diagnostics hand-overs (docs/ocpp.md §4.2): received, duplicates, refused by reason, pruned' })),
            site_power_caps: Type.Optional(Type.Record(Type.String(), Type.Integer(), { description: 'site power caps (docs/ocpp.md §4.1): caps refused, divisions, shares sent and not sent' })),
            complaints_rejected: Type.Optional(Type.Record(Type.String(), Type.Integer(), { description: 'one-tap complaints refused, by reason (rate, honeypot, proof, input)' })),
          }),
          ...errorResponses(401, 429),
        },
      },
    },
    async () => ({
      mqttConnected: fastify.control.connected(),
      presence: opts.presenceStats?.() ?? { received: 0, applied: 0, dropped: {} },
      alerts_unreached: opts.alerts ? (await opts.alerts.repo.counts()).unreached : 0,
      ...(opts.claims ? { claims_refused: { ...opts.claims.service.refused } } : {}),
      ...(opts.deviceAuthQueue ? { deviceAuth: opts.deviceAuthQueue.stats() } : {}),
      ...(opts.complaints ? { complaints_rejected: { ...opts.complaints.rejected } } : {}),
      ...(opts.ocpp?.diagnostics ? { ocpp_diagnostics: { ...opts.ocpp.diagnostics.stats } } : {}),
      ...(opts.ocpp?.sitePowerCaps ? { site_power_caps: { ...opts.ocpp.sitePowerCaps.stats } } : {}),
    }),
  );
};
export default metrics;
