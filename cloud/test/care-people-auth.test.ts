import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { openPeople, type PeopleModule } from '../src/care/people/index.js';
import { SESSION_IDLE_MS } from '../src/care/people/user-store.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { deadUrl, silentLogger, tempDir } from './helpers.js';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const admin = { authorization: `Bearer ${ADMIN}` };
const PASSWORD = 'correct horse battery';
const tmp = tempDir('yulan-people-auth-');
let clock = Date.UTC(2025, 0, 15, 4, 0);
const apps: FastifyInstance[] = [];
const modules: PeopleModule[] = [];

async function makeApp(name: string, authFailures = 20, trustProxy?: string[]): Promise<{ app: FastifyInstance; people: PeopleModule }> {
  const people = await openPeople({ db: { kind: 'sqlite', file: join(tmp.dir, `${name}.sqlite`) }, logger: silentLogger, now: () => clock, loginLimits: { perIp: 8 } });
  const app = await buildApp({
    logger: silentLogger,
    devices: new SqliteDeviceRepository({ file: ':memory:' }),
    edge: createHttpEdgeClient({ baseUrl: await deadUrl(), token: 'x' }),
    control: { connected: () => true, publishRevoke: async () => undefined },
    adminTokenDigest: digestToken(ADMIN),
    brokerToken: 'broker-token-for-tests',
    dashboardDir: null,
    rateLimit: { authFailures },
    people,
    ...(trustProxy ? { trustProxy } : {}),
  });
  apps.push(app);
  modules.push(people);
  return { app, people };
}

async function addPerson(app: FastifyInstance, login: string, over: Record<string, unknown> = {}) {
  const r = await app.inject({ method: 'POST', url: '/api/v1/people', headers: admin, payload: { login, name: login, role: 'family', password: PASSWORD, ...over } });
  expect(r.statusCode, r.body).toBe(201);
  return r.json().person as { id: string };
}

const login = (app: FastifyInstance, body: Record<string, unknown>, remoteAddress = '10.0.0.1') =>
  app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: body, remoteAddress });

let app: FastifyInstance;
beforeAll(async () => {
  ({ app } = await makeApp('main'));
  await addPerson(app, 'Li.Na');
});
afterAll(async () => {
  for (const a of apps) await a.close();
  for (const m of modules) await m.close();
  tmp.cleanup();
});

