import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CloudError, CloudErrorCode, HttpError } from '../errors.js';
import { adminSecurity, errorResponses, Id, KindSlugSchema } from '../schemas/common.js';
import { OperatorAction, RolloutStatus, type DeviceRollout } from './engine.js';
import type { FirmwareModule } from './index.js';
import { parseRange } from './images.js';
import type { CampaignRecord, FirmwareRecord } from './repository.js';
import { createCampaign, uploadFirmware } from './service.js';
import { operateCampaign } from './control.js';
import { checkDownloadToken } from './tokens.js';
import '../types.js';

/** Images up to 64 MiB; only this route gets the raised limit (the app's default is 64 KiB). */
export const MAX_IMAGE_BYTES = 64 * 1024 * 1024;

const FirmwareView = Type.Object({
  id: Type.String(), kind: Type.String(), version: Type.String(), sha256: Type.String(), size: Type.Integer(),
  keyId: Type.String(), signature: Type.String(), createdAt: Type.String(),
});
const view = (f: FirmwareRecord) => ({ ...f, createdAt: new Date(f.createdAt).toISOString() });
const FwParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const Fraction = Type.Number({ minimum: 0, maximum: 1 });
const CampaignBody = Type.Object({
  firmwareId: Type.String({ minLength: 1 }),
  target: Type.Object({
    kind: KindSlugSchema,
    sites: Type.Optional(Type.Array(Id, { minItems: 1, maxItems: 1000 })),
    fromVersions: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 100 })),
  }, { additionalProperties: false }),
  stages: Type.Optional(Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 1 }), { minItems: 1, maxItems: 10 })),
  advanceAt: Type.Optional(Fraction),
  abortAt: Type.Optional(Fraction),
  spreadSec: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400 })),
  soakSec: Type.Optional(Type.Number({ minimum: 0, maximum: 7 * 86_400 })),
  updateTimeoutSec: Type.Optional(Type.Number({ minimum: 1, maximum: 7 * 86_400 })),
  reportEverySec: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 86_400, description: 'expected telemetry cadence; default per kind' })),
  missedReports: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  reofferSec: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 86_400 })),
  maxOffers: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  deadlineSec: Type.Optional(Type.Number({ minimum: 1, maximum: 90 * 86_400 })),
  minSample: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  allowDowngrade: Type.Optional(Type.Boolean()),
  supersede: Type.Optional(Type.Boolean({ description: 'abort live campaigns that claim some of the targets instead of a 409' })),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 })),
}, { additionalProperties: false });

const CampaignView = Type.Object({
  id: Type.String(), firmwareId: Type.String(),
  target: Type.Object({ kind: Type.String(), sites: Type.Optional(Type.Array(Type.String())), fromVersions: Type.Optional(Type.Array(Type.String())) }),
  policy: Type.Object({
    stages: Type.Array(Type.Number()), advanceAt: Type.Number(), abortAt: Type.Number(), spreadSec: Type.Number(), soakSec: Type.Number(),
    updateTimeoutSec: Type.Number(), maxReboots: Type.Number(), falseAlarmTolerance: Type.Number(), seed: Type.Number(),
    reportEverySec: Type.Number(), missedReports: Type.Number(), reofferSec: Type.Number(), maxOffers: Type.Number(),
    deadlineSec: Type.Number(), minSample: Type.Number(), allowDowngrade: Type.Boolean(),
  }),
  deadlineAt: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(), stage: Type.Integer({ description: '1-based open stage' }), stages: Type.Integer(), reason: Type.Union([Type.String(), Type.Null()]),
  devices: Type.Integer(), counts: Type.Record(Type.String(), Type.Integer()),
  failures: Type.Array(Type.Object({ deviceId: Type.String(), stage: Type.Integer(), reason: Type.String() })),
  createdAt: Type.String(), updatedAt: Type.String(),
});

