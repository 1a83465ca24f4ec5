import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_LADDER, type ResidentAlertData } from '../src/care/contracts.js';
import { openPeople, type PeopleModule } from '../src/care/people/index.js';
import { DEFAULT_ROUTINE } from '../src/care/people/records.js';
import { SESSION_IDLE_MS, sessionDigest } from '../src/care/people/user-store.js';
import { silentLogger, tempDir } from './helpers.js';

const tmp = tempDir('yulan-people-repo-');
afterAll(() => tmp.cleanup());

let clock = Date.UTC(2025, 0, 15, 4, 0); // 12:00 Shanghai
let n = 0;
let mod: PeopleModule;
beforeEach(async () => {
  mod = await openPeople({ db: { kind: 'sqlite', file: join(tmp.dir, `p${n++}.sqlite`) }, logger: silentLogger, now: () => clock });
  return () => mod.close();
});

async function user(id: string, role: 'family' | 'worker' | 'callcentre' | 'operator' | 'admin', extra: { disabled?: boolean } = {}) {
  const u = await mod.repo.users.create({ id, login: `${id}@example.org`, name: id, role, locale: 'en', passwordHash: null, channels: [{ type: 'app', address: '' }], phone: null });
  if (extra.disabled) await mod.repo.users.update(id, { disabled: true });
  return u;
}
async function resident(id: string, communityId = 'c1') {
  if (!await mod.repo.residents.community(communityId)) await mod.repo.residents.createCommunity(communityId, communityId);
  return await mod.repo.residents.create({ id, name: `name-${id}`, communityId, address: null, phone: null, birthYear: 1940, notes: null, ladder: DEFAULT_LADDER, routine: DEFAULT_ROUTINE });
}

