import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import type { ResidentAlertData } from '../src/care/contracts.js';
import { openPeople, type PeopleModule } from '../src/care/people/index.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { silentLogger, startEdgeStub, tempDir, type EdgeStub } from './helpers.js';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const EDGE = 'edge-token-for-tests';
const admin = { authorization: `Bearer ${ADMIN}` };
const PASSWORD = 'a long enough password';
const tmp = tempDir('yulan-people-routes-');
let clock = Date.UTC(2025, 0, 15, 4, 0); // 12:00 Shanghai

/** The alert side, faked: what it holds per resident and what it was asked to erase. */
const alertRows = new Map<string, unknown[]>([['r-zhang', [{ id: 'al_1', type: 'fall', outcome: 'helped_up' }]]]);
const paged = new Map<string, string[]>();
const erasedAlerts: string[] = [];
const fakeAlerts: ResidentAlertData = {
  exportResident: async (id) => alertRows.get(id) ?? [],
  eraseResident: async (id) => {
    erasedAlerts.push(id);
    const n = alertRows.get(id)?.length ?? 0;
    alertRows.delete(id);
    return n;
  },
  residentsPagedTo: async (userId) => paged.get(userId) ?? [],
};

let edge: EdgeStub;
let people: PeopleModule;
let app: FastifyInstance;
const sessions: Record<string, { authorization: string }> = {};
const ids: Record<string, string> = {};

async function call(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, headers: Record<string, string>, payload?: unknown) {
  return app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });
}
async function ok(method: Parameters<typeof call>[0], url: string, payload?: unknown, status = 200) {
  const r = await call(method, url, admin, payload);
  expect(r.statusCode, `${method} ${url}: ${r.body}`).toBe(status);
  return r.json();
}
async function person(key: string, role: string, extra: Record<string, unknown> = {}) {
  const body = await ok('POST', '/api/v1/people', { login: key, name: key, role, password: PASSWORD, ...extra }, 201);
  ids[key] = body.person.id;
  const r = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { login: key, password: PASSWORD } });
  sessions[key] = { authorization: `Bearer ${r.json().token}` };
  return body;
}

beforeAll(async () => {
  edge = await startEdgeStub(EDGE);
  people = await openPeople({ db: { kind: 'sqlite', file: join(tmp.dir, 'people.sqlite') }, logger: silentLogger, now: () => clock });
  people.setAlertData(fakeAlerts);
  const devices = new SqliteDeviceRepository({ file: ':memory:' });
  for (const id of ['fall-1', 'fall-2', 'fall-3']) await devices.create({ id, site: 'xuhui', kind: 'fall-sensor', name: null, firmwareVersion: null, secretHash: 'scrypt$x' });
  app = await buildApp({
    logger: silentLogger,
    devices,
    edge: createHttpEdgeClient({ baseUrl: edge.url, token: edge.token }),
    control: { connected: () => true, publishRevoke: async () => undefined },
    adminTokenDigest: digestToken(ADMIN),
    brokerToken: 'broker-token-for-tests',
    edgeToken: EDGE,
    dashboardDir: null,
    people,
  });
  // Two communities, two residents, one of each kind of person.
  await ok('POST', '/api/v1/communities', { id: 'tianlin', name: '田林街道' }, 201);
  await ok('POST', '/api/v1/communities', { id: 'kangjian', name: '康健街道' }, 201);
  await ok('POST', '/api/v1/residents', { id: 'r-zhang', name: '张阿姨', communityId: 'tianlin', birthYear: 1938, routine: { wakeBy: '09:30' } }, 201);
  await ok('POST', '/api/v1/residents', { id: 'r-wu', name: '吴伯伯', communityId: 'kangjian' }, 201);
  await person('daughter', 'family');
  await person('neighbour', 'family');
  await person('worker', 'worker');
  await person('operator', 'operator');
  await person('callcentre', 'callcentre');
  await person('boss', 'admin');
  await ok('PUT', '/api/v1/residents/r-zhang/family', { contacts: [{ userId: ids.daughter, relation: '女儿' }] });
  await ok('PUT', '/api/v1/residents/r-wu/family', { contacts: [{ userId: ids.neighbour }] });
  await ok('PUT', `/api/v1/people/${ids.worker}/assignments`, { assignments: [{ communityId: 'tianlin', onDuty: true }] });
  await ok('PUT', '/api/v1/residents/r-zhang/devices', { deviceIds: ['fall-1'] });
});
afterAll(async () => {
  await app.close();
  await people.close();
  await edge.close();
  tmp.cleanup();
});

