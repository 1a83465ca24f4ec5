import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ControlTopic, isValidId } from '@yulan/protos';
import { Type } from 'typebox';
import { CloudError, CloudErrorCode } from '../errors.js';
import { adminSecurity, errorResponses } from '../schemas/common.js';
import { DeviceParams } from '../schemas/devices.js';
import type { DeviceCertsModule } from './index.js';
import { certRotateInternalRoute, certRotateRoute } from './rotation-routes.js';
import { retireOnFirstUse } from './rotation.js';
import { certStatus } from './store.js';
import '../types.js';

const Fingerprint = Type.String({ pattern: '^[0-9a-f]{64}$' });
const CertView = Type.Object({
  fingerprint: Type.String(), serial: Type.String(), notAfter: Type.String(), issuedAt: Type.String(), revokedAt: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.Literal('active'), Type.Literal('retiring'), Type.Literal('retired'), Type.Literal('revoked'), Type.Literal('expired')]),
  replacedBy: Type.Union([Type.String(), Type.Null()]), retireAt: Type.Union([Type.String(), Type.Null()]),
  retiredAt: Type.Union([Type.String(), Type.Null()]), firstUsedAt: Type.Union([Type.String(), Type.Null()]),
});

/**
 * Device certificates (docs/security.md "Device certificates"), registry permission:
 * `POST /devices/:id/certificates {csr}` signs the device's CSR (CN = the device id);
 * `GET` lists them; `POST /devices/:id/certificates/revoke {fingerprint?}` revokes one or
 * all, pushes each to the broker (`$yulan/v1/control/revoke-cert`) which cuts the session.
 */
export const deviceCertRoutes: FastifyPluginAsyncTypebox<{ certs: DeviceCertsModule }> = async (fastify, { certs }) => {
  fastify.post('/devices/:id/certificates', {
    schema: {
      tags: ['devices'], security: adminSecurity, params: DeviceParams,
      summary: 'Issue a device certificate from a CSR (the private key stays with the device)',
      body: Type.Object({ csr: Type.String({ minLength: 100, maxLength: 16_000 }), days: Type.Optional(Type.Integer({ minimum: 1, maximum: 825 })) }, { additionalProperties: false }),
      response: { 201: Type.Object({ certificate: Type.String(), caCertificate: Type.String(), fingerprint: Type.String(), serial: Type.String(), notAfter: Type.String() }), ...errorResponses(400, 401, 403, 404, 429) },
    },
  }, async (request, reply) => {
    const d = await fastify.devices.get(request.params.id);
    if (!d) throw new CloudError(CloudErrorCode.NotFound, `device "${request.params.id}" is not registered`);
    const issued = await certs.ca.issue(d.id, request.body.csr, request.body.days ?? certs.defaultDays);
    await certs.store.add({ fingerprint: issued.fingerprint, deviceId: d.id, serial: issued.serial, notAfter: issued.notAfter, issuedAt: new Date().toISOString() });
    request.log.info({ deviceId: d.id, serial: issued.serial, notAfter: issued.notAfter }, 'device certificate issued');
    return reply.status(201).send({ certificate: issued.certificatePem, caCertificate: certs.ca.certPem, fingerprint: issued.fingerprint, serial: issued.serial, notAfter: issued.notAfter });
  });

  fastify.get('/devices/:id/certificates', {
    schema: { tags: ['devices'], security: adminSecurity, params: DeviceParams, summary: 'A device\'s certificates with their status (active, retiring, retired, revoked, expired)', response: { 200: Type.Object({ items: Type.Array(CertView) }), ...errorResponses(400, 401, 403, 429) } },
  }, async (request) => ({ items: (await certs.store.list(request.params.id)).map(({ deviceId: _d, ...r }) => ({ ...r, status: certStatus({ deviceId: _d, ...r }) })) }));

  await fastify.register(certRotateRoute, { certs });

  fastify.post('/devices/:id/certificates/revoke', {
    schema: {
      tags: ['devices'], security: adminSecurity, params: DeviceParams,
      summary: 'Revoke a device certificate (or all of them); the broker refuses it and cuts the session at once',
      body: Type.Object({ fingerprint: Type.Optional(Fingerprint) }, { additionalProperties: false }),
      response: { 200: Type.Object({ revoked: Type.Array(Type.String()), push: Type.Union([Type.Literal('published'), Type.Literal('pending')]) }), ...errorResponses(400, 401, 403, 404, 429) },
    },
  }, async (request) => {
    const revoked = await certs.store.revoke(request.params.id, new Date().toISOString(), request.body?.fingerprint);
    if (revoked.length === 0) throw new CloudError(CloudErrorCode.NotFound, `device "${request.params.id}" has no such unrevoked certificate`);
    let push: 'published' | 'pending' = 'published';
    for (const r of revoked) {
      // The registry refuses it already (device-cert-auth); the push makes the broker cut
      // the live session and refuse without asking. A broker that is down gets the list
      // again on the link's next connect (index.ts).
      try {
        await certs.publish(ControlTopic.RevokeCert, r.fingerprint);
      } catch (err) {
        push = 'pending';
        request.log.warn({ err, deviceId: r.deviceId, fingerprint: r.fingerprint }, 'certificate revocation not acknowledged by the broker');
      }
    }
    request.log.info({ deviceId: request.params.id, fingerprints: revoked.map((r) => r.fingerprint), push }, 'device certificate revoked');
    return { revoked: revoked.map((r) => r.fingerprint), push };
  });
};

/** `POST /api/v1/internal/device-cert-auth` (broker token): may this device log in with this
 * certificate? 200 with the device as device-auth answers; 401 `bad-credentials` when the
 * certificate is not the device's unrevoked one (or the device is unknown); 403 `disabled`. */
export const deviceCertAuthRoute: FastifyPluginAsyncTypebox<{ certs: DeviceCertsModule }> = async (fastify, { certs }) => {
  fastify.addHook('onRequest', fastify.requireBroker);
  await fastify.register(certRotateInternalRoute, { certs });
  fastify.post('/internal/device-cert-auth', {
    schema: {
      tags: ['internal'], summary: 'Device certificate login check for the broker (bearer = broker token)', security: [{ brokerToken: [] }],
      body: Type.Object({ deviceId: Type.String({ maxLength: 64 }), fingerprint: Type.String({ maxLength: 64 }), serial: Type.String({ maxLength: 64 }) }),
    },
    config: { rateLimit: false },
  }, async (request, reply) => {
    const { deviceId, fingerprint } = request.body;
    const cert = isValidId(deviceId) ? await certs.store.active(deviceId, fingerprint) : undefined;
    const device = cert ? await fastify.devices.get(deviceId) : undefined;
    if (!cert || !device) {
      request.log.info({ deviceId: isValidId(deviceId) ? deviceId : '(malformed)' }, 'device certificate login refused');
      return reply.status(401).send({ ok: false, reason: 'bad-credentials' });
    }
    if (device.status === 'disabled') return reply.status(403).send({ ok: false, reason: 'disabled' });
    await retireOnFirstUse(certs, deviceId, fingerprint, request.log);
    return reply.status(200).send({ ok: true, device: { id: device.id, site: device.site, kind: device.kind } });
  });
};