describe('login', () => {
  it('answers a token and an HttpOnly SameSite=Strict cookie; the login is case-insensitive', async () => {
    const r = await login(app, { login: 'li.na', password: PASSWORD });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(body.user).toMatchObject({ login: 'Li.Na', role: 'family', hasPassword: true });
    expect(JSON.stringify(body.user)).not.toContain('scrypt');
    const cookie = String(r.headers['set-cookie']);
    expect(cookie).toContain(`yulan_session=${body.token}`);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/');
    expect(r.headers['cache-control']).toBe('no-store');
  });

  it('the session cookie alone authenticates, and a made-up one does not', async () => {
    // Also runs fastify.inject's `cookies` option, i.e. light-my-request's cookie@2, which
    // declares Node >= 22: this is the check that it works on Node 20 (README, Node versions).
    const token = (await login(app, { login: 'Li.Na', password: PASSWORD })).json().token as string;
    const me = await app.inject({ url: '/api/v1/me', cookies: { yulan_session: token } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ principal: 'person', user: { login: 'Li.Na' } });
    const forged = await app.inject({ url: '/api/v1/me', cookies: { yulan_session: `${token.slice(0, -2)}xx` } });
    expect(forged.statusCode).toBe(401);
  });

  it('the same 401 for an unknown login, a wrong password, a person without a password and a disabled person', async () => {
    await addPerson(app, 'nopass', { password: undefined });
    const disabled = await addPerson(app, 'disabled.one');
    expect((await app.inject({ method: 'PATCH', url: `/api/v1/people/${disabled.id}`, headers: admin, payload: { disabled: true } })).statusCode).toBe(200);
    const bodies = [];
    for (const [i, b] of [
      { login: 'nobody', password: PASSWORD },
      { login: 'Li.Na', password: 'wrong password!' },
      { login: 'nopass', password: PASSWORD },
      { login: 'disabled.one', password: PASSWORD },
      { login: '', password: '' },
    ].entries()) {
      const r = await login(app, b, `10.1.0.${i}`);
      expect(r.statusCode, JSON.stringify(b)).toBe(401);
      expect(r.headers['set-cookie']).toBeUndefined();
      bodies.push(r.body);
    }
    expect(new Set(bodies).size).toBe(1);
    expect(JSON.parse(bodies[0] as string)).toMatchObject({ code: 'E_UNAUTHORIZED', message: 'wrong login or password' });
  });

  it('400 for a malformed body', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { login: 'x' } });
    expect(r.statusCode).toBe(400);
    expect(r.json().code).toBe('E_VALIDATION');
  });

  it('wrong passwords for a login from many addresses do not keep its owner out', async () => {
    const { app: limited } = await makeApp('spray');
    await addPerson(limited, 'wang.fang');
    // One attempt each from 30 addresses, then a run from one address until it is delayed.
    for (let i = 0; i < 30; i++) expect((await login(limited, { login: 'wang.fang', password: 'nope-nope-nope' }, `10.2.0.${i}`)).statusCode).toBe(401);
    for (let i = 0; i < 4; i++) expect((await login(limited, { login: 'wang.fang', password: `guess-${i}` }, '10.2.9.9')).statusCode).toBe(401);
    expect((await login(limited, { login: 'wang.fang', password: 'guess-5' }, '10.2.9.9')).statusCode).toBe(429);
    // The owner, from a clean address (and from one that tried once), still signs in.
    const r = await login(limited, { login: 'WANG.FANG', password: PASSWORD }, '10.2.1.1');
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().user.login).toBe('wang.fang');
    expect((await login(limited, { login: 'wang.fang', password: PASSWORD }, '10.2.0.7')).statusCode).toBe(200);
  });

  it('a login and address back off: free attempts, then 1 s, 2 s, 4 s; the right password works after the wait', async () => {
    const { app: limited } = await makeApp('backoff');
    await addPerson(limited, 'sun.li');
    const at = '10.5.0.1';
    const attempt = (password: string) => login(limited, { login: 'sun.li', password }, at);
    for (let i = 0; i < 3; i++) {
      const r = await attempt('wrong password');
      expect(r.statusCode).toBe(401);
      expect(r.headers['retry-after']).toBeUndefined();
    }
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const failed = await attempt('wrong password');
      expect(failed.statusCode).toBe(401);
      const wait = Number(failed.headers['retry-after']);
      // While the delay runs even the right password is refused unchecked: no oracle.
      const early = await attempt(PASSWORD);
      expect(early.statusCode).toBe(429);
      expect(early.json().code).toBe('E_TOO_MANY_REQUESTS');
      expect(Number(early.headers['retry-after'])).toBe(wait);
      waits.push(wait);
      clock += wait * 1000;
    }
    expect(waits).toEqual([1, 2, 4]);
    // Another login from the same address is not delayed.
    await addPerson(limited, 'other.person');
    expect((await login(limited, { login: 'other.person', password: PASSWORD }, at)).statusCode).toBe(200);
    // After the wait the right password signs in, and clears the back-off.
    expect((await attempt(PASSWORD)).statusCode).toBe(200);
    const after = await attempt('wrong again');
    expect(after.statusCode).toBe(401);
    expect(after.headers['retry-after']).toBeUndefined();
  });

  it('concurrent guesses cannot slip past the back-off', async () => {
    const { app: limited } = await makeApp('concurrent');
    await addPerson(limited, 'qian.wu');
    const all = await Promise.all(Array.from({ length: 10 }, (_, i) => login(limited, { login: 'qian.wu', password: `guess-${i}` }, '10.6.0.1')));
    const statuses = all.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429, 429, 429]);
  });

  it('an address failing across many logins is refused for a while; other addresses are not', async () => {
    const { app: limited } = await makeApp('per-ip');
    await addPerson(limited, 'zhao.lei');
    for (let i = 0; i < 8; i++) expect((await login(limited, { login: `guess${i}`, password: 'x' }, '10.3.0.1')).statusCode).toBe(401);
    const refused = await login(limited, { login: 'zhao.lei', password: PASSWORD }, '10.3.0.1');
    expect(refused.statusCode).toBe(429);
    const wait = Number(refused.headers['retry-after']);
    expect(wait).toBeGreaterThan(60);
    expect((await login(limited, { login: 'zhao.lei', password: PASSWORD }, '10.3.0.2')).statusCode).toBe(200);
    clock += wait * 1000;
    expect((await login(limited, { login: 'zhao.lei', password: PASSWORD }, '10.3.0.1')).statusCode).toBe(200);
  });

  it('behind a trusted proxy (YULAN_TRUST_PROXY) each client has its own budget; a forged header from elsewhere is ignored', async () => {
    const { app: proxied } = await makeApp('proxied', 20, ['127.0.0.1']);
    await addPerson(proxied, 'zhou.min');
    const via = (client: string, body: Record<string, unknown>, peer = '127.0.0.1') =>
      proxied.inject({ method: 'POST', url: '/api/v1/auth/login', payload: body, remoteAddress: peer, headers: { 'x-forwarded-for': client } });
    for (let i = 0; i < 8; i++) expect((await via('203.0.113.5', { login: `guess${i}`, password: 'x' })).statusCode).toBe(401);
    expect((await via('203.0.113.5', { login: 'zhou.min', password: PASSWORD })).statusCode).toBe(429);
    expect((await via('203.0.113.6', { login: 'zhou.min', password: PASSWORD })).statusCode).toBe(200);
    // Not through the proxy: X-Forwarded-For is not believed, the peer is the client.
    for (let i = 0; i < 8; i++) expect((await via(`198.51.100.${i}`, { login: `guess${i}`, password: 'x' }, '10.8.0.1')).statusCode).toBe(401);
    expect((await via('198.51.100.200', { login: 'zhou.min', password: PASSWORD }, '10.8.0.1')).statusCode).toBe(429);
  });
});