describe('access by relationship', () => {
  it('a family member lists only their resident and gets the same 404 for another as for a missing one', async () => {
    const list = await call('GET', '/api/v1/residents', sessions.daughter!);
    expect(list.json().items.map((r: { id: string }) => r.id)).toEqual(['r-zhang']);
    expect(list.json().items[0]).toMatchObject({ access: 'health', devices: ['fall-1'], birthYear: 1938, routine: { wakeBy: '09:30', inactivityHours: 24 } });
    expect((await call('GET', '/api/v1/residents/r-zhang', sessions.daughter!)).statusCode).toBe(200);
    const hidden = await call('GET', '/api/v1/residents/r-wu', sessions.daughter!);
    const missing = await call('GET', '/api/v1/residents/r-wu', sessions.neighbour!);
    expect(missing.statusCode).toBe(200); // exists: the neighbour sees it
    const none = await call('GET', '/api/v1/residents/r-none', sessions.daughter!);
    expect(hidden.statusCode).toBe(404);
    expect(none.statusCode).toBe(404);
    expect(hidden.body.replace('r-wu', 'X')).toBe(none.body.replace('r-none', 'X'));
    for (const sub of ['activity', 'export', 'family']) {
      const r = await call('GET', `/api/v1/residents/r-wu/${sub}`, sessions.daughter!);
      expect(r.statusCode, sub).toBe(404);
      expect(r.body).toBe(hidden.body);
    }
    const del = await call('DELETE', '/api/v1/residents/r-wu', sessions.daughter!);
    expect(del.statusCode).toBe(404);
    expect(del.body).toBe(hidden.body);
  });

  it('/me lists the residents a person cares for', async () => {
    expect((await call('GET', '/api/v1/me', sessions.daughter!)).json().residents).toEqual([{ id: 'r-zhang', name: '张阿姨', communityId: 'tianlin', access: 'health' }]);
    expect((await call('GET', '/api/v1/me', sessions.worker!)).json().residents.map((r: { id: string }) => r.id)).toEqual(['r-zhang']);
  });

  it('a worker sees the residents of their communities only', async () => {
    expect((await call('GET', '/api/v1/residents', sessions.worker!)).json().items.map((r: { id: string }) => r.id)).toEqual(['r-zhang']);
    expect((await call('GET', '/api/v1/residents/r-wu', sessions.worker!)).statusCode).toBe(404);
    await ok('PUT', `/api/v1/people/${ids.worker}/assignments`, { assignments: [{ communityId: 'tianlin', onDuty: true }, { communityId: 'kangjian' }] });
    expect((await call('GET', '/api/v1/residents/r-wu', sessions.worker!)).statusCode).toBe(200);
    await ok('PUT', `/api/v1/people/${ids.worker}/assignments`, { assignments: [{ communityId: 'tianlin', onDuty: true }] });
  });

  it('a worker switches their own duty; not someone else\'s', async () => {
    const r = await call('PUT', `/api/v1/people/${ids.worker}/on-duty`, sessions.worker!, { onDuty: false });
    expect(r.statusCode).toBe(200);
    expect(r.json().assignments).toEqual([{ communityId: 'tianlin', onDuty: false, dutyFrom: null, dutyTo: null }]);
    expect((await call('PUT', `/api/v1/people/${ids.worker}/on-duty`, sessions.daughter!, { onDuty: true })).statusCode).toBe(403);
    expect((await call('PUT', `/api/v1/people/${ids.worker}/on-duty`, sessions.worker!, { onDuty: true, communityId: 'kangjian' })).statusCode).toBe(400);
    await ok('PUT', `/api/v1/people/${ids.worker}/on-duty`, { onDuty: true });
  });

  it('an operator sees profiles but not health data, until granted; the grant expires', async () => {
    const list = await call('GET', '/api/v1/residents', sessions.operator!);
    expect(list.json().items).toHaveLength(2);
    const zhang = list.json().items.find((r: { id: string }) => r.id === 'r-zhang');
    expect(zhang).toEqual({ id: 'r-zhang', name: '张阿姨', communityId: 'tianlin', devices: ['fall-1'], access: 'profile' });
    expect((await call('GET', '/api/v1/residents/r-zhang/activity', sessions.operator!)).statusCode).toBe(403);
    const grant = await ok('POST', '/api/v1/health-grants', { userId: ids.operator, residentId: 'r-zhang', hours: 2 }, 201);
    expect(grant).toMatchObject({ userId: ids.operator, residentId: 'r-zhang', grantedBy: 'admin-token', active: true });
    expect((await call('GET', '/api/v1/residents/r-zhang/activity', sessions.operator!)).statusCode).toBe(200);
    expect((await call('GET', '/api/v1/residents/r-wu/activity', sessions.operator!)).statusCode).toBe(403);
    // Operators may not export even with a grant.
    expect((await call('GET', '/api/v1/residents/r-zhang/export', sessions.operator!)).statusCode).toBe(403);
    clock += 2 * 3_600_000;
    expect((await call('GET', '/api/v1/residents/r-zhang/activity', sessions.operator!)).statusCode).toBe(403);
    expect((await ok('GET', '/api/v1/health-grants')).items[0].active).toBe(false);
    // Granting to someone who is not an operator is refused.
    expect((await call('POST', '/api/v1/health-grants', admin, { userId: ids.daughter, residentId: '*', hours: 1 })).statusCode).toBe(400);
  });

  it('the call centre sees residents with an alert paged to them, only while it is', async () => {
    expect((await call('GET', '/api/v1/residents/r-wu', sessions.callcentre!)).statusCode).toBe(404);
    paged.set(ids.callcentre!, ['r-wu']);
    expect((await call('GET', '/api/v1/residents/r-wu', sessions.callcentre!)).json().access).toBe('health');
    expect((await call('GET', '/api/v1/residents', sessions.callcentre!)).json().items.map((r: { id: string }) => r.id)).toEqual(['r-wu']);
    paged.delete(ids.callcentre!);
    expect((await call('GET', '/api/v1/residents/r-wu', sessions.callcentre!)).statusCode).toBe(404);
  });

  it('non-admins get 403 on management routes; an admin person may use them', async () => {
    for (const [m, url, body] of [
      ['GET', '/api/v1/people', undefined],
      ['POST', '/api/v1/communities', { name: 'x' }],
      ['POST', '/api/v1/residents', { name: 'x', communityId: 'tianlin' }],
      ['PATCH', '/api/v1/residents/r-zhang', { notes: 'x' }],
      ['GET', '/api/v1/audit', undefined],
    ] as const) {
      const r = await call(m, url, sessions.daughter!, body);
      expect(r.statusCode, `${m} ${url}`).toBe(403);
      expect(r.json().code).toBe('E_FORBIDDEN');
    }
    expect((await call('GET', '/api/v1/people', sessions.boss!)).statusCode).toBe(200);
    expect((await call('GET', '/api/v1/residents/r-wu/export', sessions.boss!)).statusCode).toBe(200);
  });
});

