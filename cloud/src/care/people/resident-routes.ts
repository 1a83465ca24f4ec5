import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CloudError, CloudErrorCode } from '../../errors.js';
import { adminSecurity, errorResponses } from '../../schemas/common.js';
import { DEFAULT_LADDER, type Access, type Principal } from '../contracts.js';
import type { PeopleModule } from './index.js';
import { allows, Level } from './policy.js';
import { DEFAULT_ROUTINE, type ResidentRecord } from './records.js';
import { isAdmin, residentNotFound, toResidentView, who } from './route-helpers.js';
import {
  CreateResidentBody,
  DevicesBody,
  DevicesView,
  FamilyBody,
  FamilyView,
  PatchResidentBody,
  ResidentList,
  ResidentParams,
  ResidentView,
} from './schemas.js';
import '../../types.js';

/** What a route needs of the caller for one resident. */
export type Need = Access | 'admin';

/**
 * The resident if the caller may do `need` with it. A resident the caller cannot see at
 * all is the same 404 as a missing one; one they can see but not change is a 403.
 */
export async function residentFor(people: PeopleModule, p: Principal, id: string, need: Need): Promise<{ resident: ResidentRecord; level: Level }> {
  const resident = await people.repo.residents.get(id);
  const level = resident ? await people.directory.levelOf(p, id) : Level.None;
  if (!resident || level === Level.None) throw residentNotFound(id);
  const ok = need === 'admin' ? isAdmin(p) : allows(level, need);
  if (!ok) {
    throw new CloudError(CloudErrorCode.Forbidden, need === 'health' ? "this needs access to the resident's health data" : 'this needs an administrator');
  }
  return { resident, level };
}

