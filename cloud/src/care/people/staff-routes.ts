import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CloudError, CloudErrorCode } from '../../errors.js';
import { adminSecurity, errorResponses } from '../../schemas/common.js';
import type { PeopleModule } from './index.js';
import { actorOf, iso, isAdmin, requireAdmin, toGrantView, who } from './route-helpers.js';
import {
  AssignmentsBody,
  AssignmentsView,
  CommunityView,
  CreateCommunityBody,
  GrantBody,
  GrantParams,
  GrantView,
  OnDutyBody,
  PatchCommunityBody,
  PersonParams,
} from './schemas.js';
import '../../types.js';

const CommunityParams = Type.Object({ id: PersonParams.properties.id });

/** Communities, worker assignments and on-duty, operators' health grants. */
const staffRoutes: FastifyPluginAsyncTypebox<{ people: PeopleModule }> = async (fastify, { people }) => {
  const { residents, staff, users } = people.repo;
  const communityView = (c: { id: string; name: string; createdAt: number }) => ({ ...c, createdAt: iso(c.createdAt) });
  const noCommunity = (id: string) => new CloudError(CloudErrorCode.NotFound, `community "${id}" not found`);

  fastify.post(
    '/communities',
    {
      schema: {
        tags: ['people'], summary: 'Add a community', security: adminSecurity,
        body: CreateCommunityBody, response: { 201: CommunityView, ...errorResponses(400, 401, 403, 409, 429) },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      const id = request.body.id ?? `c_${randomBytes(5).toString('hex')}`;
      return reply.status(201).send(communityView(await residents.createCommunity(id, request.body.name)));
    },
  );

  fastify.get(
    '/communities',
    { schema: { tags: ['people'], summary: 'List communities', security: adminSecurity, response: { 200: Type.Object({ items: Type.Array(CommunityView) }), ...errorResponses(401, 403, 429) } } },
    async (request) => {
      requireAdmin(request);
      return { items: (await residents.communities()).map(communityView) };
    },
  );

  fastify.patch(
    '/communities/:id',
    {
      schema: {
        tags: ['people'], summary: 'Rename a community', security: adminSecurity, params: CommunityParams,
        body: PatchCommunityBody, response: { 200: CommunityView, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      requireAdmin(request);
      const c = await residents.renameCommunity(request.params.id, request.body.name);
      if (!c) throw noCommunity(request.params.id);
      return communityView(c);
    },
  );

  fastify.delete(
    '/communities/:id',
    {
      schema: {
        tags: ['people'], summary: 'Delete an empty community (409 while residents live there)', security: adminSecurity,
        params: CommunityParams, response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      if (!await residents.removeCommunity(request.params.id)) throw noCommunity(request.params.id);
      return reply.status(204).send(null);
    },
  );

  async function mustBeWorker(id: string) {
    const u = await users.get(id);
    if (!u) throw new CloudError(CloudErrorCode.NotFound, `person "${id}" not found`);
    if (u.role !== 'worker') throw new CloudError(CloudErrorCode.Validation, `person "${id}" is not a community worker`);
    return u;
  }

  fastify.put(
    '/people/:id/assignments',
    {
      schema: {
        tags: ['people'], summary: "Replace a community worker's communities (duty hours in Asia/Shanghai time)",
        security: adminSecurity, params: PersonParams, body: AssignmentsBody,
        response: { 200: AssignmentsView, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      requireAdmin(request);
      const { id } = request.params;
      await mustBeWorker(id);
      const list = request.body.assignments.map((a, i) => {
        if ((a.dutyFrom === undefined) !== (a.dutyTo === undefined)) {
          throw new CloudError(CloudErrorCode.Validation, `body/assignments/${i} needs both dutyFrom and dutyTo, or neither`);
        }
        return { communityId: a.communityId, onDuty: a.onDuty ?? false, dutyFrom: a.dutyFrom ?? null, dutyTo: a.dutyTo ?? null };
      });
      return { userId: id, assignments: await staff.setAssignments(id, list) };
    },
  );

  fastify.get(
    '/people/:id/assignments',
    {
      schema: {
        tags: ['people'], summary: "A community worker's communities (admins, or the worker)", security: adminSecurity,
        params: PersonParams, response: { 200: AssignmentsView, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const p = who(request);
      const { id } = request.params;
      if (!isAdmin(p) && !(p.kind === 'person' && p.userId === id)) throw new CloudError(CloudErrorCode.Forbidden, 'this needs an administrator');
      await mustBeWorker(id);
      return { userId: id, assignments: await staff.assignments(id) };
    },
  );

  fastify.put(
    '/people/:id/on-duty',
    {
      schema: {
        tags: ['people'], summary: 'Go on or off duty (admins, or the worker themselves); all communities or one',
        security: adminSecurity, params: PersonParams, body: OnDutyBody,
        response: { 200: AssignmentsView, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const p = who(request);
      const { id } = request.params;
      // Workers switch themselves on and off at the start and end of a shift.
      if (!isAdmin(p) && !(p.kind === 'person' && p.userId === id)) throw new CloudError(CloudErrorCode.Forbidden, 'this needs an administrator');
      await mustBeWorker(id);
      const { onDuty, communityId } = request.body;
      if (await staff.setOnDuty(id, onDuty, communityId) === 0 && communityId !== undefined) {
        throw new CloudError(CloudErrorCode.Validation, `body/communityId: "${communityId}" is not assigned to this worker`);
      }
      request.log.info({ userId: id, onDuty, communityId }, 'on-duty changed');
      return { userId: id, assignments: await staff.assignments(id) };
    },
  );

  fastify.post(
    '/health-grants',
    {
      schema: {
        tags: ['people'], summary: "Let an operator see residents' health data for a while ('*' = everyone)",
        security: adminSecurity, body: GrantBody, response: { 201: GrantView, ...errorResponses(400, 401, 403, 429) },
      },
    },
    async (request, reply) => {
      const p = requireAdmin(request);
      const b = request.body;
      const u = await users.get(b.userId);
      if (!u || u.role !== 'operator') throw new CloudError(CloudErrorCode.Validation, `body/userId: "${b.userId}" is not an operator`);
      if (b.residentId !== '*' && !await residents.get(b.residentId)) {
        throw new CloudError(CloudErrorCode.Validation, `body/residentId: resident "${b.residentId}" not found`);
      }
      const now = people.now();
      const g = await staff.grant({ userId: b.userId, residentId: b.residentId, grantedBy: actorOf(p), expiresAt: now + b.hours * 3_600_000 });
      request.log.info({ grantId: g.id, userId: g.userId, residentId: g.residentId }, 'health access granted');
      return reply.status(201).send(toGrantView(g, now));
    },
  );

  fastify.get(
    '/health-grants',
    { schema: { tags: ['people'], summary: 'Health grants (expired ones too, marked inactive)', security: adminSecurity, response: { 200: Type.Object({ items: Type.Array(GrantView) }), ...errorResponses(401, 403, 429) } } },
    async (request) => {
      requireAdmin(request);
      const now = people.now();
      return { items: (await staff.grants()).map((g) => toGrantView(g, now)) };
    },
  );

  fastify.delete(
    '/health-grants/:id',
    { schema: { tags: ['people'], summary: 'Revoke a health grant', security: adminSecurity, params: GrantParams, response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 429) } } },
    async (request, reply) => {
      requireAdmin(request);
      if (!await staff.revoke(request.params.id)) throw new CloudError(CloudErrorCode.NotFound, `grant "${request.params.id}" not found`);
      return reply.status(204).send(null);
    },
  );
};
export default staffRoutes;