describe('management', () => {
  it('400 with the field named for invalid bodies', async () => {
    const cases: [string, string, unknown, string][] = [
      ['POST', '/api/v1/people', { login: 'x', name: 'n', role: 'family' }, 'login'],
      ['POST', '/api/v1/people', { login: 'short.pw', name: 'n', role: 'family', password: 'short' }, 'password'],
      ['POST', '/api/v1/people', { login: 'bad.role', name: 'n', role: 'boss' }, 'role'],
      ['POST', '/api/v1/people', { login: 'bad.hook', name: 'n', role: 'family', channels: [{ type: 'webhook', address: 'ftp://x' }] }, 'channels/0/address'],
      ['POST', '/api/v1/people', { login: 'bad.mail', name: 'n', role: 'family', channels: [{ type: 'email', address: 'nope' }] }, 'channels/0/address'],
      ['POST', '/api/v1/residents', { name: 'n', communityId: 'nowhere' }, 'communityId'],
      ['POST', '/api/v1/residents', { name: 'n', communityId: 'tianlin', routine: { wakeBy: '25:00' } }, 'wakeBy'],
      ['POST', '/api/v1/residents', { name: 'n', communityId: 'tianlin', ladder: { familyAckSec: 1 } }, 'familyAckSec'],
      ['PUT', '/api/v1/residents/r-zhang/devices', { deviceIds: ['not-registered'] }, 'deviceIds/0'],
      ['PUT', '/api/v1/residents/r-zhang/family', { contacts: [{ userId: 'u_missing' }] }, 'contacts/0'],
      ['PUT', '/api/v1/residents/r-zhang/family', { contacts: [{ userId: ids.worker }] }, 'contacts/0'],
      ['PUT', `/api/v1/people/${ids.worker}/assignments`, { assignments: [{ communityId: 'tianlin', dutyFrom: '08:00' }] }, 'dutyFrom'],
      ['PUT', `/api/v1/people/${ids.worker}/assignments`, { assignments: [{ communityId: 'nowhere' }] }, 'nowhere'],
      ['PUT', `/api/v1/people/${ids.daughter}/assignments`, { assignments: [] }, 'not a community worker'],
      ['POST', '/api/v1/health-grants', { userId: ids.operator, residentId: 'r-none', hours: 1 }, 'residentId'],
    ];
    for (const [m, url, body, field] of cases) {
      const r = await call(m as 'POST', url, admin, body);
      expect(r.statusCode, `${url} ${JSON.stringify(body)}: ${r.body}`).toBe(400);
      expect(r.json().code).toBe('E_VALIDATION');
      expect(r.json().message).toContain(field);
    }
  });

  it('409 for a duplicate login, a duplicate community and a device already linked elsewhere', async () => {
    expect((await call('POST', '/api/v1/people', admin, { login: 'DAUGHTER', name: 'x', role: 'family' })).statusCode).toBe(409);
    expect((await call('POST', '/api/v1/communities', admin, { id: 'tianlin', name: 'x' })).statusCode).toBe(409);
    const dup = await call('PUT', '/api/v1/residents/r-wu/devices', admin, { deviceIds: ['fall-2', 'fall-1'] });
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toMatchObject({ code: 'E_DUPLICATE', message: expect.stringContaining('fall-1') });
    expect((await ok('GET', '/api/v1/residents/r-wu')).devices).toEqual([]);
    expect((await call('DELETE', '/api/v1/communities/tianlin', admin)).statusCode).toBe(409);
  });

  it('webhook secrets are issued by the server, shown once, kept unless rotated', async () => {
    const created = await ok('POST', '/api/v1/people', { login: 'hooked', name: 'H', role: 'callcentre', channels: [{ type: 'webhook', address: 'https://cc.example.org/hook' }, { type: 'app', address: '' }] }, 201);
    expect(created.webhookSecrets).toEqual([{ address: 'https://cc.example.org/hook', secret: expect.stringMatching(/^[A-Za-z0-9_-]{40,}$/) }]);
    const secret = created.webhookSecrets[0].secret as string;
    const id = created.person.id as string;
    const read = await call('GET', `/api/v1/people/${id}`, admin);
    expect(read.json().channels).toEqual([{ type: 'webhook', address: 'https://cc.example.org/hook', hasSecret: true }, { type: 'app', address: '', hasSecret: false }]);
    expect(read.body).not.toContain(secret);
    expect((await people.directory.person(id))?.channels[0]?.secret).toBe(secret);
    const same = await ok('PATCH', `/api/v1/people/${id}`, { channels: [{ type: 'webhook', address: 'https://cc.example.org/hook' }] });
    expect(same.webhookSecrets).toEqual([]);
    expect((await people.directory.person(id))?.channels[0]?.secret).toBe(secret);
    const rotated = await ok('PATCH', `/api/v1/people/${id}`, { channels: [{ type: 'webhook', address: 'https://cc.example.org/hook', rotateSecret: true }] });
    expect(rotated.webhookSecrets[0].secret).not.toBe(secret);
  });

  it('people CRUD: get, list by role, patch, delete, 404 after', async () => {
    const created = await ok('POST', '/api/v1/people', { login: 'temp.person', name: 'T', role: 'worker', locale: 'en', phone: '+86 138 0000 0000' }, 201);
    const id = created.person.id as string;
    expect(created.person).toMatchObject({ role: 'worker', locale: 'en', hasPassword: false, disabled: false, phone: '+86 138 0000 0000' });
    expect((await ok('GET', '/api/v1/people?role=worker')).items.map((p: { id: string }) => p.id)).toContain(id);
    expect((await ok('PATCH', `/api/v1/people/${id}`, { name: 'T2', phone: null })).person).toMatchObject({ name: 'T2', phone: null });
    expect((await call('DELETE', `/api/v1/people/${id}`, admin)).statusCode).toBe(204);
    expect((await call('GET', `/api/v1/people/${id}`, admin)).statusCode).toBe(404);
    expect((await call('PATCH', `/api/v1/people/${id}`, admin, { name: 'x' })).statusCode).toBe(404);
  });

  it('resident patch merges ladder and routine', async () => {
    const r = await ok('PATCH', '/api/v1/residents/r-wu', { ladder: { familyAckSec: 120 }, routine: { quietHours: { from: '22:00', to: '06:30' } }, notes: '独居' });
    expect(r).toMatchObject({ ladder: { familyAckSec: 120, workerAckSec: 300, cancelWindowSec: 30 }, routine: { quietHours: { from: '22:00', to: '06:30' }, wakeBy: null, inactivityHours: 24 }, notes: '独居' });
  });
});