/** Residents CRUD, their devices and family contacts. */
const residentRoutes: FastifyPluginAsyncTypebox<{ people: PeopleModule }> = async (fastify, { people }) => {
  const { residents, users } = people.repo;
  const view = async (r: ResidentRecord, level: Level) => toResidentView(r, await residents.devicesOf(r.id), level);
  const familyView = async (id: string) => ({
    residentId: id,
    contacts: await Promise.all((await residents.family(id)).map(async (l) => ({ userId: l.userId, name: (await users.get(l.userId))?.name ?? '', relation: l.relation, position: l.position }))),
  });

  fastify.post(
    '/residents',
    {
      schema: {
        tags: ['residents'], summary: 'Add a resident (ladder and routine default when left out)', security: adminSecurity,
        body: CreateResidentBody, response: { 201: ResidentView, ...errorResponses(400, 401, 403, 409, 429) },
      },
    },
    async (request, reply) => {
      const p = who(request);
      if (!isAdmin(p)) throw new CloudError(CloudErrorCode.Forbidden, 'this needs an administrator');
      const b = request.body;
      const id = b.id ?? `r_${randomBytes(6).toString('hex')}`;
      if (await residents.get(id)) throw new CloudError(CloudErrorCode.Duplicate, `resident "${id}" already exists`);
      const r = await residents.create({
        id,
        name: b.name,
        communityId: b.communityId,
        address: b.address ?? null,
        phone: b.phone ?? null,
        birthYear: b.birthYear ?? null,
        notes: b.notes ?? null,
        ladder: { ...DEFAULT_LADDER, ...b.ladder },
        routine: { ...DEFAULT_ROUTINE, ...b.routine },
      });
      request.log.info({ residentId: r.id, communityId: r.communityId }, 'resident added');
      return reply.status(201).send(await view(r, Level.Health));
    },
  );

  fastify.get(
    '/residents',
    {
      schema: {
        tags: ['residents'], summary: 'Residents the caller may see (family: linked; worker: their communities; …)',
        security: adminSecurity, response: { 200: ResidentList, ...errorResponses(401, 429) },
      },
    },
    async (request) => {
      const visible = await people.directory.visibleProfiles(who(request));
      await people.reads.residentsRead(request, { action: 'residents.list', residentIds: visible.map((v) => v.resident.id), purpose: 'care' });
      return { items: await Promise.all(visible.map(({ resident, level }) => view(resident, level))) };
    },
  );

  fastify.get(
    '/residents/:id',
    {
      schema: {
        tags: ['residents'], summary: 'One resident (404 also when the caller may not see it)', security: adminSecurity,
        params: ResidentParams, response: { 200: ResidentView, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const { resident, level } = await residentFor(people, who(request), request.params.id, 'profile');
      await people.reads.residentsRead(request, { action: 'resident.read', residentIds: [resident.id], purpose: 'care', detail: `access=${level}` });
      return await view(resident, level);
    },
  );

  fastify.patch(
    '/residents/:id',
    {
      schema: {
        tags: ['residents'], summary: 'Change a resident (ladder and routine merge into the current ones)', security: adminSecurity,
        params: ResidentParams, body: PatchResidentBody, response: { 200: ResidentView, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const { resident } = await residentFor(people, who(request), request.params.id, 'admin');
      const { ladder, routine, ...rest } = request.body;
      const updated = await residents.update(resident.id, {
        ...rest,
        ...(ladder ? { ladder: { ...resident.ladder, ...ladder } } : {}),
        ...(routine ? { routine: { ...resident.routine, ...routine } } : {}),
      });
      if (!updated) throw residentNotFound(resident.id);
      return await view(updated, Level.Health);
    },
  );

  fastify.put(
    '/residents/:id/devices',
    {
      schema: {
        tags: ['residents'], summary: "Replace the resident's devices (registered ids; 409 if one belongs to someone else)",
        security: adminSecurity, params: ResidentParams, body: DevicesBody,
        response: { 200: DevicesView, ...errorResponses(400, 401, 403, 404, 409, 429) },
      },
    },
    async (request) => {
      const { resident } = await residentFor(people, who(request), request.params.id, 'admin');
      const ids = request.body.deviceIds;
      for (const [i, d] of ids.entries()) {
        if (!(await fastify.devices.get(d))) throw new CloudError(CloudErrorCode.Validation, `body/deviceIds/${i}: device "${d}" is not registered`);
      }
      const linked = await residents.setDevices(resident.id, ids);
      request.log.info({ residentId: resident.id, devices: linked.length }, 'resident devices linked');
      return { residentId: resident.id, deviceIds: linked };
    },
  );

  fastify.get(
    '/residents/:id/family',
    {
      schema: {
        tags: ['residents'], summary: 'Family contacts in ladder order', security: adminSecurity,
        params: ResidentParams, response: { 200: FamilyView, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const { resident } = await residentFor(people, who(request), request.params.id, 'health');
      await people.reads.residentsRead(request, { action: 'resident.family.read', residentIds: [resident.id], purpose: 'care' });
      return await familyView(resident.id);
    },
  );

  fastify.put(
    '/residents/:id/family',
    {
      schema: {
        tags: ['residents'], summary: 'Replace the family contacts; their order is the ladder order', security: adminSecurity,
        params: ResidentParams, body: FamilyBody, response: { 200: FamilyView, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const { resident } = await residentFor(people, who(request), request.params.id, 'admin');
      const contacts = request.body.contacts;
      const seen = new Set<string>();
      for (const [i, c] of contacts.entries()) {
        const u = await users.get(c.userId);
        if (!u || u.role !== 'family') throw new CloudError(CloudErrorCode.Validation, `body/contacts/${i}: "${c.userId}" is not a family member`);
        if (seen.has(c.userId)) throw new CloudError(CloudErrorCode.Validation, `body/contacts/${i}: "${c.userId}" is listed twice`);
        seen.add(c.userId);
      }
      await residents.setFamily(resident.id, contacts.map((c) => ({ userId: c.userId, relation: c.relation ?? null })));
      return await familyView(resident.id);
    },
  );
};
export default residentRoutes;