const iso = (t: number | null | undefined): string | null => (t == null ? null : new Date(t).toISOString());
const DeviceItem = Type.Object({
  deviceId: Type.String(), stage: Type.Integer(), status: Type.String(), reason: Type.Union([Type.String(), Type.Null()]),
  version: Type.Union([Type.String(), Type.Null()]), offers: Type.Integer(), online: Type.Union([Type.Boolean(), Type.Null()]),
  sentAt: Type.Union([Type.String(), Type.Null()]), installedAt: Type.Union([Type.String(), Type.Null()]),
  finishedAt: Type.Union([Type.String(), Type.Null()]), lastTelemetryAt: Type.Union([Type.String(), Type.Null()]),
});
const DeviceList = Type.Object({ total: Type.Integer(), items: Type.Array(DeviceItem) });
const deviceView = (d: DeviceRollout) => ({
  deviceId: d.deviceId, stage: d.stage + 1, status: d.status, reason: d.reason, version: d.version ?? null, offers: d.offers ?? 0,
  online: d.lastOnline ?? null, sentAt: iso(d.sentAt), installedAt: iso(d.installedAt), finishedAt: iso(d.finishedAt), lastTelemetryAt: iso(d.lastTelemetryAt),
});

export async function campaignView(m: FirmwareModule, c: CampaignRecord) {
  const rollouts = await m.repo.rollouts(c.id);
  const counts = Object.fromEntries(Object.values(RolloutStatus).map((s) => [s, 0])) as Record<string, number>;
  for (const d of rollouts) counts[d.status] = (counts[d.status] ?? 0) + 1;
  return {
    id: c.id, firmwareId: c.firmwareId, target: c.target, policy: c.policy,
    status: c.state.status, stage: c.state.stage + 1, stages: c.policy.stages.length, reason: c.state.reason,
    deadlineAt: c.state.deadlineAt !== undefined ? new Date(c.state.deadlineAt).toISOString() : null,
    devices: rollouts.length, counts,
    failures: rollouts.filter((d) => d.status === RolloutStatus.Failed).slice(0, 100).map((d) => ({ deviceId: d.deviceId, stage: d.stage + 1, reason: d.reason ?? '' })),
    createdAt: new Date(c.createdAt).toISOString(), updatedAt: new Date(c.updatedAt).toISOString(),
  };
}

/** Firmware and campaign routes under /api/v1: admin token for all but the image download,
 * which devices fetch with their short-lived per-device token instead. */
