import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { isValidId } from '@yulan/protos';
import { Type } from 'typebox';
import { CloudError, CloudErrorCode } from '../errors.js';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import { DeviceParams } from '../schemas/devices.js';
import type { DeviceCertsModule } from './index.js';
import { rotateCert } from './rotation.js';
import '../types.js';

const Csr = Type.String({ minLength: 100, maxLength: 16_000 });
const Rotated = Type.Object({
  certificate: Type.String(), caCertificate: Type.String(), fingerprint: Type.String(), serial: Type.String(), notAfter: Type.String(),
  replaces: Type.Array(Type.String()), retireAt: Type.String(),
});

/** `POST /devices/:id/certificates/rotate {csr, days?, graceHours?}` (registry permission,
 * `yulan device cert rotate`): a successor for every valid certificate of the device. */
export const certRotateRoute: FastifyPluginAsyncTypebox<{ certs: DeviceCertsModule }> = async (fastify, { certs }) => {
  fastify.post('/devices/:id/certificates/rotate', {
    schema: {
      tags: ['devices'], security: adminSecurity, params: DeviceParams,
      summary: 'Rotate a device certificate: a new one from a CSR; the old stay valid until the new one is first used or the grace ends',
      body: Type.Object({
        csr: Csr, days: Type.Optional(Type.Integer({ minimum: 1, maximum: 825 })), graceHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 24 * 90 })),
      }, { additionalProperties: false }),
      response: { 201: Rotated, ...errorResponses(400, 401, 403, 404, 409, 429) },
    },
  }, async (request, reply) => {
    const d = await fastify.devices.get(request.params.id);
    if (!d) throw new CloudError(CloudErrorCode.NotFound, `device "${request.params.id}" is not registered`);
    const r = await rotateCert(certs, {
      deviceId: d.id, csr: request.body.csr, from: (await certs.store.usable(d.id)).map((c) => c.fingerprint), log: request.log,
      ...(request.body.days !== undefined ? { days: request.body.days } : {}),
      ...(request.body.graceHours !== undefined ? { graceMs: request.body.graceHours * 3_600_000 } : {}),
    });
    return reply.status(201).send({ certificate: r.certificatePem, caCertificate: certs.ca.certPem, fingerprint: r.fingerprint, serial: r.serial, notAfter: r.notAfter, replaces: r.replaces, retireAt: r.retireAt });
  });
};

/** `POST /api/v1/internal/device-cert-rotate {deviceId, fingerprint, csr}` (broker token): a
 * device asked over its MQTT/TLS session, which presented the certificate `fingerprint`.
 * 401 `bad-credentials` unless that is the device's valid certificate (revoked, retired,
 * expired and other devices' ones cannot rotate); 403 `disabled`; 400 for a bad CSR. */
export const certRotateInternalRoute: FastifyPluginAsyncTypebox<{ certs: DeviceCertsModule }> = async (fastify, { certs }) => {
  fastify.post('/internal/device-cert-rotate', {
    schema: {
      tags: ['internal'], summary: 'Certificate rotation asked by a device over MQTT/TLS (bearer = broker token)', security: [{ brokerToken: [] }],
      body: Type.Object({ deviceId: Type.String({ maxLength: 64 }), fingerprint: Type.String({ maxLength: 64 }), csr: Csr }),
    },
    // The broker lets each device have one request in flight (broker/src/cert-rotation.ts);
    // a per-address limit here would throttle the whole fleet behind the broker's address.
    config: { rateLimit: false },
  }, async (request, reply) => {
    const { deviceId, fingerprint, csr } = request.body;
    const cert = isValidId(deviceId) ? await certs.store.active(deviceId, fingerprint) : undefined;
    const device = cert ? await fastify.devices.get(deviceId) : undefined;
    if (!cert || !device) {
      request.log.warn({ deviceId: isValidId(deviceId) ? deviceId : '(malformed)', fingerprint }, 'certificate rotation refused: not the device\'s valid certificate');
      return reply.status(401).send({ ok: false, reason: 'bad-credentials' });
    }
    if (device.status === 'disabled') return reply.status(403).send({ ok: false, reason: 'disabled' });
    const r = await rotateCert(certs, { deviceId, csr, from: [fingerprint], log: request.log });
    return reply.status(201).send({ ok: true, certificate: r.certificatePem, caCertificate: certs.ca.certPem, fingerprint: r.fingerprint, notAfter: r.notAfter, retireAt: r.retireAt });
  });
};
