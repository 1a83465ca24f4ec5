import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { generateSecret, hashSecret, isValidId, verifySecret } from '@yulan/protos';
import { Type } from 'typebox';
import { ErrorResponse, errorResponses } from '../schemas/common.js';
import { DeviceAuthBody, DeviceAuthOk, DeviceAuthRefused } from '../schemas/data.js';
import { ABANDONED, type VerifyQueue } from '../verify-queue.js';
import '../types.js';

/**
 * `POST /api/v1/internal/device-auth`, called by the broker on every device CONNECT it
 * has not cached (docs/architecture.md, "Device authentication"). Unknown ids and wrong
 * secrets get the same 401, and unknown ids still pay one scrypt verification against a
 * throw-away hash, so neither the body nor the latency tells which ids exist.
 */
const deviceAuth: FastifyPluginAsyncTypebox<{ queue: VerifyQueue }> = async (fastify, opts) => {
  const decoyHash = await hashSecret(generateSecret());
  fastify.addHook('onRequest', fastify.requireBroker);

  fastify.post(
    '/internal/device-auth',
    {
      schema: {
        tags: ['internal'],
        summary: 'Device authentication for the broker (bearer = broker token)',
        security: [{ brokerToken: [] }],
        body: DeviceAuthBody,
        response: {
          200: DeviceAuthOk,
          // bad device credentials, or (standard error body) a missing/wrong broker token
          401: Type.Union([DeviceAuthRefused, ErrorResponse]),
          403: DeviceAuthRefused,
          ...errorResponses(400, 429),
        },
      },
      // The broker is the only caller and may legitimately burst (reconnect storms);
      // its bearer is checked first and failures count in the auth limiter.
      config: { rateLimit: false },
    },
    async (request, reply) => {
      const { deviceId, secret } = request.body;
      const found = isValidId(deviceId) ? await fastify.devices.getSecretHash(deviceId) : undefined;
      // Hashing waits its turn; a broker that timed out meanwhile has closed the connection
      // and will ask again, so its check is not computed for nobody (verify-queue.ts).
      const ok = await opts.queue.run(() => verifySecret(secret, found?.secretHash ?? decoyHash), () => request.raw.socket?.destroyed === true);
      if (ok === ABANDONED) {
        request.log.info({ deviceId: isValidId(deviceId) ? deviceId : '(malformed)' }, 'device auth dropped unhashed: the caller gave up waiting');
        reply.hijack();
        return;
      }
      if (!found || !ok) {
        request.log.info({ deviceId: isValidId(deviceId) ? deviceId : '(malformed)' }, 'device auth refused');
        return reply.status(401).send({ ok: false, reason: 'bad-credentials' });
      }
      // Disabled is only revealed to a caller holding the right secret.
      if (found.device.status === 'disabled') return reply.status(403).send({ ok: false, reason: 'disabled' });
      const { id, site, kind } = found.device;
      return reply.status(200).send({ ok: true, device: { id, site, kind } });
    },
  );
};
export default deviceAuth;
