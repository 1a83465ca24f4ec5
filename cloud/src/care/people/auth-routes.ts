import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { generateSecret, hashSecret, verifySecret } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../../errors.js';
import { bearer, FailureLimiter } from '../../plugins/admin-auth.js';
import { errorResponses } from '../../schemas/common.js';
import type { PeopleModule } from './index.js';
import { toPersonView, who } from './route-helpers.js';
import { LoginBody, LoginResponse, MeResponse } from './schemas.js';
import { clearedSessionCookie, readCookie, SESSION_COOKIE, sessionCookie } from './session-cookie.js';
import '../../types.js';

const BAD_LOGIN = 'wrong login or password';

/** Login (open), logout and /me. */
export const loginRoute: FastifyPluginAsyncTypebox<{ people: PeopleModule }> = async (fastify, { people }) => {
  const { users } = people.repo;
  const limits = people.loginLimits;
  // Unknown logins are checked against this throw-away hash so they cost the same scrypt
  // as real ones: neither the answer nor its latency tells which logins exist.
  const decoyHash = await hashSecret(generateSecret());
  const perIp = new FailureLimiter(limits.perIp, limits.windowMs);
  const perLogin = new FailureLimiter(limits.perLogin, limits.windowMs);

  fastify.post(
    '/auth/login',
    {
      schema: {
        tags: ['people'],
        summary: 'Sign in; answers a session token and sets the yulan_session cookie (HttpOnly, SameSite=Strict)',
        body: LoginBody,
        response: { 200: LoginResponse, ...errorResponses(400, 401, 429) },
      },
    },
    async (request, reply) => {
      const { login, password } = request.body;
      const key = login.trim().toLowerCase();
      if (perIp.blocked(request.ip) || perLogin.blocked(key)) {
        void reply.header('retry-after', Math.ceil(limits.windowMs / 1000));
        throw new CloudError(CloudErrorCode.TooManyRequests, 'too many failed sign-in attempts; try again later');
      }
      const found = users.forLogin(login.trim());
      const ok = await verifySecret(password, found?.passwordHash ?? decoyHash);
      if (!found || found.passwordHash === null || found.user.disabled || !ok) {
        perIp.fail(request.ip);
        perLogin.fail(key);
        request.log.info({ ip: request.ip }, 'sign-in refused');
        throw new CloudError(CloudErrorCode.Unauthorized, BAD_LOGIN);
      }
      const token = users.createSession(found.user.id);
      request.log.info({ userId: found.user.id }, 'signed in');
      return reply
        .header('set-cookie', sessionCookie(token, request.protocol === 'https'))
        .header('cache-control', 'no-store')
        .send({ token, user: toPersonView(found.user) });
    },
  );
};

/** Routes for a signed-in caller (behind `authenticate`). */
export const sessionRoutes: FastifyPluginAsyncTypebox<{ people: PeopleModule }> = async (fastify, { people }) => {
  fastify.post(
    '/auth/logout',
    {
      schema: {
        tags: ['people'],
        summary: 'Sign out: ends this session and clears the cookie',
        response: { 204: Type.Null({ description: 'signed out' }), ...errorResponses(401, 429) },
      },
    },
    async (request, reply) => {
      const p = who(request);
      if (p.kind === 'person') {
        // The session this request came with (a bearer session token, else the cookie).
        const token = bearer(request) ?? readCookie(request, SESSION_COOKIE);
        if (token !== undefined) people.repo.users.deleteSession(token);
      }
      return reply.header('set-cookie', clearedSessionCookie(request.protocol === 'https')).status(204).send(null);
    },
  );

  fastify.get(
    '/me',
    {
      schema: {
        tags: ['people'],
        summary: 'The caller, their role, and the residents they care for (family, community, paged)',
        response: { 200: MeResponse, ...errorResponses(401, 429) },
      },
    },
    async (request) => {
      const p = who(request);
      if (p.kind !== 'person') return { principal: 'admin-token' as const, user: null, residents: [] };
      const user = people.repo.users.get(p.userId);
      if (!user) throw new CloudError(CloudErrorCode.Unauthorized, 'sign in first');
      // Admins and operators reach residents through GET /residents; "cared for" here
      // means by relationship, which is what the care page lists.
      const cares = p.role === 'admin' || p.role === 'operator' ? [] : await people.directory.visibleProfiles(p);
      return {
        principal: 'person' as const,
        user: toPersonView(user),
        residents: cares.map(({ resident: r, level }) => ({ id: r.id, name: r.name, communityId: r.communityId, access: level })),
      };
    },
  );
};
