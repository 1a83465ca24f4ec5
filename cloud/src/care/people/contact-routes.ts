import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { adminSecurity, errorResponses } from '../../schemas/common.js';
import { residentContacts } from './contacts.js';
import type { PeopleModule } from './index.js';
import { purposeOf } from './purpose.js';
import { residentFor } from './resident-routes.js';
import { actorOf, who } from './route-helpers.js';
import { ResidentParams } from './schemas.js';
import '../../types.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const ContactsView = Type.Object(
  {
    residentId: Type.String(),
    name: Type.String(),
    address: Nullable(Type.String()),
    phone: Nullable(Type.String()),
    contacts: Type.Array(
      Type.Object({
        userId: Type.String(),
        name: Type.String(),
        role: Type.Union([Type.Literal('family'), Type.Literal('worker')]),
        relation: Nullable(Type.String()),
        phone: Nullable(Type.String()),
      }),
      { description: 'family contacts in ladder order, then the community worker(s) on duty now; never the caller' },
    ),
  },
  { description: "who to phone about a resident: their address and phone, and the other contacts' phones" },
);

/**
 * `GET /residents/:id/contacts`: what the care page's urgent alert card shows so the
 * person who claims can act. Address and phone numbers are personal data: the caller
 * needs the same health-level access as for the resident's alerts (a family member their
 * linked residents, a worker their communities, the call centre a resident with an alert
 * paged to them, operators only with a grant), and every read is audited.
 */
const contactRoutes: FastifyPluginAsyncTypebox<{ people: PeopleModule }> = async (fastify, { people }) => {
  fastify.get(
    '/residents/:id/contacts',
    {
      schema: {
        tags: ['residents'],
        summary: "The resident's address and phone and the other contacts' phones (health access; audited; X-Yulan-Purpose names why)",
        security: adminSecurity, params: ResidentParams, response: { 200: ContactsView, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const p = who(request);
      const { resident } = await residentFor(people, p, request.params.id, 'health');
      const view = await residentContacts(people.repo, resident, people.now(), p.kind === 'person' ? p.userId : null);
      // Written before the data leaves: a read that cannot be logged does not happen.
      await people.audit.record({
        actor: actorOf(p), action: 'resident.contacts', residentId: resident.id,
        purpose: purposeOf(request, 'care: contact details to act on an alert'), detail: `contacts=${view.contacts.length}`,
      });
      return view;
    },
  );
};
export default contactRoutes;
