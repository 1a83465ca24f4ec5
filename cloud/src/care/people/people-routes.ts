import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { generateSecret, hashSecret } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../../errors.js';
import { adminSecurity, errorResponses } from '../../schemas/common.js';
import type { Channel } from '../contracts.js';
import type { PeopleModule } from './index.js';
import { requireAdmin, toPersonView } from './route-helpers.js';
import {
  CreatePersonBody,
  PatchPersonBody,
  PeopleList,
  PeopleQuery,
  PersonParams,
  PersonView,
  PersonWithSecrets,
  type ChannelInput,
} from './schemas.js';
import '../../types.js';

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]{1,63}$/;

/**
 * Turns requested channels into stored ones. Webhook secrets are generated here, never
 * chosen by the client, and shown once in the response. They are stored as issued (not
 * hashed, unlike device secrets) because the cloud signs every webhook body with them
 * (HMAC): it needs the secret itself, a hash would be useless for signing. A webhook
 * whose address did not change keeps its secret unless `rotateSecret` asks for a new one.
 */
export function buildChannels(input: readonly ChannelInput[], previous: readonly Channel[]): { channels: Channel[]; issued: { address: string; secret: string }[] } {
  const channels: Channel[] = [];
  const issued: { address: string; secret: string }[] = [];
  input.forEach((c, i) => {
    const where = `body/channels/${i}/address`;
    if (c.type === 'webhook') {
      let url: URL;
      try {
        url = new URL(c.address);
      } catch {
        throw new CloudError(CloudErrorCode.Validation, `${where} must be an absolute http(s) URL`);
      }
      // http is allowed for receivers on the same host or network (a call centre's
      // gateway); the signature, not the transport, is what receivers check.
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CloudError(CloudErrorCode.Validation, `${where} must be an http(s) URL`);
      if (url.username || url.password) throw new CloudError(CloudErrorCode.Validation, `${where} must not carry credentials`);
      const kept = previous.find((p) => p.type === 'webhook' && p.address === c.address && p.secret !== undefined);
      if (kept && c.rotateSecret !== true) {
        channels.push({ type: 'webhook', address: c.address, secret: kept.secret as string });
      } else {
        const secret = generateSecret();
        channels.push({ type: 'webhook', address: c.address, secret });
        issued.push({ address: c.address, secret });
      }
    } else if (c.type === 'email') {
      if (!EMAIL.test(c.address)) throw new CloudError(CloudErrorCode.Validation, `${where} must be an e-mail address`);
      channels.push({ type: 'email', address: c.address });
    } else {
      if (c.address !== '') throw new CloudError(CloudErrorCode.Validation, `${where} must be '' for an app channel`);
      channels.push({ type: 'app', address: '' });
    }
  });
  return { channels, issued };
}

/** People CRUD under /api/v1/people (admins). */
const peopleRoutes: FastifyPluginAsyncTypebox<{ people: PeopleModule }> = async (fastify, { people }) => {
  const { users } = people.repo;
  const notFound = (id: string) => new CloudError(CloudErrorCode.NotFound, `person "${id}" not found`);

  fastify.post(
    '/people',
    {
      schema: {
        tags: ['people'],
        summary: 'Add a person; webhook signing secrets are issued here and shown only in this response',
        security: adminSecurity,
        body: CreatePersonBody,
        response: { 201: PersonWithSecrets, ...errorResponses(400, 401, 403, 409, 429) },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      const b = request.body;
      const { channels, issued } = buildChannels(b.channels ?? [], []);
      const user = await users.create({
        id: b.id ?? `u_${randomBytes(6).toString('hex')}`,
        login: b.login,
        name: b.name,
        role: b.role,
        locale: b.locale ?? 'zh-CN',
        passwordHash: b.password === undefined ? null : await hashSecret(b.password),
        channels,
        phone: b.phone ?? null,
      });
      request.log.info({ userId: user.id, role: user.role }, 'person added');
      return reply.status(201).header('cache-control', 'no-store').send({ person: toPersonView(user), webhookSecrets: issued });
    },
  );

  fastify.get(
    '/people',
    {
      schema: {
        tags: ['people'],
        summary: 'List people',
        security: adminSecurity,
        querystring: PeopleQuery,
        response: { 200: PeopleList, ...errorResponses(400, 401, 403, 429) },
      },
    },
    async (request) => {
      requireAdmin(request);
      const q = request.query;
      const page = await users.list({ limit: q.limit, offset: q.offset, ...(q.role ? { role: q.role } : {}) });
      return { items: page.items.map(toPersonView), total: page.total, limit: q.limit, offset: q.offset };
    },
  );

  fastify.get(
    '/people/:id',
    {
      schema: {
        tags: ['people'],
        summary: 'One person',
        security: adminSecurity,
        params: PersonParams,
        response: { 200: PersonView, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      requireAdmin(request);
      const u = await users.get(request.params.id);
      if (!u) throw notFound(request.params.id);
      return toPersonView(u);
    },
  );

  fastify.patch(
    '/people/:id',
    {
      schema: {
        tags: ['people'],
        summary: 'Change a person; a new password, role or disabling ends their sessions',
        security: adminSecurity,
        params: PersonParams,
        body: PatchPersonBody,
        response: { 200: PersonWithSecrets, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      const { id } = request.params;
      const b = request.body;
      const before = await users.get(id);
      if (!before) throw notFound(id);
      const built = b.channels === undefined ? undefined : buildChannels(b.channels, before.channels);
      const updated = await users.update(id, {
        ...(b.name !== undefined ? { name: b.name } : {}),
        ...(b.role !== undefined ? { role: b.role } : {}),
        ...(b.locale !== undefined ? { locale: b.locale } : {}),
        ...(b.password !== undefined ? { passwordHash: await hashSecret(b.password) } : {}),
        ...(built ? { channels: built.channels } : {}),
        ...(b.phone !== undefined ? { phone: b.phone } : {}),
        ...(b.disabled !== undefined ? { disabled: b.disabled } : {}),
      });
      if (!updated) throw notFound(id);
      return reply.header('cache-control', 'no-store').send({ person: toPersonView(updated), webhookSecrets: built?.issued ?? [] });
    },
  );

  fastify.delete(
    '/people/:id',
    {
      schema: {
        tags: ['people'],
        summary: 'Delete a person with their sessions, family links, assignments and grants',
        security: adminSecurity,
        params: PersonParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      if (!await users.remove(request.params.id)) throw notFound(request.params.id);
      request.log.info({ userId: request.params.id }, 'person deleted');
      return reply.status(204).send(null);
    },
  );
};
export default peopleRoutes;
