import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { openAlerts, type AlertsModule } from '../src/care/alerts/index.js';
import { openPeople, type PeopleModule } from '../src/care/people/index.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { secondPool } from './alert-store-support.js';
import { report } from './care-alerts-support.js';
import { openCareStream } from './care-stream-client.js';
import { silentLogger, startEdgeStub, waitFor, type EdgeStub } from './helpers.js';
import { usePostgres } from './pg-support.js';

/**
 * The app channel end to end with two clouds on one PostgreSQL database and the real
 * people module: a family member signs in on cloud B (as a load balancer may send her),
 * her care page streams from B, the edge reports an SOS to cloud A, and the page reaches
 * her through B; she confirms it through B with her session.
 */
const pgs = usePostgres();
const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const EDGE = 'edge-token-for-app-channel-tests';
const PASSWORD = 'a long enough password';
const admin = { authorization: `Bearer ${ADMIN}` };

interface Cloud { people: PeopleModule; alerts: AlertsModule; app: FastifyInstance; base: string }
const clouds: Cloud[] = [];
let edge: EdgeStub | undefined;
afterAll(async () => {
  for (const c of clouds.reverse()) {
    await c.app.close();
    await c.alerts.close();
    await c.people.close();
  }
  await edge?.close();
});

async function cloud(db: PostgresDatabase, sweepMs: number): Promise<Cloud> {
  edge ??= await startEdgeStub(EDGE);
  const people = await openPeople({ db: { kind: 'postgres', db }, logger: silentLogger });
  const alerts = await openAlerts({
    db: { kind: 'postgres', db }, directory: people.directory, audit: people.audit, logger: silentLogger,
    publicUrl: 'http://care.test', heartbeatMs: 100, cluster: { pollMs: 100, sweepMs, claimMs: 30_000 },
  });
  people.setAlertData(alerts.residentData);
  const devices = new SqliteDeviceRepository({ file: ':memory:' });
  await devices.create({ id: 'fall-1', site: 'xuhui', kind: 'fall-sensor', name: null, firmwareVersion: null, secretHash: 'scrypt$x' });
  const app = await buildApp({
    logger: silentLogger, devices, edge: createHttpEdgeClient({ baseUrl: edge.url, token: edge.token }),
    control: { connected: () => true, publishRevoke: async () => undefined },
    adminTokenDigest: digestToken(ADMIN), brokerToken: 'broker-token-for-tests', edgeToken: EDGE, dashboardDir: null, people, alerts,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  alerts.start();
  const c = { people, alerts, app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
  clouds.push(c);
  return c;
}

async function api(c: Cloud, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
  return fetch(`${c.base}/api/v1${path}`, {
    method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

describe.skipIf(pgs.skip)('the care page\'s app channel across two clouds, signed in for real', () => {
  it('signed in and streaming on cloud B, paged by cloud A: the page arrives, is recorded delivered, and is confirmed through B', async () => {
    const db = await pgs.fresh();
    // A sends what it takes in; B only sweeps at its start (else it might send A's page itself).
    const a = await cloud(db, 600_000);
    const b = await cloud(secondPool(db), 600_000);
    expect((await api(a, 'POST', '/communities', admin, { id: 'xuhui', name: 'Xuhui' })).status).toBe(201);
    expect((await api(a, 'POST', '/residents', admin, { id: 'r-wang', name: 'Wang Fang', communityId: 'xuhui' })).status).toBe(201);
    const p = await api(a, 'POST', '/people', admin, { login: 'daughter', name: 'Li Wei', role: 'family', password: PASSWORD, channels: [{ type: 'app', address: '' }] });
    expect(p.status).toBe(201);
    const daughter = ((await p.json()) as { person: { id: string } }).person.id;
    expect((await api(a, 'PUT', '/residents/r-wang/devices', admin, { deviceIds: ['fall-1'] })).status).toBe(200);
    expect((await api(a, 'PUT', '/residents/r-wang/family', admin, { contacts: [{ userId: daughter }] })).status).toBe(200);

    // She signs in on B (people live in the shared database) and her page streams from B.
    const login = await api(b, 'POST', '/auth/login', {}, { login: 'daughter', password: PASSWORD });
    expect(login.status).toBe(200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const page = await openCareStream(b.base, { cookie });
    expect(page.status).toBe(200);
    await waitFor(async () => (await db.query('open', 'SELECT 1 FROM alerts.app_streams WHERE user_id = $1', [daughter])).rowCount === 1, 'her page announced by B');

    const rep = report({ deviceId: 'fall-1' });
    expect((await api(a, 'POST', '/internal/alerts', { authorization: `Bearer ${EDGE}` }, rep)).status).toBe(200);
    const shown = await waitFor(() => page.pages().find((x) => (x.alert as { id: string }).id === rep.id), 'the page on her stream from B');
    expect(shown).toMatchObject({ kind: 'page', recipient: { userId: daughter, name: 'Li Wei' }, alert: { residentName: 'Wang Fang' } });
    const id = shown.deliveryId as string;
    await waitFor(async () => (await a.alerts.repo.notification(id))?.status === 'delivered', 'the delivery recorded');
    expect(await a.alerts.repo.notification(id)).toMatchObject({ userId: daughter, channelType: 'app', attempts: 1 });
    // The alert itself also reached her page on B (LISTEN/NOTIFY of alert changes), audited there.
    await waitFor(() => page.events.some((e) => e.event === 'alert' && e.data.id === rep.id), 'the alert upsert on her stream');
    expect(await b.people.audit.query({ residentId: 'r-wang', limit: 100 })).toContainEqual(expect.objectContaining({ actor: daughter, action: 'alert.stream', detail: rep.id }));

    // She confirms it through B with her session.
    const read = await api(b, 'POST', `/notifications/${id}/receipt`, { cookie });
    expect(read.status).toBe(200);
    expect(await a.alerts.repo.notification(id)).toMatchObject({ readAt: expect.any(Number) });

    // Signing out ends her stream, and B takes back "her page is open here".
    expect((await api(b, 'POST', '/auth/logout', { cookie })).status).toBe(204);
    await page.closed;
    await waitFor(async () => (await db.query('open', 'SELECT 1 FROM alerts.app_streams WHERE user_id = $1', [daughter])).rowCount === 0, 'her page no longer announced');
  });
});