describe('health data reads, audit, export and erase', () => {
  it('activity comes from the edge and is audited with the caller and purpose', async () => {
    edge.requests.length = 0;
    const r = await call('GET', '/api/v1/residents/r-zhang/activity?from=1000', { ...sessions.daughter!, 'x-yulan-purpose': '看看妈妈今天起床了没有' });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ residentId: 'r-zhang', devices: [{ deviceId: 'fall-1', points: [{ ts: 2000 }] }] });
    expect(edge.requests[0]).toMatchObject({ path: '/v1/telemetry', query: { deviceId: 'fall-1', from: '1000', resolution: 'raw' } });
    const audit = await ok('GET', `/api/v1/audit?residentId=r-zhang&actor=${ids.daughter}&limit=1`);
    expect(audit.items).toEqual([
      { id: expect.any(Number), at: expect.any(String), actor: ids.daughter, action: 'resident.activity', residentId: 'r-zhang', purpose: '看看妈妈今天起床了没有', detail: 'devices=1' },
    ]);
    // Without the header: the route's default purpose; an overlong one is capped.
    await call('GET', '/api/v1/residents/r-zhang/activity', sessions.worker!);
    expect((await ok('GET', `/api/v1/audit?actor=${ids.worker}`)).items[0].purpose).toBe('care: recent activity');
    await call('GET', '/api/v1/residents/r-zhang/activity', { ...sessions.worker!, 'x-yulan-purpose': 'p'.repeat(500) });
    expect((await ok('GET', `/api/v1/audit?actor=${ids.worker}`)).items[0].purpose).toHaveLength(200);
  });

  it('a failed read is not audited; bad time ranges are 400', async () => {
    const before = (await ok('GET', '/api/v1/audit?residentId=r-zhang')).items.length;
    expect((await call('GET', '/api/v1/residents/r-zhang/activity?from=yesterday', sessions.daughter!)).statusCode).toBe(400);
    edge.failTelemetry = { status: 400, message: 'bad range' };
    expect((await call('GET', '/api/v1/residents/r-zhang/activity', sessions.daughter!)).statusCode).toBe(400);
    edge.failTelemetry = undefined;
    expect((await ok('GET', '/api/v1/audit?residentId=r-zhang')).items.length).toBe(before);
  });

  it("every read of a resident's data names them in the audit log: lists, profile, family, device telemetry, events, latest values", async () => {
    type Row = { id: number; actor: string; action: string; residentId: string | null; purpose: string; detail: string | null };
    const since = ((await ok('GET', '/api/v1/audit?limit=1')).items as Row[])[0]?.id ?? 0;
    const rows = async (action: string): Promise<Row[]> =>
      ((await ok('GET', '/api/v1/audit?limit=1000')).items as Row[]).filter((a) => a.id > since && a.action === action);
    expect((await call('GET', '/api/v1/residents', sessions.daughter!)).statusCode).toBe(200);
    expect(await rows('residents.list')).toEqual([expect.objectContaining({ actor: ids.daughter, residentId: 'r-zhang', purpose: 'care' })]);
    await call('GET', '/api/v1/residents', admin);
    expect((await rows('residents.list')).filter((a) => a.actor === 'admin-token').map((a) => a.residentId).sort()).toEqual(['r-wu', 'r-zhang']);

    expect((await call('GET', '/api/v1/residents/r-wu', sessions.neighbour!)).statusCode).toBe(200);
    expect((await rows('resident.read'))[0]).toMatchObject({ actor: ids.neighbour, residentId: 'r-wu', detail: 'access=health' });

    // The call centre reads the family contacts while an alert of the resident is paged to it.
    paged.set(ids.callcentre!, ['r-zhang']);
    expect((await call('GET', '/api/v1/residents/r-zhang/family', sessions.callcentre!)).statusCode).toBe(200);
    paged.delete(ids.callcentre!);
    expect((await rows('resident.family.read'))[0]).toMatchObject({ actor: ids.callcentre, residentId: 'r-zhang' });

    // An operator (admin token) reads the fall sensor's telemetry and events: named is the
    // resident the device served in the range read, and nobody for a range before the link.
    const linked = `from=${clock - 3_600_000}&to=${clock + 3_600_000}`;
    expect((await call('GET', `/api/v1/devices/fall-1/telemetry?${linked}`, { ...admin, 'x-yulan-purpose': 'sensor check' })).statusCode).toBe(200);
    expect(await rows('device.telemetry')).toEqual([expect.objectContaining({ actor: 'admin-token', residentId: 'r-zhang', purpose: 'sensor check', detail: 'device=fall-1' })]);
    expect((await call('GET', '/api/v1/devices/fall-1/telemetry?from=0&to=1000', admin)).statusCode).toBe(200);
    expect((await call('GET', '/api/v1/devices/fall-2/telemetry', admin)).statusCode).toBe(200);
    expect((await rows('device.telemetry')).length).toBe(1);
    expect((await call('GET', `/api/v1/devices/fall-1/events?${linked}`, admin)).statusCode).toBe(200);
    expect(await rows('device.events')).toEqual([expect.objectContaining({ residentId: 'r-zhang', detail: 'device=fall-1' })]);
    // The registry's latest values (a fall sensor's presence and motion) count too.
    edge.latest['fall-1'] = { ts: clock - 1000, fields: { presence: 1, motion: 2 } };
    expect((await call('GET', '/api/v1/devices', admin)).statusCode).toBe(200);
    delete edge.latest['fall-1'];
    expect(await rows('device.latest')).toEqual([expect.objectContaining({ residentId: 'r-zhang', detail: 'device=fall-1' })]);
  });

  it('export: everything held, for admins and family, audited', async () => {
    const r = await call('GET', '/api/v1/residents/r-zhang/export', { ...sessions.daughter!, 'x-yulan-purpose': 'copy for the family' });
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json();
    expect(body).toMatchObject({
      resident: { id: 'r-zhang', name: '张阿姨', birthYear: 1938, routine: { wakeBy: '09:30' } },
      community: { id: 'tianlin', name: '田林街道' },
      devices: ['fall-1'],
      family: [{ userId: ids.daughter, relation: '女儿', position: 0, name: 'daughter' }],
      alerts: [{ id: 'al_1', type: 'fall' }],
      // the linked fall sensor's readings and events, read from the edge for the linked period
      deviceData: [{ deviceId: 'fall-1', telemetry: [{ seq: 1, fields: { power_w: 7200 } }], events: [{ type: 'fall' }], complete: true }],
    });
    expect(body.accessLog.some((a: { action: string }) => a.action === 'resident.activity')).toBe(true);
    expect((await ok('GET', '/api/v1/audit?residentId=r-zhang&limit=1')).items[0]).toMatchObject({ action: 'resident.export', actor: ids.daughter, purpose: 'copy for the family', detail: 'alerts=1 devicePoints=2' });
    expect((await call('GET', '/api/v1/residents/r-zhang/export', sessions.worker!)).statusCode).toBe(403);
  });

  it('erase with the edge failing erases nothing in the cloud and says so', async () => {
    edge.failErase = { status: 503, message: 'store unavailable' };
    const r = await call('DELETE', '/api/v1/residents/r-zhang', admin);
    edge.failErase = undefined;
    expect(r.statusCode).toBe(502);
    expect(r.json().message).toMatch(/erasure not done.*fall-1.*nothing was erased here/);
    expect(erasedAlerts).toEqual([]);
    expect((await call('GET', '/api/v1/residents/r-zhang', admin)).statusCode).toBe(200);
    expect(await people.directory.residentForDevice('fall-1')).toMatchObject({ id: 'r-zhang' });
  });

  it('erase removes the device data at the edge, the resident, links, device links and alert data; audit rows keep only the id', async () => {
    const linkedAt = Date.UTC(2025, 0, 15, 4, 0);
    edge.erased.length = 0;
    const r = await call('DELETE', '/api/v1/residents/r-zhang', admin);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toEqual({ residentId: 'r-zhang', erased: { alerts: 1, devices: 1, familyLinks: 1, devicePeriods: 1 } });
    expect(edge.erased).toEqual([{ deviceId: 'fall-1', from: linkedAt, to: clock }]);
    expect(erasedAlerts).toEqual(['r-zhang']);
    expect((await call('GET', '/api/v1/residents/r-zhang', admin)).statusCode).toBe(404);
    expect((await call('GET', '/api/v1/me', sessions.daughter!)).json().residents).toEqual([]);
    expect(await people.directory.residentForDevice('fall-1')).toBeNull();
    const rows = (await ok('GET', '/api/v1/audit?residentId=r-zhang&limit=1000')).items as { action: string; detail: string | null }[];
    expect(rows[0]).toMatchObject({ action: 'resident.erase', detail: 'alerts=1 devicePeriods=1' });
    expect(rows.slice(1).every((a) => a.detail === null)).toBe(true);
    // The device is free again.
    await ok('PUT', '/api/v1/residents/r-wu/devices', { deviceIds: ['fall-1'] });
    expect((await call('DELETE', '/api/v1/residents/r-zhang', admin)).statusCode).toBe(404);
  });
});