describe('people repository', () => {
  it('creates the schema with WAL and a user_version, and reopens without migrating again', async () => {
    const file = join(tmp.dir, 'reopen.sqlite');
    const a = await openPeople({ db: { kind: 'sqlite', file }, logger: silentLogger });
    await a.repo.users.create({ id: 'u1', login: 'Li.Wei', name: '李伟', role: 'family', locale: 'zh-CN', passwordHash: null, channels: [], phone: null });
    await a.close();
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(2);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    const b = await openPeople({ db: { kind: 'sqlite', file }, logger: silentLogger });
    expect((await b.repo.users.get('u1'))?.name).toBe('李伟');
    await b.close();
  });

  it('logins are unique case-insensitively and found in any case', async () => {
    await user('u1', 'family');
    await expect(mod.repo.users.create({ id: 'u2', login: 'U1@EXAMPLE.ORG', name: 'x', role: 'family', locale: 'en', passwordHash: null, channels: [], phone: null }))
      .rejects.toThrow(expect.objectContaining({ code: 'E_DUPLICATE' }));
    expect((await mod.repo.users.forLogin('U1@Example.org'))?.user.id).toBe('u1');
    expect(await mod.repo.users.forLogin('nobody')).toBeUndefined();
  });

  it('sessions: stored as digests, slide on use, expire after 12 h idle, end on logout and on disable', async () => {
    await user('u1', 'family');
    const token = await mod.repo.users.createSession('u1');
    const raw = new Database(join(tmp.dir, `p${n - 1}.sqlite`), { readonly: true });
    const stored = raw.prepare('SELECT digest FROM sessions').all() as { digest: string }[];
    raw.close();
    expect(stored).toEqual([{ digest: sessionDigest(token) }]);
    expect(stored[0]?.digest).not.toBe(token);
    expect((await mod.repo.users.resolveSession(token))?.id).toBe('u1');
    clock += SESSION_IDLE_MS - 60_000; // used again just before expiry: slides
    expect((await mod.repo.users.resolveSession(token))?.id).toBe('u1');
    clock += SESSION_IDLE_MS - 60_000;
    expect((await mod.repo.users.resolveSession(token))?.id).toBe('u1');
    clock += SESSION_IDLE_MS + 1;
    expect(await mod.repo.users.resolveSession(token)).toBeUndefined();

    const t2 = await mod.repo.users.createSession('u1');
    expect(await mod.repo.users.deleteSession(t2)).toBe(true);
    expect(await mod.repo.users.resolveSession(t2)).toBeUndefined();

    const t3 = await mod.repo.users.createSession('u1');
    await mod.repo.users.update('u1', { disabled: true });
    expect(await mod.repo.users.resolveSession(t3)).toBeUndefined();
    expect(await mod.repo.users.resolveSession('not-a-token')).toBeUndefined();
  });

  it('residents need an existing community; a device belongs to one resident', async () => {
    await expect(mod.repo.residents.create({ id: 'r0', name: 'x', communityId: 'nope', address: null, phone: null, birthYear: null, notes: null, ladder: DEFAULT_LADDER, routine: DEFAULT_ROUTINE }))
      .rejects.toThrow(expect.objectContaining({ code: 'E_VALIDATION' }));
    await resident('r1');
    await resident('r2');
    expect(await mod.repo.residents.setDevices('r1', ['fall-1', 'fall-2'])).toEqual(['fall-1', 'fall-2']);
    await expect(mod.repo.residents.setDevices('r2', ['fall-2'])).rejects.toThrow(expect.objectContaining({ code: 'E_DUPLICATE' }));
    expect(await mod.repo.residents.devicesOf('r2')).toEqual([]);
    expect(await mod.repo.residents.setDevices('r1', ['fall-2'])).toEqual(['fall-2']);
    expect(await mod.repo.residents.ownerOfDevice('fall-1')).toBeUndefined();
    await expect(mod.repo.residents.removeCommunity('c1')).rejects.toThrow(expect.objectContaining({ code: 'E_DUPLICATE' }));
  });

  it('erase removes the resident, links and grants and strips audit details', async () => {
    await user('f1', 'family');
    await user('op', 'operator');
    await resident('r1');
    await mod.repo.residents.setDevices('r1', ['fall-1']);
    await mod.repo.residents.setFamily('r1', [{ userId: 'f1', relation: 'daughter' }]);
    await mod.repo.staff.grant({ userId: 'op', residentId: 'r1', grantedBy: 'admin-token', expiresAt: clock + 1000 });
    await mod.audit.record({ actor: 'f1', action: 'resident.activity', residentId: 'r1', purpose: 'check', detail: 'name-r1' });
    expect(await mod.repo.residents.erase('r1')).toEqual({ devices: 1, familyLinks: 1 });
    expect(await mod.repo.residents.get('r1')).toBeUndefined();
    expect(await mod.repo.residents.ownerOfDevice('fall-1')).toBeUndefined();
    expect(await mod.repo.residents.linkedResidents('f1')).toEqual([]);
    expect(await mod.repo.staff.grantsOf('op')).toEqual([]);
    expect(await mod.audit.query({ residentId: 'r1', limit: 10 })).toMatchObject([{ actor: 'f1', residentId: 'r1', purpose: 'check', detail: null }]);
    expect(await mod.repo.residents.erase('r1')).toBeUndefined();
  });

  it('audit: newest first, filtered by resident and actor, purpose capped at 200 characters', async () => {
    for (let i = 0; i < 5; i++) await mod.audit.record({ actor: i % 2 ? 'a' : 'b', action: 'x', residentId: `r${i % 2}`, purpose: 'p'.repeat(300) });
    const all = await mod.audit.query({ limit: 10 });
    expect(all.map((a) => a.id)).toEqual([5, 4, 3, 2, 1]);
    expect(all[0]?.purpose.length).toBe(200);
    expect((await mod.audit.query({ actor: 'a', limit: 10 })).map((a) => a.id)).toEqual([4, 2]);
    expect((await mod.audit.query({ residentId: 'r0', limit: 2 })).map((a) => a.id)).toEqual([5, 3]);
    expect((await mod.audit.query({ limit: 10, beforeId: 3 })).map((a) => a.id)).toEqual([2, 1]);
  });

  it('deleting a person removes their sessions, family links, assignments and grants', async () => {
    await user('w1', 'worker');
    await resident('r1');
    await mod.repo.staff.setAssignments('w1', [{ communityId: 'c1', onDuty: true, dutyFrom: null, dutyTo: null }]);
    const t = await mod.repo.users.createSession('w1');
    expect(await mod.repo.users.remove('w1')).toBe(true);
    expect(await mod.repo.users.resolveSession(t)).toBeUndefined();
    expect(await mod.repo.staff.assignmentsIn('c1')).toEqual([]);
    expect(await mod.repo.users.remove('w1')).toBe(false);
  });
});

