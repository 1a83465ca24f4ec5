import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { createRefusalCounter } from '../src/security/http-refusals.js';

/** What the cloud counts as refused authentications for the security monitor. */
describe('refusal counter', () => {
  it('counts refused sign-ins and presented-but-refused or throttled credentials; not signed-out pages, internal checks or the claim exchange', async () => {
    const { counters, onResponse } = createRefusalCounter();
    const app = Fastify();
    app.addHook('onResponse', onResponse);
    const answer = (status: number) => async (_req: unknown, reply: { status(n: number): { send(b: unknown): unknown } }) => reply.status(status).send({});
    app.post('/api/v1/auth/login', answer(401));
    app.get('/api/v1/me', answer(401));
    app.get('/api/v1/busy', answer(429));
    app.get('/api/v1/devices', answer(200));
    app.post('/api/v1/internal/device-auth', answer(401));
    app.post('/api/v1/provision/claim', answer(401));
    await app.ready();
    const bearer = { authorization: 'Bearer wrong' };
    await app.inject({ method: 'POST', url: '/api/v1/auth/login' });
    await app.inject({ method: 'POST', url: '/api/v1/auth/login' });
    expect(counters).toEqual({ signInRefused: 2, credentialRefused: 0 });
    await app.inject({ url: '/api/v1/me' }); // a signed-out page: not counted
    await app.inject({ url: '/api/v1/me', headers: { cookie: 'yulan_session=expired' } }); // an expired session: not counted
    expect(counters.credentialRefused).toBe(0);
    await app.inject({ url: '/api/v1/me', headers: bearer });
    await app.inject({ url: '/api/v1/busy' });
    await app.inject({ url: '/api/v1/devices', headers: bearer }); // 200: nothing refused
    await app.inject({ method: 'POST', url: '/api/v1/internal/device-auth', headers: bearer });
    await app.inject({ method: 'POST', url: '/api/v1/provision/claim', headers: bearer });
    await app.inject({ url: '/nowhere', headers: bearer }); // 404
    expect(counters).toEqual({ signInRefused: 2, credentialRefused: 2 });
    await app.close();
  });
});
