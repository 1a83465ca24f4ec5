import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { BackoffLimiter, FailureLimiter } from '../src/auth-limits.js';
import { digestToken } from '../src/auth-tokens.js';
import type { AlertsModule } from '../src/care/alerts/index.js';
import { openPeople, type PeopleModule } from '../src/care/people/index.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { ADMIN, EDGE, FakeDirectory, openTestAlerts, report } from './care-alerts-support.js';
import { silentLogger, tempDir } from './helpers.js';

const BROKER = 'broker-token-for-auth-limit-tests';
const admin = { authorization: `Bearer ${ADMIN}` };
const broker = { authorization: `Bearer ${BROKER}` };
const edge = { authorization: `Bearer ${EDGE}` };
const wrong = (i: number) => ({ authorization: `Bearer wrong-token-${i}` });

describe('BackoffLimiter', () => {
  const policy = { freeAttempts: 3, baseDelayMs: 1000, maxDelayMs: 8000, forgetAfterMs: 60_000 };

  it('gives free attempts, then doubles the delay up to the cap', () => {
    const b = new BackoffLimiter(policy);
    let t = 0;
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      expect(b.retryAfterMs('k', t)).toBe(0);
      const d = b.fail('k', t);
      delays.push(d);
      expect(b.retryAfterMs('k', t)).toBe(d);
      t += d;
    }
    expect(delays).toEqual([0, 0, 0, 1000, 2000, 4000, 8000, 8000]);
    expect(b.retryAfterMs('other', t)).toBe(0);
  });

  it('forgets a quiet key and clears a key on success', () => {
    const b = new BackoffLimiter(policy);
    for (let i = 0; i < 4; i++) b.fail('quiet', 0);
    expect(b.fail('quiet', 1000)).toBe(2000);
    expect(b.fail('quiet', 1000 + 60_000)).toBe(0);
    for (let i = 0; i < 5; i++) b.fail('ok', 0);
    b.succeed('ok');
    expect(b.retryAfterMs('ok', 0)).toBe(0);
    expect(b.fail('ok', 0)).toBe(0);
  });

  it('stays bounded under a spray from many keys, keeping the most recent', () => {
    const b = new BackoffLimiter(policy, 100);
    for (let i = 0; i < 5; i++) b.fail('attacker', 0);
    for (let i = 0; i < 5000; i++) b.fail(`spray-${i}`, 0);
    expect(b.size).toBeLessThanOrEqual(100);
    for (let i = 0; i < 5; i++) b.fail('attacker', 0);
    expect(b.retryAfterMs('attacker', 0)).toBeGreaterThan(0);
    expect(b.size).toBeLessThanOrEqual(100);
  });
});

describe('FailureLimiter', () => {
  it('refuses after max failures until the window ends; a refund takes one back', () => {
    const f = new FailureLimiter(3, 10_000);
    f.fail('a', 0);
    f.fail('a', 0);
    f.fail('a', 1000);
    expect(f.retryAfterMs('a', 1000)).toBe(9000);
    f.refund('a');
    expect(f.retryAfterMs('a', 1000)).toBe(0);
    f.fail('a', 1000);
    expect(f.retryAfterMs('a', 10_000)).toBe(0);
  });

  it('stays bounded under a spray from many addresses', () => {
    const f = new FailureLimiter(3, 10_000, 50);
    for (let i = 0; i < 10_000; i++) f.fail(`10.${i >> 8}.${i & 255}.1`, 0);
    expect(f.size).toBeLessThanOrEqual(50);
  });
});

