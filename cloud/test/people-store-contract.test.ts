import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_LADDER } from '../src/care/contracts.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { PgPeopleRepository } from '../src/care/people/pg-people-repository.js';
import { DEFAULT_ROUTINE } from '../src/care/people/records.js';
import { SqlitePeopleRepository, type PeopleRepository } from '../src/care/people/repository.js';
import { SESSION_IDLE_MS, sessionDigest } from '../src/care/people/user-store.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';
import { tempDir } from './helpers.js';

const pgs = usePostgres();
const tmp = tempDir('people-contract-');
const open: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const o of open.reverse()) await o.close();
  tmp.cleanup();
});

let clock = Date.UTC(2026, 5, 1);
const now = (): number => clock;
let n = 0;

/** Two clouds on one store: on SQLite two connections to one file, on PostgreSQL two pools on one database. */
type Factory = () => Promise<{ a: PeopleRepository; b: PeopleRepository }>;
const keep = <T extends { close(): Promise<void> }>(x: T): T => (open.push(x), x);
const impls: [string, Factory][] = [['sqlite', async () => {
  const file = path.join(tmp.dir, `people-${n++}.sqlite`);
  return { a: keep(new SqlitePeopleRepository({ file, now })), b: keep(new SqlitePeopleRepository({ file, now })) };
}]];
if (!pgs.skip) {
  impls.push(['postgres', async () => {
    const db = await pgs.fresh();
    const other: PostgresDatabase = keep(secondCloud(db));
    return { a: await PgPeopleRepository.open(db, now), b: await PgPeopleRepository.open(other, now) };
  }]);
}

const newUser = (id: string, role: 'family' | 'worker' | 'callcentre' | 'operator' | 'admin' = 'family', login = `${id}@example.org`) => ({
  id, login, name: id, role, locale: 'en' as const, passwordHash: 'argon2-hash', channels: [{ type: 'app' as const, address: '' }], phone: null,
});
const newResident = (id: string, communityId = 'c1') => ({
  id, name: `name-${id}`, communityId, address: null, phone: null, birthYear: 1940, notes: 'diabetic', ladder: DEFAULT_LADDER, routine: DEFAULT_ROUTINE,
});
const code = (c: string) => expect.objectContaining({ code: c });

