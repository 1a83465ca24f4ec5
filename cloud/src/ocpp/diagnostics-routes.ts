import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { safeEqual } from '@yulan/protos';
import { actorOf, who } from '../care/people/route-helpers.js';
import { purposeOf } from '../care/people/purpose.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import { bearer } from '../plugins/admin-auth.js';
import { adminSecurity, errorResponses, Id } from '../schemas/common.js';
import type { DiagnosticsReader, DiagnosticsService } from './diagnostics-service.js';
import '../types.js';

export const DiagnosticsFile = Type.Object({
  id: Type.String(), deviceId: Type.String(), fileName: Type.String(), bytes: Type.Integer(), sha256: Type.String(),
  contentType: Type.String(), commandId: Type.String(),
  uploadedAt: Type.String({ description: 'when the charger uploaded it to the gateway' }), receivedAt: Type.String({ description: 'when the cloud stored it' }),
}, { description: 'a diagnostics file a charger uploaded (docs/ocpp.md §4.2)' });

const HandOver = Type.Object({
  device: Id,
  command: Type.String({ minLength: 1, maxLength: 128 }),
  file: Type.String({ minLength: 1, maxLength: 200 }),
  // a header value: printable ASCII only, so it can be served back as content-type
  contentType: Type.String({ minLength: 1, maxLength: 200, pattern: '^[\\x21-\\x7e][\\x20-\\x7e]*$' }),
  sha256: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }),
  uploadedAt: Type.String({ format: 'date-time' }),
}, { additionalProperties: false });

/**
 * `POST /api/v1/internal/ocpp/diagnostics?device=…&command=…&file=…&contentType=…&sha256=…&uploadedAt=…`,
 * raw body: an OCPP gateway hands over a charger's upload (bearer = YULAN_GATEWAY_TOKEN and only
 * that; enabled chargers only: 403 E_DEVICE_DISABLED for a disabled one). 201 stored, 200 stored
 * before (the gateway may repeat after a lost answer).
 */
export const diagnosticsIntakeRoute: FastifyPluginAsyncTypebox<{ diagnostics: DiagnosticsService; gatewayToken?: string }> = async (fastify, { diagnostics, gatewayToken }) => {
  fastify.addHook('onRequest', async (req, reply) => {
    const t = bearer(req);
    if (gatewayToken !== undefined && t !== undefined && safeEqual(t, gatewayToken)) return;
    void reply.header('www-authenticate', 'Bearer realm="yulan"');
    throw new CloudError(CloudErrorCode.Unauthorized, 'gateway token required');
  });
  // Raw bytes, scoped here so the rest of the API still refuses octet-stream bodies.
  fastify.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: diagnostics.maxBytes }, (_req, body, done) => done(null, body));
  fastify.addHook('onError', async (_req, _reply, err) => {
    if ((err as { statusCode?: number }).statusCode === 413 && (err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') diagnostics.stats.refusedTooLarge++;
  });
  fastify.post('/internal/ocpp/diagnostics', {
    bodyLimit: diagnostics.maxBytes,
    schema: {
      tags: ['internal'], summary: "An OCPP gateway hands over a charger's diagnostics upload (bearer = gateway token)", security: [{ gatewayToken: [] }],
      querystring: HandOver,
      response: { 200: DiagnosticsFile, 201: DiagnosticsFile, ...errorResponses(400, 401, 403, 404, 413, 415, 429) },
    },
    config: { rateLimit: false },
  }, async (req, reply) => {
    const q = req.query;
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const { record, created } = await diagnostics.receive({
      deviceId: q.device, commandId: q.command, fileName: q.file, contentType: q.contentType, sha256: q.sha256, uploadedAt: q.uploadedAt,
    }, body);
    return reply.status(created ? 201 : 200).send(record);
  });
};

const Params = Type.Object({ id: Id });
const FileParams = Type.Object({ id: Id, fileId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9a-f-]+$' }) });
/** a file name that is safe inside a quoted header parameter */
const headerName = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 150) || 'diagnostics';

/**
 * `GET /api/v1/devices/:id/diagnostics` and `…/diagnostics/:fileId` (staff: the `view`
 * permission, operators and admins). Listings and downloads are audited (by the service). A charger chose the content
 * type, so it is served as an attachment, never sniffed, under a sandbox CSP: a file
 * cannot run as a page of the cloud's origin.
 */
export const diagnosticsRoutes: FastifyPluginAsyncTypebox<{ diagnostics: DiagnosticsService }> = async (fastify, { diagnostics }) => {
  const tags = ['data'];
  const reader = (req: FastifyRequest): DiagnosticsReader => ({ actor: actorOf(who(req)), purpose: purposeOf(req, 'device operations') });

  fastify.get('/devices/:id/diagnostics', {
    schema: {
      tags, security: adminSecurity, params: Params, summary: 'Diagnostics files of a charger (GetDiagnostics uploads), newest first',
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
      response: { 200: Type.Object({ items: Type.Array(DiagnosticsFile) }), ...errorResponses(400, 401, 403, 404, 429) },
    },
  }, async (req) => ({ items: await diagnostics.list(req.params.id, req.query.limit ?? 100, reader(req)) }));

  fastify.get('/devices/:id/diagnostics/:fileId', {
    schema: {
      tags, security: adminSecurity, params: FileParams,
      summary: 'Download one diagnostics file (its own content type, attachment, ETag = sha256; audited)',
    },
  }, async (req, reply) => {
    const { id, fileId } = req.params;
    const rec = await diagnostics.get(id, fileId);
    if (!rec) throw new CloudError(CloudErrorCode.NotFound, `no diagnostics file "${fileId}" for device "${id}"`);
    const etag = `"${rec.sha256}"`;
    void reply.header('etag', etag).header('cache-control', 'private, no-store').header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "sandbox; default-src 'none'");
    if (req.headers['if-none-match'] === etag) return reply.status(304).send();
    const { body } = await diagnostics.download(id, fileId, reader(req));
    return reply.type(rec.contentType).header('content-length', body.length)
      .header('content-disposition', `attachment; filename="${headerName(rec.fileName)}"; filename*=UTF-8''${encodeURIComponent(rec.fileName)}`)
      .send(body);
  });
};