describe('internal care rules', () => {
  it('needs the edge token', async () => {
    for (const headers of [{}, admin, sessions.boss!, { authorization: 'Bearer wrong' }]) {
      expect((await call('GET', '/api/v1/internal/care-rules', headers)).statusCode).toBe(401);
    }
  });

  it('lists every linked device with its resident routine in Shanghai time', async () => {
    await ok('PUT', '/api/v1/residents/r-wu/devices', { deviceIds: ['fall-1', 'fall-3'] });
    const r = await call('GET', '/api/v1/internal/care-rules', { authorization: `Bearer ${EDGE}` });
    expect(r.statusCode).toBe(200);
    const routine = { wakeBy: null, quietHours: { from: '22:00', to: '06:30' }, inactivityHours: 24 };
    expect(r.json()).toEqual({
      timezone: 'Asia/Shanghai',
      utcOffsetMin: 480,
      devices: [
        { deviceId: 'fall-1', residentId: 'r-wu', heartbeatSec: 60, routine },
        { deviceId: 'fall-3', residentId: 'r-wu', heartbeatSec: 60, routine },
      ],
    });
    expect(r.body).not.toContain('吴伯伯');
  });
});

describe('OpenAPI', () => {
  it('documents the people routes from their schemas', async () => {
    const res = await app.inject({ url: '/openapi.json' });
    expect(res.statusCode, res.body.slice(0, 500)).toBe(200);
    const doc = res.json() as { paths: Record<string, Record<string, unknown>> };
    for (const path of ['/api/v1/auth/login', '/api/v1/me', '/api/v1/people/{id}', '/api/v1/residents/{id}/export', '/api/v1/residents/{id}/devices', '/api/v1/audit', '/api/v1/internal/care-rules']) {
      expect(doc.paths[path], path).toBeDefined();
    }
    expect(Object.keys(doc.paths['/api/v1/residents/{id}'] ?? {}).sort()).toEqual(['delete', 'get', 'patch']);
  });
});
