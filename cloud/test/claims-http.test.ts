import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../broker/test/helpers.js';
import { BROKER_TOKEN } from '../../broker/test/helpers.js';
import { ClaimCloud, adminAuth, removeDir } from './claims-support.js';

/** The claim API on its own (real Fastify, SQLite files): creating claims, the exchange over
 * HTTP, and what is refused before any slot is touched. */
describe('claims over HTTP', () => {
  const dir = tempDir('claims-http');
  const cloud = new ClaimCloud(dir, { exchangesPerMinute: 4 });
  const exchange = (payload: object) => cloud.app.inject({ method: 'POST', url: '/api/v1/provision/claim', payload });
  beforeAll(() => cloud.start());
  afterAll(async () => {
    await cloud.stop();
    removeDir(dir);
  });

  it('exchanges a claim over HTTP: the device is registered with the claim\'s kind and site and its secret logs in', async () => {
    const { secret } = await cloud.createClaim({ id: 'http-a', kind: 'fall-sensor', site: 'home-3', count: 1, days: 2 });
    const r = await exchange({ claimId: 'http-a', secret, serial: 'FS-1' });
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json() as { device: object; secret: string };
    expect(body.device).toEqual({ id: 'FS-1', site: 'home-3', kind: 'fall-sensor' });
    const auth = await cloud.app.inject({ method: 'POST', url: '/api/v1/internal/device-auth', headers: { authorization: `Bearer ${BROKER_TOKEN}` }, payload: { deviceId: 'FS-1', secret: body.secret } });
    expect(auth.json()).toEqual({ ok: true, device: { id: 'FS-1', site: 'home-3', kind: 'fall-sensor' } });
    // the claim secret is no device secret
    const asDevice = await cloud.app.inject({ method: 'POST', url: '/api/v1/internal/device-auth', headers: { authorization: `Bearer ${BROKER_TOKEN}` }, payload: { deviceId: 'FS-1', secret } });
    expect(asDevice.statusCode).toBe(401);
  });

  it('refuses a wrong secret (401, no audit row for an unknown claim), a bad serial (400) and, past the per-claim limit, with 429', async () => {
    const { secret } = await cloud.createClaim({ id: 'http-b', kind: 'env-monitor', site: 'site-1', count: 10, days: 2 });
    const wrong = await exchange({ claimId: 'http-b', secret: 'not-the-secret', serial: 'E-1' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ ok: false, reason: 'bad-credentials' });
    expect((await exchange({ claimId: 'nope', secret, serial: 'E-1' })).statusCode).toBe(401);
    const bad = await exchange({ claimId: 'http-b', secret, serial: 'E/1' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ reason: 'bad-serial' });
    // 4 attempts per minute per claim in this cloud: one used by the bad serial
    for (const serial of ['E-2', 'E-3', 'E-4']) expect((await exchange({ claimId: 'http-b', secret, serial })).statusCode).toBe(200);
    const limited = await exchange({ claimId: 'http-b', secret, serial: 'E-5' });
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ reason: 'rate-limited' });
    const shown = (await cloud.get('/api/v1/claims/http-b')) as { claim: { usedCount: number }; events: { action: string; detail: string | null }[] };
    expect(shown.claim.usedCount).toBe(3);
    // the wrong secret is counted (metrics), not audited; the bad serial is
    expect(shown.events.filter((e) => e.action === 'claim.refused').map((e) => e.detail?.split(' ')[0])).toEqual(['bad-serial']);
    const metrics = (await cloud.get('/api/v1/metrics')) as { claims_refused: Record<string, number> };
    expect(metrics.claims_refused).toMatchObject({ 'bad-credentials': 2, 'bad-serial': 1, 'rate-limited': 1 });
  });

  it("refuses a serial that is one of the broker's service accounts (it could never log in as a device)", async () => {
    const { secret } = await cloud.createClaim({ id: 'http-r', kind: 'ev-charger', site: 'site-1', count: 5, days: 2 });
    for (const serial of ['edge', 'Gateway']) {
      const r = await exchange({ claimId: 'http-r', secret, serial });
      expect(r.statusCode, serial).toBe(400);
      expect(r.json()).toMatchObject({ reason: 'bad-serial' });
    }
    const shown = (await cloud.get('/api/v1/claims/http-r')) as { claim: { usedCount: number } };
    expect(shown.claim.usedCount).toBe(0);
    expect((await exchange({ claimId: 'http-r', secret, serial: 'gateway-7' })).statusCode).toBe(200);
  });

  it('validates new claims and needs the admin token for every claim route', async () => {
    const post = (payload: object) => cloud.app.inject({ method: 'POST', url: '/api/v1/claims', headers: adminAuth, payload });
    expect((await post({ id: 'v-1', kind: 'toaster', site: 'site-1', count: 1 })).statusCode).toBe(400);
    expect((await post({ id: 'V 1', kind: 'env-monitor', site: 'site-1', count: 1 })).statusCode).toBe(400);
    expect((await post({ id: 'v-1', kind: 'env-monitor', site: 'site-1', count: 0 })).statusCode).toBe(400);
    expect((await post({ id: 'v-1', kind: 'env-monitor', site: 'site-1', count: 1, expiresAt: '2001-01-01T00:00:00Z' })).json()).toMatchObject({ statusCode: 400, message: expect.stringMatching(/expire in the future/) });
    expect((await post({ id: 'v-1', kind: 'env-monitor', site: 'site-1', count: 1 })).statusCode).toBe(201);
    expect((await post({ id: 'v-1', kind: 'env-monitor', site: 'site-1', count: 1 })).statusCode).toBe(409);
    for (const [method, url] of [['GET', '/api/v1/claims'], ['GET', '/api/v1/claims/v-1'], ['POST', '/api/v1/claims/v-1/revoke'], ['GET', '/api/v1/claims/refusals']] as const) {
      expect((await cloud.app.inject({ method, url })).statusCode, url).toBe(401);
    }
    for (const url of ['/api/v1/internal/claim-auth', '/api/v1/internal/claim-exchange']) {
      expect((await cloud.app.inject({ method: 'POST', url, headers: adminAuth, payload: { claimId: 'v-1', secret: 'x', serial: 'S-1' } })).statusCode, url).toBe(401);
    }
    expect((await cloud.app.inject({ url: '/api/v1/claims/nope', headers: adminAuth })).statusCode).toBe(404);
  });
});