describe('sessions', () => {
  async function signIn(target = app): Promise<string> {
    const r = await login(target, { login: 'Li.Na', password: PASSWORD });
    expect(r.statusCode).toBe(200);
    return r.json().token as string;
  }

  it('a session works as a bearer token and as the cookie; /me says who', async () => {
    const token = await signIn();
    for (const headers of [{ authorization: `Bearer ${token}` }, { cookie: `theme=dark; yulan_session=${token}; other=1` }]) {
      const r = await app.inject({ url: '/api/v1/me', headers });
      expect(r.statusCode, JSON.stringify(headers)).toBe(200);
      expect(r.json()).toMatchObject({ principal: 'person', user: { login: 'Li.Na', role: 'family' }, residents: [] });
    }
    const asAdmin = await app.inject({ url: '/api/v1/me', headers: admin });
    expect(asAdmin.json()).toEqual({ principal: 'admin-token', user: null, residents: [] });
  });

  it('401 without credentials, with an unknown token and with an unknown cookie', async () => {
    for (const headers of [{}, { authorization: 'Bearer not-a-session' }, { cookie: 'yulan_session=not-a-session' }, { cookie: 'yulan_session=' }]) {
      const r = await app.inject({ url: '/api/v1/me', headers });
      expect(r.statusCode, JSON.stringify(headers)).toBe(401);
      expect(r.json().code).toBe('E_UNAUTHORIZED');
    }
  });

  it('a wrong bearer does not fall back to a valid cookie', async () => {
    const token = await signIn();
    const r = await app.inject({ url: '/api/v1/me', headers: { authorization: 'Bearer wrong', cookie: `yulan_session=${token}` } });
    expect(r.statusCode).toBe(401);
  });

  it('logout ends the session and clears the cookie', async () => {
    const token = await signIn();
    const out = await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { cookie: `yulan_session=${token}` } });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/yulan_session=;.*Max-Age=0/);
    expect((await app.inject({ url: '/api/v1/me', headers: { cookie: `yulan_session=${token}` } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/logout' })).statusCode).toBe(401);
  });

  it('a session expires after 12 h without use, and ends when the password changes', async () => {
    const token = await signIn();
    const headers = { authorization: `Bearer ${token}` };
    clock += SESSION_IDLE_MS - 120_000;
    expect((await app.inject({ url: '/api/v1/me', headers })).statusCode).toBe(200);
    clock += SESSION_IDLE_MS + 1;
    expect((await app.inject({ url: '/api/v1/me', headers })).statusCode).toBe(401);

    const again = await signIn();
    const people = await app.inject({ url: '/api/v1/people?role=family', headers: admin });
    const id = (people.json().items as { id: string; login: string }[]).find((p) => p.login === 'Li.Na')?.id;
    await app.inject({ method: 'PATCH', url: `/api/v1/people/${id}`, headers: admin, payload: { password: 'another long password' } });
    expect((await app.inject({ url: '/api/v1/me', headers: { authorization: `Bearer ${again}` } })).statusCode).toBe(401);
    expect((await login(app, { login: 'Li.Na', password: 'another long password' })).statusCode).toBe(200);
    await app.inject({ method: 'PATCH', url: `/api/v1/people/${id}`, headers: admin, payload: { password: PASSWORD } });
  });

  it('repeated bad sessions from one address are refused (429) there, but a right credential is not', async () => {
    const { app: limited } = await makeApp('bad-sessions', 3);
    for (let i = 0; i < 3; i++) {
      expect((await limited.inject({ url: '/api/v1/me', remoteAddress: '10.4.0.1', headers: { cookie: 'yulan_session=guess' } })).statusCode).toBe(401);
    }
    expect((await limited.inject({ url: '/api/v1/me', remoteAddress: '10.4.0.1', headers: { cookie: 'yulan_session=guess' } })).statusCode).toBe(429);
    expect((await limited.inject({ url: '/api/v1/me', remoteAddress: '10.4.0.1', headers: { authorization: 'Bearer guess' } })).statusCode).toBe(429);
    expect((await limited.inject({ url: '/api/v1/me', remoteAddress: '10.4.0.1', headers: admin })).statusCode).toBe(200);
    expect((await limited.inject({ url: '/api/v1/me', remoteAddress: '10.4.0.2', headers: { cookie: 'yulan_session=guess' } })).statusCode).toBe(401);
    // No credentials at all is not a guess: it costs nothing.
    for (let i = 0; i < 5; i++) expect((await limited.inject({ url: '/api/v1/me', remoteAddress: '10.4.0.3' })).statusCode).toBe(401);
    expect((await limited.inject({ url: '/api/v1/me', remoteAddress: '10.4.0.3', headers: { cookie: 'yulan_session=guess' } })).statusCode).toBe(401);
  });
});