describe('wrong bearer tokens from the address the services call from', () => {
  const tmp = tempDir('yulan-auth-limits-');
  const dir = new FakeDirectory();
  let alerts: AlertsModule;
  let app: FastifyInstance;
  let device: { id: string; secret: string };
  const from = '127.0.0.1';
  const modules: PeopleModule[] = [];

  async function make(max?: number): Promise<FastifyInstance> {
    const people = max !== undefined ? await openPeople({ db: { kind: 'sqlite', file: ':memory:' }, logger: silentLogger }) : undefined;
    if (people) modules.push(people);
    return buildApp({
      logger: silentLogger,
      devices: new SqliteDeviceRepository({ file: ':memory:' }),
      edge: createHttpEdgeClient({ baseUrl: 'http://127.0.0.1:9', token: 'x' }),
      control: { connected: () => true, publishRevoke: async () => undefined },
      adminTokenDigest: digestToken(ADMIN),
      brokerToken: BROKER,
      edgeToken: EDGE,
      dashboardDir: null,
      alerts,
      ...(max !== undefined ? { rateLimit: { max } } : {}),
      ...(people ? { people } : {}),
    });
  }
  async function register(target: FastifyInstance, id: string) {
    const r = await target.inject({ method: 'POST', url: '/api/v1/devices', headers: admin, payload: { id, site: 'xuhui', kind: 'fall-sensor' } });
    expect(r.statusCode, r.body).toBe(201);
    return { id, secret: r.json().secret as string };
  }
  const deviceAuth = (target: FastifyInstance, headers: Record<string, string>, body = device) =>
    target.inject({ method: 'POST', url: '/api/v1/internal/device-auth', remoteAddress: from, headers, payload: { deviceId: body.id, secret: body.secret } });
  const intake = (target: FastifyInstance, headers: Record<string, string>) =>
    target.inject({ method: 'POST', url: '/api/v1/internal/alerts', remoteAddress: from, headers, payload: report() as object });
  const devices = (target: FastifyInstance, headers: Record<string, string>) =>
    target.inject({ url: '/api/v1/devices', remoteAddress: from, headers });

  beforeAll(async () => {
    dir.config = { cancelWindowSec: 30, familyAckSec: 600, workerAckSec: 600, reminderSec: 600 };
    alerts = await openTestAlerts(join(tmp.dir, 'alerts.sqlite'), dir);
    alerts.start();
    app = await make();
    device = await register(app, 'fall-auth-1');
  });
  afterAll(async () => {
    await app.close();
    await alerts.close();
    for (const m of modules) await m.close();
    tmp.cleanup();
  });

  it('the admin, broker and edge tokens still work after 25 wrong ones; the wrong ones go 401 then 429', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await devices(app, wrong(i))).statusCode);
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
    for (let i = 0; i < 25; i++) await deviceAuth(app, wrong(i));
    for (let i = 0; i < 25; i++) await intake(app, wrong(i));

    expect((await devices(app, admin)).statusCode).toBe(200);
    const ok = await deviceAuth(app, broker);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ ok: true, device: { id: device.id, kind: 'fall-sensor' } });
    const alert = await intake(app, edge);
    expect(alert.statusCode, alert.body).toBe(200);
    expect(alert.json()).toMatchObject({ revision: 1 });

    // The right tokens did not reset the attacker's budget: wrong ones are still refused.
    for (const r of [await devices(app, wrong(99)), await deviceAuth(app, wrong(99)), await intake(app, wrong(99))]) {
      expect(r.statusCode).toBe(429);
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(r.json().code).toBe('E_TOO_MANY_REQUESTS');
    }
    // The broker's device-auth still tells good device secrets from bad ones.
    expect((await deviceAuth(app, broker, { id: device.id, secret: 'not-the-secret' })).json()).toEqual({ ok: false, reason: 'bad-credentials' });
  });

  it('counts failures per credential: guessing the admin token does not spend the broker\'s or the edge\'s budget', async () => {
    const fresh = await make();
    try {
      for (let i = 0; i < 25; i++) await devices(fresh, wrong(i));
      expect((await devices(fresh, wrong(25))).statusCode).toBe(429);
      expect((await deviceAuth(fresh, wrong(26))).statusCode).toBe(401);
      expect((await intake(fresh, wrong(27))).statusCode).toBe(401);
      // Another address has its own budget for the admin token.
      expect((await fresh.inject({ url: '/api/v1/devices', remoteAddress: '10.7.7.7', headers: wrong(28) })).statusCode).toBe(401);
    } finally {
      await fresh.close();
    }
  });

  it('the API-wide ceiling counts service tokens apart from their address, and never limits device auth, intake or health', async () => {
    const tight = await make(5);
    try {
      const d = await register(tight, 'fall-auth-2');
      // Anonymous volume from the services' address (here sign-in attempts from a spray of
      // logins) spends that address's ceiling…
      const anon: number[] = [];
      for (let i = 0; i < 8; i++) {
        anon.push((await tight.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: from, payload: { login: `guess${i}`, password: 'x' } })).statusCode);
      }
      expect(anon).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
      // …but not the admin's, the broker's or the edge's.
      expect((await devices(tight, admin)).statusCode).toBe(200);
      for (let i = 0; i < 10; i++) {
        expect((await deviceAuth(tight, broker, d)).statusCode).toBe(200);
        expect((await intake(tight, edge)).statusCode).toBe(200);
        expect((await tight.inject({ url: '/healthz', remoteAddress: from })).statusCode).not.toBe(429);
      }
      // The admin token has a ceiling of its own (one registration and one list so far).
      const more: number[] = [];
      for (let i = 0; i < 4; i++) more.push((await devices(tight, admin)).statusCode);
      expect(more).toEqual([200, 200, 200, 429]);
    } finally {
      await tight.close();
    }
  });
});
