import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { generateSecret, hashSecret } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import { DeviceParams, RegisterResponse } from '../schemas/devices.js';
import { toDeviceView } from '../views.js';
import { revokeLiveSession } from '../mqtt-link.js';
import '../types.js';

/**
 * POST /api/v1/devices/:id/rotate-secret (registry permission): a new device secret,
 * shown once in the response like at registration. The old one stops working at once
 * (device-auth reads the hash) and the live session is cut (revoke), so the device is back
 * only with the new secret. Header x-yulan-revoke: published|pending as for disable.
 */
const rotateSecretRoute: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/devices/:id/rotate-secret', {
    schema: {
      tags: ['devices'], security: adminSecurity, params: DeviceParams,
      summary: 'Rotate a device secret: the new one is in this response only; the old session is revoked',
      response: { 200: RegisterResponse, ...errorResponses(400, 401, 403, 404, 429) },
    },
  }, async (request, reply) => {
    const secret = generateSecret();
    const d = await fastify.devices.setSecretHash(request.params.id, await hashSecret(secret));
    if (!d) throw new CloudError(CloudErrorCode.NotFound, `device "${request.params.id}" is not registered`);
    const revoke = await revokeLiveSession(fastify.control, d.id, request.log, 'secret rotation');
    request.log.info({ deviceId: d.id, revoke }, 'device secret rotated');
    return reply.header('cache-control', 'no-store').header('x-yulan-revoke', revoke).send({ device: toDeviceView(d), secret });
  });
};
export default rotateSecretRoute;