describe.each(impls)('people store contract (%s)', (_name, factory) => {
  it('logins are unique ignoring case; a person is found by any case; lists count by role', async () => {
    const { a: r } = await factory();
    const u = await r.users.create(newUser('u1'));
    expect(u).toMatchObject({ id: 'u1', hasPassword: true, disabled: false, channels: [{ type: 'app', address: '' }] });
    expect(u).not.toHaveProperty('passwordHash');
    await expect(r.users.create(newUser('u2', 'family', 'U1@EXAMPLE.ORG'))).rejects.toThrow(code('E_DUPLICATE'));
    await expect(r.users.create(newUser('u1', 'family', 'other@example.org'))).rejects.toThrow(code('E_DUPLICATE'));
    expect((await r.users.forLogin('U1@Example.org'))).toMatchObject({ user: { id: 'u1' }, passwordHash: 'argon2-hash' });
    expect(await r.users.forLogin('nobody')).toBeUndefined();
    await r.users.create(newUser('w1', 'worker'));
    await r.users.create(newUser('w2', 'worker'));
    await r.users.update('w2', { disabled: true });
    expect(await r.users.list({ role: 'worker', limit: 1, offset: 0 })).toMatchObject({ total: 2, items: [{ id: 'w1' }] });
    expect((await r.users.list({ limit: 10, offset: 0 })).total).toBe(3);
    expect((await r.users.activeWithRole('worker')).map((x) => x.id)).toEqual(['w1']);
    expect(await r.users.update('nobody', { name: 'x' })).toBeUndefined();
  });

  it('sessions: kept as digests, slide on use, expire after 12 h idle, end on logout, on a new password and when disabled', async () => {
    const { a: r } = await factory();
    await r.users.create(newUser('u1'));
    const token = await r.users.createSession('u1');
    expect(await r.users.liveSessionUser(token)).toBeUndefined();
    expect(await r.users.liveSessionUser(sessionDigest(token))).toBe('u1');
    expect((await r.users.resolveSession(token))?.id).toBe('u1');
    clock += SESSION_IDLE_MS - 1000;
    expect((await r.users.resolveSession(token))?.id).toBe('u1');
    clock += SESSION_IDLE_MS - 1000;
    expect((await r.users.resolveSession(token))?.id).toBe('u1');
    clock += SESSION_IDLE_MS + 1;
    expect(await r.users.resolveSession(token)).toBeUndefined();
    const t2 = await r.users.createSession('u1');
    expect(await r.users.deleteSession(t2)).toBe(true);
    expect(await r.users.deleteSession(t2)).toBe(false);
    expect(await r.users.resolveSession(t2)).toBeUndefined();
    const ended: string[] = [];
    r.users.onSessionEnded((e) => ended.push(e.reason));
    const t3 = await r.users.createSession('u1');
    await r.users.update('u1', { passwordHash: 'new-hash' });
    expect(await r.users.resolveSession(t3)).toBeUndefined();
    const t4 = await r.users.createSession('u1');
    await r.users.update('u1', { disabled: true });
    expect(await r.users.resolveSession(t4)).toBeUndefined();
    expect(ended).toEqual(['credentials-changed', 'disabled']);
  });

  it('residents need an existing community; a device belongs to one resident; link periods; family order', async () => {
    const { a: r } = await factory();
    await expect(r.residents.create(newResident('r0', 'nope'))).rejects.toThrow(code('E_VALIDATION'));
    await r.residents.createCommunity('c1', 'One');
    await expect(r.residents.createCommunity('c1', 'Again')).rejects.toThrow(code('E_DUPLICATE'));
    expect(await r.residents.create(newResident('r1'))).toMatchObject({ id: 'r1', ladder: DEFAULT_LADDER, routine: DEFAULT_ROUTINE, notes: 'diabetic' });
    await r.residents.create(newResident('r2'));
    await expect(r.residents.update('r1', { communityId: 'nope' })).rejects.toThrow(code('E_VALIDATION'));
    expect((await r.residents.update('r1', { notes: null, name: 'Ana' }))).toMatchObject({ name: 'Ana', notes: null });
    const t0 = clock;
    expect(await r.residents.setDevices('r1', ['fall-2', 'fall-1'])).toEqual(['fall-1', 'fall-2']);
    await expect(r.residents.setDevices('r2', ['fall-2'])).rejects.toThrow(code('E_DUPLICATE'));
    expect(await r.residents.ownerOfDevice('fall-2')).toBe('r1');
    clock += 1000;
    await r.residents.setDevices('r1', ['fall-1']);
    await r.residents.setDevices('r2', ['fall-2']);
    expect(await r.residents.residentsOfDevice('fall-2', t0, clock + 1)).toEqual(['r1', 'r2']);
    expect((await r.residents.linkPeriods('r1', clock + 5)).map((p) => [p.deviceId, p.toMs - p.fromMs])).toEqual([['fall-1', 1005], ['fall-2', 1000]]);
    expect(await r.residents.allDeviceLinks()).toEqual([{ deviceId: 'fall-1', residentId: 'r1' }, { deviceId: 'fall-2', residentId: 'r2' }]);
    await expect(r.residents.removeCommunity('c1')).rejects.toThrow(code('E_DUPLICATE'));
    await r.users.create(newUser('f1'));
    await r.users.create(newUser('f2'));
    await r.residents.setFamily('r1', [{ userId: 'f2', relation: 'son' }, { userId: 'f1', relation: null }]);
    expect((await r.residents.family('r1')).map((l) => [l.userId, l.position, l.relation])).toEqual([['f2', 0, 'son'], ['f1', 1, null]]);
    expect(await r.residents.linkedResidents('f1')).toEqual(['r1']);
  });

  it('staff: assignments need existing communities, duty on and off, grants; removing a person removes their links', async () => {
    const { a: r } = await factory();
    await r.residents.createCommunity('c1', 'One');
    await r.residents.create(newResident('r1'));
    await r.users.create(newUser('w1', 'worker'));
    await expect(r.staff.setAssignments('w1', [{ communityId: 'nope', onDuty: false, dutyFrom: null, dutyTo: null }])).rejects.toThrow(code('E_VALIDATION'));
    expect(await r.staff.setAssignments('w1', [{ communityId: 'c1', onDuty: false, dutyFrom: '08:00', dutyTo: '20:00' }]))
      .toEqual([{ userId: 'w1', communityId: 'c1', onDuty: false, dutyFrom: '08:00', dutyTo: '20:00' }]);
    expect(await r.staff.setOnDuty('w1', true)).toBe(1);
    expect(await r.staff.setOnDuty('w1', false, 'elsewhere')).toBe(0);
    expect((await r.staff.assignmentsIn('c1'))[0]?.onDuty).toBe(true);
    expect(await r.residents.residentsInCommunitiesOf('w1')).toEqual(['r1']);
    await r.users.create(newUser('op', 'operator'));
    const g = await r.staff.grant({ userId: 'op', residentId: 'r1', grantedBy: 'admin', expiresAt: clock + 1000 });
    expect(await r.staff.grantsOf('op')).toEqual([g]);
    expect(await r.users.remove('w1')).toBe(true);
    expect(await r.users.remove('w1')).toBe(false);
    expect(await r.staff.assignmentsIn('c1')).toEqual([]);
    await r.users.remove('op');
    expect(await r.staff.grants()).toEqual([]);
  });

  it('audit: newest first, filtered, purpose capped; several rows at once; pruning the oldest', async () => {
    const { a: r } = await factory();
    await r.audit.record({ actor: 'u1', action: 'resident.read', residentId: 'r1', purpose: 'p'.repeat(300) });
    await r.audit.recordMany([
      { actor: 'u2', action: 'resident.read', residentId: 'r2', purpose: 'care', detail: 'x' },
      { actor: 'u1', action: 'resident.read', residentId: 'r2', purpose: 'care' },
    ]);
    const all = await r.audit.query({ limit: 10 });
    expect(all.map((e) => [e.actor, e.residentId])).toEqual([['u1', 'r2'], ['u2', 'r2'], ['u1', 'r1']]);
    expect(all[2]?.purpose).toHaveLength(200);
    expect((await r.audit.query({ residentId: 'r2', limit: 10 })).map((e) => e.actor)).toEqual(['u1', 'u2']);
    expect((await r.audit.query({ actor: 'u1', limit: 10, beforeId: all[0]!.id })).map((e) => e.residentId)).toEqual(['r1']);
    clock += 10_000;
    await r.audit.record({ actor: 'u3', action: 'x', residentId: null, purpose: 'later' });
    expect(await r.audit.pruneOldest(clock - 5000, 2)).toBe(2);
    expect(await r.audit.pruneOldest(clock - 5000, 2)).toBe(1);
    expect(await r.audit.pruneOldest(clock - 5000, 2)).toBe(0);
    expect((await r.audit.query({ limit: 10 })).map((e) => e.actor)).toEqual(['u3']);
  });

  it('erasing a resident removes them with devices, family links and grants and strips audit details', async () => {
    const { a: r } = await factory();
    await r.residents.createCommunity('c1', 'One');
    await r.residents.create(newResident('r1'));
    await r.users.create(newUser('f1'));
    await r.users.create(newUser('op', 'operator'));
    await r.residents.setDevices('r1', ['fall-1']);
    await r.residents.setFamily('r1', [{ userId: 'f1', relation: null }]);
    await r.staff.grant({ userId: 'op', residentId: 'r1', grantedBy: 'admin', expiresAt: clock + 1000 });
    await r.audit.record({ actor: 'f1', action: 'resident.read', residentId: 'r1', purpose: 'care', detail: 'secret detail' });
    const record = { actor: 'admin', action: 'resident.erase', residentId: 'r1', purpose: 'erasure request', detail: 'alerts=0' };
    expect(await r.residents.erase('r1', record)).toEqual({ devices: 1, familyLinks: 1 });
    expect(await r.residents.erase('r1', record)).toBeUndefined();
    expect(await r.residents.get('r1')).toBeUndefined();
    expect(await r.residents.ownerOfDevice('fall-1')).toBeUndefined();
    expect(await r.residents.linkPeriods('r1', clock)).toEqual([]);
    expect(await r.staff.grantsOf('op')).toEqual([]);
    // the erasure's own row (written in its transaction, once) keeps its detail; older rows about the resident lose theirs
    expect((await r.audit.query({ residentId: 'r1', limit: 10 })).map((e) => [e.action, e.detail])).toEqual([['resident.erase', 'alerts=0'], ['resident.read', null]]);
    expect(await r.residents.removeCommunity('c1')).toBe(true);
  });

  describe('two clouds on one store', () => {
    it('the same login created on both at once: exactly one wins, the other is a duplicate', async () => {
      const { a, b } = await factory();
      const results = await Promise.allSettled([a.users.create(newUser('x1', 'family', 'same@example.org')), b.users.create(newUser('x2', 'family', 'SAME@example.org'))]);
      expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
      const lost = results.find((x) => x.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toMatchObject({ code: 'E_DUPLICATE' });
      expect((await b.users.list({ limit: 10, offset: 0 })).total).toBe(1);
    });

    it('a session signed out, or its person disabled, on cloud A is refused on cloud B', async () => {
      const { a, b } = await factory();
      await a.users.create(newUser('u1'));
      const token = await a.users.createSession('u1');
      expect((await b.users.resolveSession(token))?.id).toBe('u1');
      expect(await a.users.deleteSession(token)).toBe(true);
      expect(await b.users.resolveSession(token)).toBeUndefined();
      expect(await b.users.liveSessionUser(sessionDigest(token))).toBeUndefined();
      const t2 = await b.users.createSession('u1');
      expect((await a.users.resolveSession(t2))?.id).toBe('u1');
      await a.users.update('u1', { disabled: true });
      expect(await b.users.resolveSession(t2)).toBeUndefined();
    });

    it('a resident erased on A is gone on B', async () => {
      const { a, b } = await factory();
      await a.residents.createCommunity('c1', 'One');
      await a.residents.create(newResident('r1'));
      await a.residents.setDevices('r1', ['fall-1']);
      expect((await b.residents.get('r1'))?.notes).toBe('diabetic');
      expect(await a.residents.erase('r1')).toEqual({ devices: 1, familyLinks: 0 });
      expect(await b.residents.get('r1')).toBeUndefined();
      expect(await b.residents.ownerOfDevice('fall-1')).toBeUndefined();
      expect(await b.residents.erase('r1')).toBeUndefined();
    });

    it('one device linked to two residents from both clouds at once ends with exactly one of them', async () => {
      const { a, b } = await factory();
      await a.residents.createCommunity('c1', 'One');
      await a.residents.create(newResident('r1'));
      await a.residents.create(newResident('r2'));
      const results = await Promise.allSettled([a.residents.setDevices('r1', ['fall-1']), b.residents.setDevices('r2', ['fall-1'])]);
      expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
      expect((results.find((x) => x.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'E_DUPLICATE' });
      const owner = await b.residents.ownerOfDevice('fall-1');
      expect(owner === 'r1' ? await a.residents.devicesOf('r2') : await a.residents.devicesOf('r1')).toEqual([]);
      expect((await a.residents.residentsOfDevice('fall-1', 0, clock + 1))).toEqual([owner]);
    });
  });
});
