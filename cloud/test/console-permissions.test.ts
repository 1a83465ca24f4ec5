import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { can, permissionFor, ROLE_PERMISSIONS } from '../src/console/permissions.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, type EdgeStub, type TestBroker } from './helpers.js';

/** People on the device API (issue 15): a real cloud (broker, SQLite, people module) over
 * HTTP, signed in with the session cookie as the console does. */
const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const PASSWORD = 'a long enough password';
const tmp = tempDir('yulan-console-perms-');
let broker: TestBroker; let edge: EdgeStub; let cloud: CloudHandle;
const cookies: Record<string, string> = {};
const ids: Record<string, string> = {};

async function call(method: string, path: string, who: string | null, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (who === 'token') headers.authorization = `Bearer ${ADMIN}`;
  else if (who !== null) headers.cookie = cookies[who]!;
  return fetch(cloud.url + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
}
async function ok<T = Record<string, unknown>>(method: string, path: string, who: string | null, body?: unknown, status = 200): Promise<T> {
  const r = await call(method, path, who, body);
  const text = await r.text();
  expect(r.status, `${method} ${path} as ${who}: ${text}`).toBe(status);
  return (text ? JSON.parse(text) : undefined) as T;
}

beforeAll(async () => {
  broker = await startBroker({ cloud: 'cloud-pw' });
  edge = await startEdgeStub();
  cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, 'cloud-pw', { YULAN_ADMIN_TOKEN: ADMIN })), silentLogger, { dashboardDir: null });
  for (const role of ['admin', 'operator', 'family', 'worker']) {
    const p = await ok<{ person: { id: string } }>('POST', '/api/v1/people', 'token', { login: `p-${role}`, name: role, role, password: PASSWORD }, 201);
    ids[role] = p.person.id;
    const login = await fetch(`${cloud.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: `p-${role}`, password: PASSWORD }) });
    expect(login.status).toBe(200);
    cookies[role] = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  }
  await ok('POST', '/api/v1/devices', 'token', { id: 'ch-1', site: 'xuhui', kind: 'ev-charger' }, 201);
  await ok('POST', '/api/v1/devices', 'token', { id: 'fall-1', site: 'xuhui', kind: 'fall-sensor' }, 201);
  const ts = Date.now();
  edge.latest['fall-1'] = { ts, fields: { heart_rate_bpm: 71, breathing_rate_bpm: 15, presence: 1, motion: 2, battery_pct: 80, fall: 0 } };
  edge.latest['ch-1'] = { ts, fields: { power_w: 7200 } };
});
afterAll(async () => {
  await cloud?.close(); await edge?.close(); await broker?.close();
  tmp.cleanup();
});

describe('the permission table', () => {
  it('gives operators view, command, twin, firmware, broker and complaints, admins everything, care roles nothing', () => {
    const person = (role: keyof typeof ROLE_PERMISSIONS) => ({ kind: 'person' as const, userId: 'u', role, name: 'x', locale: 'en' as const });
    expect(ROLE_PERMISSIONS.operator).toEqual(['view', 'command', 'twin', 'firmware', 'broker', 'complaints']);
    expect(permissionFor('GET', '/api/v1/complaints/:id')).toBe('complaints');
    expect(can(person('operator'), 'registry')).toBe(false);
    expect(can(person('admin'), 'people')).toBe(true);
    expect(can({ kind: 'admin-token' }, 'registry')).toBe(true);
    for (const role of ['family', 'worker', 'callcentre'] as const) expect(can(person(role), 'view')).toBe(false);
    // An unlisted write needs the strictest permission, so a new route is admin-only until listed.
    expect(permissionFor('DELETE', '/api/v1/devices/:id')).toBe('registry');
    expect(permissionFor('GET', '/api/v1/anything')).toBe('view');
    expect(permissionFor('POST', '/api/v1/campaigns/:id/pause')).toBe('firmware');
  });
});

describe('people on the device API', () => {
  it('an operator reads the fleet with the session cookie; care roles get 403; nobody gets 401', async () => {
    const list = await ok<{ total: number }>('GET', '/api/v1/devices', 'operator');
    expect(list.total).toBe(2);
    expect((await call('GET', '/api/v1/devices', 'family')).status).toBe(403);
    expect((await call('GET', '/api/v1/devices/ch-1/twin', 'worker')).status).toBe(403);
    expect((await call('GET', '/api/v1/devices', null)).status).toBe(401);
    const forged = await fetch(`${cloud.url}/api/v1/devices`, { headers: { cookie: 'yulan_session=not-a-session-token-at-all' } });
    expect(forged.status).toBe(401);
    // The admin token keeps working for automation.
    expect((await call('GET', '/api/v1/devices', 'token')).status).toBe(200);
  });

  it('only admins change the registry; an operator is refused and nothing is created', async () => {
    const refused = await call('POST', '/api/v1/devices', 'operator', { id: 'ch-9', site: 'xuhui', kind: 'ev-charger' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { code: string }).code).toBe('E_FORBIDDEN');
    expect((await call('GET', '/api/v1/devices/ch-9', 'token')).status).toBe(404);
    expect((await call('POST', '/api/v1/devices/ch-1/disable', 'operator')).status).toBe(403);
    await ok('POST', '/api/v1/devices', 'admin', { id: 'ch-9', site: 'xuhui', kind: 'ev-charger' }, 201);
    await ok('POST', '/api/v1/devices/ch-9/disable', 'admin');
    await ok('POST', '/api/v1/devices/ch-9/enable', 'admin');
  });

  it('rotates a device secret (admins only): the new one works, the old one no longer does', async () => {
    const deviceAuth = async (secret: string) => (await fetch(`${cloud.url}/api/v1/internal/device-auth`, {
      method: 'POST', headers: { authorization: 'Bearer broker-token', 'content-type': 'application/json' }, body: JSON.stringify({ deviceId: 'ch-r', secret }),
    })).status;
    const reg = await ok<{ secret: string }>('POST', '/api/v1/devices', 'token', { id: 'ch-r', site: 'xuhui', kind: 'ev-charger' }, 201);
    expect(await deviceAuth(reg.secret)).toBe(200);
    expect((await call('POST', '/api/v1/devices/ch-r/rotate-secret', 'operator')).status).toBe(403);
    expect(await deviceAuth(reg.secret)).toBe(200);
    const rotated = await ok<{ secret: string; device: { id: string } }>('POST', '/api/v1/devices/ch-r/rotate-secret', 'admin');
    expect(rotated.device.id).toBe('ch-r');
    expect(rotated.secret).not.toBe(reg.secret);
    expect(await deviceAuth(rotated.secret)).toBe(200);
    expect(await deviceAuth(reg.secret)).toBe(401);
    expect((await call('POST', '/api/v1/devices/nope/rotate-secret', 'admin')).status).toBe(404);
  });

  it('a command and a twin change record the person who made them', async () => {
    const cmd = await ok<{ id: string; requestedBy: string }>('POST', '/api/v1/devices/ch-1/commands', 'operator', { name: 'reboot' }, 201);
    expect(cmd.requestedBy).toBe(ids.operator);
    expect((await ok<{ requestedBy: string }>('GET', `/api/v1/commands/${cmd.id}`, 'token')).requestedBy).toBe(ids.operator);
    const byToken = await ok<{ requestedBy: string }>('POST', '/api/v1/devices/ch-1/commands', 'token', { name: 'reboot' }, 201);
    expect(byToken.requestedBy).toBe('admin-token');
    const twin = await ok<{ desired: { version: number; updatedBy: string } }>('PUT', '/api/v1/devices/ch-1/twin/desired', 'operator', { settings: { current_limit_a: 16 } });
    expect(twin.desired).toMatchObject({ version: 1, updatedBy: ids.operator });
    expect((await call('POST', '/api/v1/devices/ch-1/commands', 'family', { name: 'reboot' })).status).toBe(403);
    // A site's power cap (docs/ocpp.md §4.1) is an operator's setting, audited by person.
    expect((await call('PUT', '/api/v1/sites/xuhui/power-cap', 'family', { capW: 22_000 })).status).toBe(403);
    expect((await call('GET', '/api/v1/sites/xuhui/power-cap', 'worker')).status).toBe(403);
    expect((await ok<{ updatedBy: string }>('PUT', '/api/v1/sites/xuhui/power-cap', 'operator', { capW: 22_000 })).updatedBy).toBe(ids.operator);
    // removing it is the operator's too; care roles may not
    expect((await call('DELETE', '/api/v1/sites/xuhui/power-cap', 'family')).status).toBe(403);
    expect((await ok<{ site: string }>('DELETE', '/api/v1/sites/xuhui/power-cap', 'operator')).site).toBe('xuhui');
    const audit = await ok<{ items: { actor: string; action: string }[] }>('GET', '/api/v1/sites/xuhui/power-cap/audit', 'admin');
    expect(audit.items.map((i) => [i.action, i.actor])).toEqual([['clear', ids.operator], ['set', ids.operator]]);
  });
});

describe('device history and complaints for people', () => {
  it('an operator reads a presence timeline and firmware history; bad ranges are 400, unknown devices 404, care roles 403', async () => {
    const t = Date.now();
    edge.presence = { 'ch-1': [
      { ts: t - 7_200_000, online: true, reason: 'birth', firmware: '1.0.0' },
      { ts: t - 1_800_000, online: false, reason: 'will', firmware: '' },
      { ts: t - 600_000, online: true, reason: 'birth', firmware: '1.1.0' },
    ] };
    const tl = await ok<{ intervals: { state: string }[]; totals: Record<string, number>; changes: number }>('GET', `/api/v1/devices/ch-1/presence?from=${t - 3_600_000}&to=${t}`, 'operator');
    expect(tl.intervals.map((i) => i.state)).toEqual(['online', 'offline', 'online']);
    expect(tl.totals).toEqual({ online: 2_400_000, offline: 1_200_000, unknown: 0 });
    expect(tl.changes).toBe(2);
    const fw = await ok<{ versions: { version: string }[]; edgeAvailable: boolean }>('GET', '/api/v1/devices/ch-1/firmware-history', 'operator');
    expect(fw.versions.map((v) => v.version)).toEqual(['1.0.0', '1.1.0']);
    expect(fw.edgeAvailable).toBe(true);
    expect((await call('GET', `/api/v1/devices/ch-1/presence?from=${t}&to=${t - 1}`, 'operator')).status).toBe(400);
    expect((await call('GET', `/api/v1/devices/ch-1/presence?from=0&to=${t}`, 'operator')).status).toBe(400);
    expect((await call('GET', '/api/v1/devices/nope/presence', 'operator')).status).toBe(404);
    expect((await call('GET', '/api/v1/devices/ch-1/presence', 'family')).status).toBe(403);
  });

  it('complaints: operators may read them, care roles may not, nobody signed out', async () => {
    expect((await call('GET', '/api/v1/complaints', 'operator')).status).toBe(200);
    expect((await call('GET', '/api/v1/complaints', 'worker')).status).toBe(403);
    expect((await call('GET', '/api/v1/complaints', null)).status).toBe(401);
  });
});

describe("residents' health data", () => {
  const fallValues = async (who: string) => (await ok<{ lastValues: { fields: Record<string, number>; redacted?: string[] } }>('GET', '/api/v1/devices/fall-1', who)).lastValues;

  it('is left out for an operator without a grant, named in `redacted`; other fields and devices are not', async () => {
    const v = await fallValues('operator');
    expect(v.fields).toEqual({ battery_pct: 80, fall: 0 });
    expect(v.redacted?.sort()).toEqual(['breathing_rate_bpm', 'heart_rate_bpm', 'motion', 'presence']);
    const list = await ok<{ items: { id: string; lastValues: { fields: Record<string, number>; redacted?: string[] } }[] }>('GET', '/api/v1/devices', 'operator');
    expect(list.items.find((d) => d.id === 'fall-1')?.lastValues.fields.heart_rate_bpm).toBeUndefined();
    expect(list.items.find((d) => d.id === 'ch-1')?.lastValues).toMatchObject({ fields: { power_w: 7200 } });
    expect(list.items.find((d) => d.id === 'ch-1')?.lastValues.redacted).toBeUndefined();
    const history = await ok<{ points: { fields: Record<string, unknown> }[] }>('GET', '/api/v1/devices/fall-1/telemetry', 'operator');
    expect(history.points.length).toBeGreaterThan(0);
    expect((await fallValues('admin')).fields.heart_rate_bpm).toBe(71);
    expect((await fallValues('token')).redacted).toBeUndefined();
  });

  it("is shown once the operator holds a grant for the device's resident, and the read is audited with their id", async () => {
    await ok('POST', '/api/v1/communities', 'token', { id: 'tianlin', name: '田林街道' }, 201);
    await ok('POST', '/api/v1/residents', 'token', { id: 'r-zhang', name: '张阿姨', communityId: 'tianlin' }, 201);
    await ok('PUT', '/api/v1/residents/r-zhang/devices', 'token', { deviceIds: ['fall-1'] });
    // Linked but not granted: still hidden.
    expect((await fallValues('operator')).fields.heart_rate_bpm).toBeUndefined();
    await ok('POST', '/api/v1/health-grants', 'token', { userId: ids.operator, residentId: 'r-zhang', hours: 1 }, 201);
    // A reading taken while the sensor serves her (reads are audited by the data's time).
    edge.latest['fall-1'] = { ...edge.latest['fall-1']!, ts: Date.now() + 1 };
    const v = await fallValues('operator');
    expect(v.fields).toMatchObject({ heart_rate_bpm: 71, breathing_rate_bpm: 15, presence: 1 });
    expect(v.redacted).toBeUndefined();
    const audit = await ok<{ items: { actor: string; action: string; residentId: string }[] }>('GET', `/api/v1/audit?residentId=r-zhang&actor=${ids.operator}`, 'token');
    expect(audit.items.some((a) => a.action === 'device.latest' && a.residentId === 'r-zhang')).toBe(true);
    expect(audit.items.every((a) => a.actor === ids.operator)).toBe(true);
  });
});
