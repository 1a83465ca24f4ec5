import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { generateSecret, hashSecret, verifySecret } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../../errors.js';
import { BackoffLimiter, FailureLimiter, retryAfterSeconds } from '../../auth-limits.js';
import { bearer } from '../../plugins/admin-auth.js';
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
  // No lockout per login: anyone who knows a login name could then keep its owner out.
  // Instead each (login, address) pair backs off exponentially, and an address failing
  // across many logins is refused for a while; a clean address always gets a try.
  const perIp = new FailureLimiter(limits.perIp, limits.windowMs);
  const perPair = new BackoffLimiter({ ...limits, forgetAfterMs: limits.windowMs });

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
      const pair = JSON.stringify([login.trim().toLowerCase(), request.ip]);
      const now = people.now();
      const wait = Math.max(perIp.retryAfterMs(request.ip, now), perPair.retryAfterMs(pair, now));
      if (wait > 0) {
        void reply.header('retry-after', retryAfterSeconds(wait));
        throw new CloudError(CloudErrorCode.TooManyRequests, 'too many failed sign-in attempts; try again later');
      }
      // Counted before the (slow, async) check and taken back on success, so concurrent
      // guesses cannot all slip through before the first failure is recorded.
      perIp.fail(request.ip, now);
      const delay = perPair.fail(pair, now);
      const found = await users.forLogin(login.trim());
      const ok = await verifySecret(password, found?.passwordHash ?? decoyHash);
      if (!found || found.passwordHash === null || found.user.disabled || !ok) {
        request.log.info({ ip: request.ip, delayMs: delay }, 'sign-in refused');
        if (delay > 0) void reply.header('retry-after', retryAfterSeconds(delay));
        throw new CloudError(CloudErrorCode.Unauthorized, BAD_LOGIN);
      }
      perIp.refund(request.ip);
      perPair.succeed(pair);
      const token = await users.createSession(found.user.id);
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
        if (token !== undefined) await people.repo.users.deleteSession(token);
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
      const user = await people.repo.users.get(p.userId);
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