const firmwareRoutes: FastifyPluginAsyncTypebox<{ firmware: FirmwareModule }> = async (fastify, { firmware: m }) => {
  await fastify.register(async (scope) => {
    const admin = scope.withTypeProvider<TypeBoxTypeProvider>();
    admin.addHook('onRequest', admin.authorizeStaff);
    // Raw images; encapsulated here so the rest of the API still refuses octet-stream bodies.
    admin.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: MAX_IMAGE_BYTES }, (_req, body, done) => done(null, body));
    const param = (q: Record<string, string | undefined>, h: Record<string, unknown>, name: string): string | undefined => {
      const v = q[name] ?? h[`x-firmware-${name.replace('_', '-')}`];
      return typeof v === 'string' && v !== '' ? v : undefined;
    };
    admin.post('/firmware', {
      bodyLimit: MAX_IMAGE_BYTES,
      schema: {
        tags: ['firmware'], security: adminSecurity,
        summary: 'Upload a signed image (raw body); version, kind, key_id, signature [, size] as query or x-firmware-* headers',
        querystring: Type.Object({
          version: Type.Optional(Type.String()), kind: Type.Optional(Type.String()), key_id: Type.Optional(Type.String()),
          signature: Type.Optional(Type.String()), size: Type.Optional(Type.String()),
        }),
        response: { 201: FirmwareView, ...errorResponses(400, 401, 409, 413, 415, 429) },
      },
    }, async (request, reply) => {
      const q = request.query as Record<string, string | undefined>;
      const h = request.headers as Record<string, unknown>;
      const body = Buffer.isBuffer(request.body) ? request.body : undefined;
      const size = param(q, h, 'size');
      const rec = await uploadFirmware(m, {
        version: param(q, h, 'version'), kind: param(q, h, 'kind'), keyId: param(q, h, 'key_id'), signature: param(q, h, 'signature'),
        ...(size !== undefined ? { size } : {}),
      } as Parameters<typeof uploadFirmware>[1], body);
      request.log.info({ firmware: rec.id, kind: rec.kind, version: rec.version, sha256: rec.sha256 }, 'firmware uploaded');
      return reply.status(201).send(view(rec));
    });
    admin.get('/firmware', {
      schema: { tags: ['firmware'], security: adminSecurity, summary: 'List firmware images',
        querystring: Type.Object({ kind: Type.Optional(KindSlugSchema) }),
        response: { 200: Type.Object({ items: Type.Array(FirmwareView) }), ...errorResponses(400, 401, 429) } },
    }, async (request) => ({ items: (await m.repo.listFirmware(request.query.kind)).map(view) }));
    admin.get('/firmware/:id', {
      schema: { tags: ['firmware'], security: adminSecurity, summary: 'One firmware image', params: FwParams,
        response: { 200: FirmwareView, ...errorResponses(401, 404, 429) } },
    }, async (request) => {
      const f = await m.repo.getFirmware(request.params.id);
      if (!f) throw new CloudError(CloudErrorCode.NotFound, `firmware "${request.params.id}" not found`);
      return view(f);
    });

    admin.post('/campaigns', {
      schema: { tags: ['firmware'], security: adminSecurity, summary: 'Start a staged rollout', body: CampaignBody,
        response: { 201: CampaignView, ...errorResponses(400, 401, 404, 409, 429) } },
    }, async (request, reply) => {
      const c = await createCampaign(m, request.body);
      request.log.info({ campaign: c.id, firmware: c.firmwareId }, 'campaign created');
      void m.runner.tick();
      return reply.status(201).send(await campaignView(m, c));
    });
    admin.get('/campaigns', {
      schema: { tags: ['firmware'], security: adminSecurity, summary: 'List campaigns',
        response: { 200: Type.Object({ items: Type.Array(CampaignView) }), ...errorResponses(401, 429) } },
    }, async () => ({ items: await Promise.all((await m.repo.listCampaigns()).map((c) => campaignView(m, c))) }));
    admin.get('/campaigns/:id', {
      schema: { tags: ['firmware'], security: adminSecurity, summary: 'Stage, per-device status counts and failures', params: FwParams,
        response: { 200: CampaignView, ...errorResponses(401, 404, 429) } },
    }, async (request) => {
      const c = await m.repo.getCampaign(request.params.id);
      if (!c) throw new CloudError(CloudErrorCode.NotFound, `campaign "${request.params.id}" not found`);
      return campaignView(m, c);
    });
    admin.get('/campaigns/:id/devices', {
      schema: { tags: ['firmware'], security: adminSecurity, summary: 'Per-device status of a campaign, filtered', params: FwParams,
        querystring: Type.Object({
          status: Type.Optional(Type.String({ description: 'comma-separated statuses, e.g. failed,pending' })),
          stage: Type.Optional(Type.Integer({ minimum: 1, description: '1-based stage' })),
          device: Type.Optional(Type.String({ maxLength: 64, description: 'device id prefix' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 100 })),
          offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
        }),
        response: { 200: DeviceList, ...errorResponses(400, 401, 404, 429) } },
    }, async (request) => {
      const c = await m.repo.getCampaign(request.params.id);
      if (!c) throw new CloudError(CloudErrorCode.NotFound, `campaign "${request.params.id}" not found`);
      const q = request.query;
      const statuses = q.status?.split(',').map((x) => x.trim()).filter(Boolean);
      const known = new Set<string>(Object.values(RolloutStatus));
      const unknown = statuses?.find((x) => !known.has(x));
      if (unknown) throw new CloudError(CloudErrorCode.Validation, `unknown status "${unknown}"; known: ${[...known].join(', ')}`);
      const all = (await m.repo.rollouts(c.id)).filter((d) => (!statuses || statuses.includes(d.status))
        && (q.stage === undefined || d.stage + 1 === q.stage) && (q.device === undefined || d.deviceId.startsWith(q.device)));
      const offset = q.offset ?? 0;
      return { total: all.length, items: all.slice(offset, offset + (q.limit ?? 100)).map(deviceView) };
    });
    for (const action of Object.values(OperatorAction)) {
      admin.post(`/campaigns/:id/${action}`, {
        schema: { tags: ['firmware'], security: adminSecurity, summary: `${action} a campaign`, params: FwParams,
          response: { 200: CampaignView, ...errorResponses(401, 404, 409, 429) } },
      }, async (request) => {
        const problem = await operateCampaign(m, request.params.id, action);
        if (problem === 'not found') throw new CloudError(CloudErrorCode.NotFound, `campaign "${request.params.id}" not found`);
        if (problem) throw new CloudError(CloudErrorCode.Conflict, `cannot ${action}: ${problem}`);
        void m.runner.tick();
        return campaignView(m, (await m.repo.getCampaign(request.params.id)) as CampaignRecord);
      });
    }
  });

  fastify.get('/firmware/:id/image', {
    schema: {
      tags: ['firmware'], summary: 'Download an image (device token; Range supported)', params: FwParams,
      querystring: Type.Object({ device: Type.Optional(Type.String()), token: Type.Optional(Type.String()) }),
    },
  }, async (request, reply) => {
    const { device, token } = request.query;
    if (!device || !token) throw new HttpError(401, CloudErrorCode.Unauthorized, 'download needs ?device=<id>&token=<t> from the firmware.update command');
    const f = await m.repo.getFirmware(request.params.id);
    // Same answer for an unknown image as for a bad token: ids are not to be probed.
    const problem = f ? checkDownloadToken(m.tokenSecret, token, device, f.id, m.now()) : 'mismatch';
    if (problem || !f) {
      throw new HttpError(401, CloudErrorCode.Unauthorized, problem === 'expired' ? 'download token expired' : 'invalid download token');
    }
    // An image whose bytes are gone or cut short is the platform's fault, said as such (a short
    // file would otherwise send fewer bytes than Content-Length and leave the device waiting).
    const stored = await m.images.check(f.sha256, f.size);
    if (stored !== 'ok') {
      request.log.error({ firmware: f.id, sha256: f.sha256, stored }, 'firmware image missing or damaged in the image store');
      throw new HttpError(500, CloudErrorCode.Internal, `firmware image ${f.id} is ${stored === 'absent' ? 'missing from' : 'damaged in'} the image store; upload it again`, { expose: true });
    }
    const range = parseRange(typeof request.headers.range === 'string' ? request.headers.range : undefined, f.size);
    void reply.header('accept-ranges', 'bytes').header('etag', `"${f.sha256}"`).header('cache-control', 'private, no-store');
    if (range === 'unsatisfiable') {
      return reply.status(416).header('content-range', `bytes */${f.size}`).send({
        statusCode: 416, error: 'Range Not Satisfiable', message: `range ${request.headers.range ?? ''} not satisfiable for ${f.size} bytes (single range only)`, code: CloudErrorCode.Validation,
      });
    }
    const { start, end } = range ?? { start: 0, end: f.size - 1 };
    if (range) void reply.status(206).header('content-range', `bytes ${start}-${end}/${f.size}`);
    return reply.type('application/octet-stream').header('content-length', end - start + 1).send(m.images.stream(f.sha256, start, end));
  });
};
export default firmwareRoutes;
