import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponses } from '../../schemas/common.js';
import type { PeopleModule } from './index.js';
import { TIMEZONE, UTC_OFFSET_MIN } from './policy.js';
import '../../types.js';

/** Default heartbeat of the fall sensors (FallSensorTelemetry every 60 s, docs/care.md §1). */
const HEARTBEAT_SEC = 60;

const Clock = Type.String();
const CareRules = Type.Object({
  timezone: Type.Literal(TIMEZONE),
  utcOffsetMin: Type.Integer(),
  devices: Type.Array(
    Type.Object({
      deviceId: Type.String(),
      residentId: Type.String(),
      heartbeatSec: Type.Integer(),
      routine: Type.Object({
        wakeBy: Type.Union([Clock, Type.Null()]),
        quietHours: Type.Union([Type.Object({ from: Clock, to: Clock }), Type.Null()]),
        inactivityHours: Type.Number(),
      }),
    }),
  ),
});

/** `GET /api/v1/internal/care-rules` (edge token): per-device settings of the edge's
 * alert rules. Only ids and routines: the edge needs no names to raise alerts. */
const careRulesRoute: FastifyPluginAsyncTypebox<{ people: PeopleModule }> = async (fastify, { people }) => {
  fastify.addHook('onRequest', fastify.requireEdge);
  fastify.get(
    '/internal/care-rules',
    {
      schema: {
        tags: ['internal'],
        summary: 'Alert-rule settings of every device linked to a resident (bearer = edge token)',
        // No `security` entry: swagger.ts defines no edgeToken scheme yet, and naming an
        // undefined scheme makes @fastify/swagger fail to build the whole document.
        response: { 200: CareRules, ...errorResponses(401, 429) },
      },
    },
    async () => {
      const { residents } = people.repo;
      const routines = new Map((await residents.all()).map((r) => [r.id, r.routine]));
      const devices = (await residents.allDeviceLinks()).flatMap(({ deviceId, residentId }) => {
        const routine = routines.get(residentId);
        return routine ? [{ deviceId, residentId, heartbeatSec: HEARTBEAT_SEC, routine }] : [];
      });
      return { timezone: TIMEZONE, utcOffsetMin: UTC_OFFSET_MIN, devices };
    },
  );
};
export default careRulesRoute;
