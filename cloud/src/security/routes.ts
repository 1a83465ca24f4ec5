import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import type { SecurityModule } from './index.js';
import '../types.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const Alert = Type.Object({
  id: Type.Integer(), rule: Type.String(), source: Type.String({ description: 'broker or cloud: whose counters' }), description: Type.String(),
  threshold: Type.Integer(), windowSec: Type.Integer(), openedAt: Type.String(), closedAt: Nullable(Type.String()),
  openedCount: Type.Integer({ description: 'the rise within the window when it opened' }), peakCount: Type.Integer({ description: 'the highest rise within a window since' }),
  events: Type.Integer({ description: 'events counted while open' }), lastSeenAt: Type.String(),
  delivery: Nullable(Type.String({ description: 'how the operators were told, channel by channel' })),
});
const Rule = Type.Object({ id: Type.String(), source: Type.String(), description: Type.String(), threshold: Type.Integer(), windowSec: Type.Integer() });
const Monitor = Type.Object({
  samples: Type.Integer(), brokerSampleFailures: Type.Integer(), brokerReachable: Type.Union([Type.Boolean(), Type.Null()]),
  lastSampleAt: Nullable(Type.String()), openAlerts: Type.Integer(), sampleMs: Type.Integer(),
});

/** Security alerts (docs/security.md, "Security alerts"), in the staff scope: reads are
 * `view`, which admins and operators hold and care roles do not (console/permissions.ts). */
export const securityRoutes: FastifyPluginAsyncTypebox<{ security: SecurityModule }> = async (fastify, { security }) => {
  fastify.get('/security/alerts', {
    schema: {
      tags: ['security'], security: adminSecurity,
      summary: 'Security alerts, newest first (open=true: only open ones), the rules in force and the monitor\'s state',
      querystring: Type.Object({
        open: Type.Optional(Type.Boolean()),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
        before: Type.Optional(Type.Integer({ minimum: 1, description: 'alerts with a smaller id (paging)' })),
      }),
      response: { 200: Type.Object({ items: Type.Array(Alert), rules: Type.Array(Rule), monitor: Monitor }), ...errorResponses(400, 401, 403, 429) },
    },
  }, async (request) => {
    const q = request.query;
    return {
      items: await security.store.list({ ...(q.open !== undefined ? { open: q.open } : {}), limit: q.limit ?? 100, ...(q.before !== undefined ? { beforeId: q.before } : {}) }),
      rules: [
        ...security.rules.map((r) => ({ id: r.id, source: r.source, description: r.description, threshold: r.threshold, windowSec: r.windowSec })),
        // level rules: open while the figure is above zero (windowSec 0)
        ...security.gauges.map((g) => ({ id: g.id, source: 'cloud', description: g.description, threshold: 1, windowSec: 0 })),
      ],
      monitor: { ...security.monitor.stats, sampleMs: security.sampleMs },
    };
  });
};