describe('CareDirectory', () => {
  it('ladderPlan: family in order, workers on duty now, then the call centre', async () => {
    await user('f1', 'family');
    await user('f2', 'family');
    await user('f3', 'family', { disabled: true });
    await user('w-day', 'worker');
    await user('w-night', 'worker');
    await user('w-off', 'worker');
    await user('cc1', 'callcentre');
    await user('cc2', 'callcentre', { disabled: true });
    await resident('r1');
    await mod.repo.residents.update('r1', { ladder: { ...DEFAULT_LADDER, familyAckSec: 120 } });
    await mod.repo.residents.setFamily('r1', [
      { userId: 'f2', relation: 'son' },
      { userId: 'f3', relation: null },
      { userId: 'f1', relation: 'daughter' },
    ]);
    await mod.repo.staff.setAssignments('w-day', [{ communityId: 'c1', onDuty: true, dutyFrom: '08:00', dutyTo: '20:00' }]);
    await mod.repo.staff.setAssignments('w-night', [{ communityId: 'c1', onDuty: true, dutyFrom: '20:00', dutyTo: '08:00' }]);
    await mod.repo.staff.setAssignments('w-off', [{ communityId: 'c1', onDuty: false, dutyFrom: null, dutyTo: null }]);

    const noon = Date.UTC(2025, 0, 15, 4, 0);
    const plan = await mod.directory.ladderPlan('r1', noon);
    expect(plan.residentName).toBe('name-r1');
    expect(plan.config.familyAckSec).toBe(120);
    expect(plan.steps.map((s) => [s.kind, s.recipients.map((r) => r.userId), s.ackSec])).toEqual([
      ['family', ['f2'], 120],
      ['family', ['f1'], 120],
      ['worker', ['w-day'], DEFAULT_LADDER.workerAckSec],
      ['callcentre', ['cc1'], null],
    ]);
    const night = await mod.directory.ladderPlan('r1', Date.UTC(2025, 0, 15, 15, 0)); // 23:00 Shanghai
    expect(night.steps.find((s) => s.kind === 'worker')?.recipients.map((r) => r.userId)).toEqual(['w-night']);
    expect(plan.steps[0]?.recipients[0]).toEqual({ userId: 'f2', name: 'f2', role: 'family', locale: 'en', channels: [{ type: 'app', address: '' }] });
  });

  it('ladderPlan: an unassigned device pages only the call centre; empty steps are skipped but the call centre stays', async () => {
    const none = await mod.directory.ladderPlan(null, clock);
    expect(none).toMatchObject({ residentId: null, residentName: null, config: DEFAULT_LADDER });
    expect(none.steps).toEqual([{ kind: 'callcentre', recipients: [], ackSec: null }]);
    await resident('r1');
    const bare = await mod.directory.ladderPlan('r1', clock);
    expect(bare.steps.map((s) => s.kind)).toEqual(['callcentre']);
  });

  it('residentForDevice, person, canAccess and visibleResidents', async () => {
    await user('f1', 'family');
    await user('w1', 'worker');
    await user('cc', 'callcentre');
    await user('op', 'operator');
    await user('gone', 'family', { disabled: true });
    await resident('r1', 'c1');
    await resident('r2', 'c2');
    await mod.repo.residents.setDevices('r1', ['fall-1']);
    await mod.repo.residents.setFamily('r1', [{ userId: 'f1', relation: null }]);
    await mod.repo.staff.setAssignments('w1', [{ communityId: 'c2', onDuty: false, dutyFrom: null, dutyTo: null }]);
    expect(await mod.directory.residentForDevice('fall-1')).toEqual({ id: 'r1', name: 'name-r1', communityId: 'c1' });
    expect(await mod.directory.residentForDevice('fall-9')).toBeNull();
    expect(await mod.directory.person('f1')).toMatchObject({ userId: 'f1', role: 'family' });
    expect(await mod.directory.person('gone')).toBeNull();
    expect(await mod.directory.person('nobody')).toBeNull();

    const p = (userId: string, role: 'family' | 'worker' | 'callcentre' | 'operator') => ({ kind: 'person' as const, userId, role, name: userId, locale: 'en' as const });
    expect(await mod.directory.canAccess(p('f1', 'family'), 'r1', 'health')).toBe(true);
    expect(await mod.directory.canAccess(p('f1', 'family'), 'r2', 'profile')).toBe(false);
    expect(await mod.directory.canAccess(p('f1', 'family'), 'missing', 'profile')).toBe(false);
    expect(await mod.directory.visibleResidents(p('f1', 'family'))).toEqual(['r1']);
    expect(await mod.directory.visibleResidents(p('w1', 'worker'))).toEqual(['r2']);
    expect(await mod.directory.visibleResidents({ kind: 'admin-token' })).toBe('all');

    // The call centre sees what the alert side says is paged to them.
    expect(await mod.directory.visibleResidents(p('cc', 'callcentre'))).toEqual([]);
    const alerts: ResidentAlertData = { exportResident: async () => [], eraseResident: async () => 0, residentsPagedTo: async (u) => (u === 'cc' ? ['r2', 'erased'] : []) };
    mod.setAlertData(alerts);
    expect(await mod.directory.visibleResidents(p('cc', 'callcentre'))).toEqual(['r2']);
    expect(await mod.directory.canAccess(p('cc', 'callcentre'), 'r2', 'health')).toBe(true);

    expect(await mod.directory.canAccess(p('op', 'operator'), 'r1', 'profile')).toBe(true);
    expect(await mod.directory.canAccess(p('op', 'operator'), 'r1', 'health')).toBe(false);
    expect(await mod.directory.visibleResidents(p('op', 'operator'))).toEqual([]);
    await mod.repo.staff.grant({ userId: 'op', residentId: 'r1', grantedBy: 'admin-token', expiresAt: clock + 60_000 });
    expect(await mod.directory.visibleResidents(p('op', 'operator'))).toEqual(['r1']);
    clock += 60_000;
    expect(await mod.directory.canAccess(p('op', 'operator'), 'r1', 'health')).toBe(false);
    await mod.repo.staff.grant({ userId: 'op', residentId: '*', grantedBy: 'admin-token', expiresAt: clock + 60_000 });
    expect(await mod.directory.visibleResidents(p('op', 'operator'))).toBe('all');
  });
});
