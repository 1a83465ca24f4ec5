import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertsModule } from '../src/care/alerts/index.js';
import { silentLogger, tempDir, waitFor } from './helpers.js';
import { ADMIN, FakeDirectory, MemoryAudit, alertsApp, as, edgeAuth, openTestAlerts, report, startReceiver, type Receiver } from './care-alerts-support.js';

const tmp = tempDir('yulan-alerts-intake-');
const dir = new FakeDirectory();
const audit = new MemoryAudit();
let alerts: AlertsModule;
let app: FastifyInstance;
let hook: Receiver;

beforeAll(async () => {
  hook = await startReceiver();
  const ch = () => [{ type: 'webhook' as const, address: hook.url, secret: hook.secret }];
  dir.add('f1', 'family', ch());
  dir.add('f2', 'family', ch());
  dir.add('w1', 'worker', ch());
  dir.add('cc1', 'callcentre', ch());
  dir.add('op', 'operator', ch());
  dir.add('stranger', 'family', ch());
  dir.family = ['f1', 'f2'];
  dir.workers = ['w1'];
  dir.callcentre = ['cc1'];
  dir.devices.set('fall-1', { id: 'res-1', name: 'Grandma Li', communityId: 'c1' });
  dir.access.set('f1', ['res-1']);
  dir.access.set('f2', ['res-1']);
  // Long timers: these tests look at intake and access, not at escalation.
  dir.config = { cancelWindowSec: 30, familyAckSec: 600, workerAckSec: 600, reminderSec: 600 };
  alerts = await openTestAlerts(join(tmp.dir, 'alerts.sqlite'), dir, { audit });
  alerts.start();
  app = await alertsApp(alerts);
});
afterAll(async () => {
  await app.close();
  await alerts.close();
  await hook.close();
  tmp.cleanup();
});

const post = (body: unknown, headers: Record<string, string> = edgeAuth) =>
  app.inject({ method: 'POST', url: '/api/v1/internal/alerts', headers, payload: body as object });

describe('intake', () => {
  it('needs the edge token', async () => {
    expect((await post(report(), {})).statusCode).toBe(401);
    expect((await post(report(), { authorization: `Bearer ${ADMIN}` })).statusCode).toBe(401);
  });

  it('rejects unknown levels, types, states and fields with a 400 that says what is wrong', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ level: 'panic' }, /level must be one of "urgent", "unconfirmed", "wellness", "info"/],
      [{ type: 'earthquake' }, /type must be one of .*"sos"/],
      [{ state: 'gone' }, /state must be one of "open", "cancelled", "cleared"/],
      [{ revision: 0 }, /revision/],
      [{ id: 'not-an-alert-id' }, /id/],
    ];
    for (const [over, msg] of cases) {
      const r = await post({ ...report(), ...over });
      expect(r.statusCode, JSON.stringify(over)).toBe(400);
      expect(r.json()).toMatchObject({ code: 'E_VALIDATION' });
      expect(r.json().message).toMatch(msg);
    }
    // An unknown extra field is dropped, not stored (a newer edge must not be dead-lettered for it).
    const extra = { ...report(), colour: 'red' };
    expect((await post(extra)).statusCode).toBe(200);
    expect(JSON.stringify((await alerts.repo.get(extra.id))?.report)).not.toContain('colour');
    const missing = { ...report() } as Record<string, unknown>;
    delete missing.deviceId;
    expect((await post(missing)).json().message).toMatch(/field "deviceId"/);
  });

  it('is idempotent by (id, revision): a replay or an older revision changes nothing', async () => {
    const rep = report({ skipCancelWindow: false });
    const r1 = await post(rep);
    expect(r1.statusCode).toBe(200);
    expect(r1.json()).toEqual({ id: rep.id, revision: 1, status: 'raised' });
    const before = (await alerts.repo.get(rep.id));
    const again = await post({ ...rep, message: 'changed' });
    expect(again.json()).toEqual({ id: rep.id, revision: 1, status: 'raised' });
    expect((await alerts.repo.get(rep.id))).toEqual(before);
    const r2 = await post({ ...rep, revision: 3, eventCount: 2 });
    expect(r2.json().revision).toBe(3);
    expect((await post({ ...rep, revision: 2, level: 'info' })).json()).toMatchObject({ revision: 3 });
    expect((await alerts.repo.get(rep.id))?.level).toBe('urgent');
    expect((await alerts.repo.timeline(rep.id)).filter((t) => t.kind === 'raised')).toHaveLength(1);
  });

  it('resident cancel inside the cancel window: nobody is paged, outcome cancelled_by_resident', async () => {
    const rep = report({ type: 'fall', skipCancelWindow: false });
    expect((await post(rep)).json().status).toBe('raised');
    const r = await post({ ...rep, revision: 2, state: 'cancelled' });
    expect(r.json().status).toBe('cancelled');
    const a = (await alerts.repo.get(rep.id));
    expect(a).toMatchObject({ status: 'cancelled', outcome: 'cancelled_by_resident', nextDueAtMs: null });
    expect((await alerts.repo.notificationsFor(rep.id))).toEqual([]);
  });

  it('an unassigned device pages the call centre and is visible to admins and operators only', async () => {
    const rep = report({ deviceId: 'fall-unlinked' });
    expect((await post(rep)).json().status).toBe('notifying');
    const a = (await alerts.repo.get(rep.id));
    expect(a?.residentId).toBeNull();
    expect((await alerts.repo.notificationsFor(rep.id)).map((n) => [n.userId, n.kind])).toEqual([['cc1', 'page']]);
    const list = async (h: Record<string, string>) => (await app.inject({ url: '/api/v1/alerts', headers: h })).json().items.map((i: { id: string }) => i.id);
    expect(await list(as('op'))).toContain(rep.id);
    expect(await list({ authorization: `Bearer ${ADMIN}` })).toContain(rep.id);
    expect(await list(as('f1'))).not.toContain(rep.id);
    // the call centre member it was paged to may open it
    expect((await app.inject({ url: `/api/v1/alerts/${rep.id}`, headers: as('cc1') })).statusCode).toBe(200);
    expect((await app.inject({ url: `/api/v1/alerts/${rep.id}`, headers: as('f1') })).statusCode).toBe(404);
  });

  it('adopts the edge fallback notifications into the timeline once, keeping only the origin', async () => {
    const rep = report({ edgeNotifications: [{ channel: 'webhook', target: 'https://cc.example/hook?token=s3cret', atMs: 1000, ok: true }] });
    await post(rep);
    await post({ ...rep, revision: 2 });
    const adopted = (await alerts.repo.timeline(rep.id)).filter((t) => t.kind === 'edge_notification');
    expect(adopted).toHaveLength(1);
    expect(adopted[0]?.detail).toEqual({ channel: 'webhook', target: 'https://cc.example', ok: true });
  });

  it('a cleared wellness alert nobody claimed resolves as condition_cleared', async () => {
    const rep = report({ type: 'inactivity', level: 'wellness', skipCancelWindow: false });
    expect((await post(rep)).json().status).toBe('notifying');
    expect((await alerts.repo.notificationsFor(rep.id)).map((n) => n.userId)).toEqual(['w1']);
    const r = await post({ ...rep, revision: 2, state: 'cleared' });
    expect(r.json().status).toBe('resolved');
    expect((await alerts.repo.get(rep.id))?.outcome).toBe('condition_cleared');
  });

  it('info and unconfirmed alerts are shown but page nobody', async () => {
    for (const over of [{ type: 'battery_low' as const, level: 'info' as const }, { type: 'fall' as const, level: 'unconfirmed' as const }]) {
      const rep = report(over);
      expect((await post(rep)).json().status).toBe('raised');
      expect((await alerts.repo.get(rep.id))?.nextDueAtMs).toBeNull();
      expect((await alerts.repo.notificationsFor(rep.id))).toEqual([]);
    }
  });
});

describe('people routes', () => {
  it('lists and shows alerts to those who may see them; others get 404 like a missing id; reads are audited', async () => {
    const rep = report();
    await post(rep);
    const mine = await app.inject({ url: '/api/v1/alerts?status=notifying', headers: as('f1') });
    expect(mine.statusCode).toBe(200);
    expect(mine.json().items.map((i: { id: string }) => i.id)).toContain(rep.id);
    // the list is audited once per resident it shows, naming them
    expect(audit.entries).toContainEqual(expect.objectContaining({ actor: 'f1', action: 'alerts.list', residentId: 'res-1' }));
    expect((await app.inject({ url: '/api/v1/alerts', headers: as('stranger') })).json().items).toEqual([]);
    const hidden = await app.inject({ url: `/api/v1/alerts/${rep.id}`, headers: as('stranger') });
    const missing = await app.inject({ url: '/api/v1/alerts/al_doesnotexist', headers: as('stranger') });
    expect(hidden.statusCode).toBe(404);
    expect(missing.statusCode).toBe(404);
    expect(hidden.json().message.replace(rep.id, 'X')).toBe(missing.json().message.replace('al_doesnotexist', 'X'));
    const one = await app.inject({ url: `/api/v1/alerts/${rep.id}`, headers: { ...as('f1'), 'x-yulan-purpose': 'checking on mum' } });
    expect(one.statusCode).toBe(200);
    const body = one.json();
    expect(body.alert).toMatchObject({ id: rep.id, status: 'notifying', residentId: 'res-1', residentName: 'Grandma Li' });
    expect(body.timeline.map((t: { kind: string }) => t.kind)).toEqual(expect.arrayContaining(['raised', 'paged']));
    expect(body.notifications[0]).toMatchObject({ userId: 'f1', kind: 'page' });
    expect(body.metrics).toHaveProperty('firstNotificationMs');
    expect(audit.entries).toContainEqual(expect.objectContaining({ actor: 'f1', action: 'alert.read', residentId: 'res-1', purpose: 'checking on mum', detail: rep.id }));
    expect((await app.inject({ url: '/api/v1/alerts' })).statusCode).toBe(401);
  });

  it('claim: one holder; a second claim is 409 naming the holder; resolve needs the claimer or an admin', async () => {
    const rep = report();
    await post(rep);
    const notClaimed = await app.inject({ method: 'POST', url: `/api/v1/alerts/${rep.id}/resolve`, headers: as('f1'), payload: { outcome: 'helped_up' } });
    expect(notClaimed.statusCode).toBe(409);
    expect(notClaimed.json().message).toMatch(/must be claimed/);
    const ack = await app.inject({ method: 'POST', url: `/api/v1/alerts/${rep.id}/ack`, headers: as('f1') });
    expect(ack.statusCode).toBe(200);
    expect(ack.json().alert).toMatchObject({ status: 'acknowledged', claimedBy: 'f1', nextDueAtMs: null });
    const second = await app.inject({ method: 'POST', url: `/api/v1/alerts/${rep.id}/ack`, headers: as('f2') });
    expect(second.statusCode).toBe(409);
    expect(second.json()).toMatchObject({ code: 'E_CONFLICT' });
    expect(second.json().message).toContain('Name f1');
    // the admin token is no person: it cannot claim
    expect((await app.inject({ method: 'POST', url: `/api/v1/alerts/${rep.id}/ack`, headers: { authorization: `Bearer ${ADMIN}` } })).statusCode).toBe(403);
    const wrongPerson = await app.inject({ method: 'POST', url: `/api/v1/alerts/${rep.id}/resolve`, headers: as('f2'), payload: { outcome: 'helped_up' } });
    expect(wrongPerson.statusCode).toBe(409);
    const badOutcome = await app.inject({ method: 'POST', url: `/api/v1/alerts/${rep.id}/resolve`, headers: as('f1'), payload: { outcome: 'cancelled_by_resident' } });
    expect(badOutcome.statusCode).toBe(400);
    const ok = await app.inject({ method: 'POST', url: `/api/v1/alerts/${rep.id}/resolve`, headers: as('f1'), payload: { outcome: 'helped_up', note: 'she is fine' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().alert).toMatchObject({ status: 'resolved', outcome: 'helped_up', resolvedBy: 'f1', note: 'she is fine' });
    expect((await app.inject({ method: 'POST', url: `/api/v1/alerts/${rep.id}/ack`, headers: as('f2') })).statusCode).toBe(409);
    // a stranger cannot claim what they cannot see
    const other = report();
    await post(other);
    expect((await app.inject({ method: 'POST', url: `/api/v1/alerts/${other.id}/ack`, headers: as('stranger') })).statusCode).toBe(404);
    expect((await alerts.repo.get(other.id))?.status).toBe('notifying');
  });

  it('an admin may resolve an unconfirmed alert nobody was paged for', async () => {
    const rep = report({ type: 'fall', level: 'unconfirmed' });
    await post(rep);
    const r = await app.inject({ method: 'POST', url: `/api/v1/alerts/${rep.id}/resolve`, headers: { authorization: `Bearer ${ADMIN}` }, payload: { outcome: 'false_alarm' } });
    expect(r.statusCode).toBe(200);
    expect(r.json().alert.status).toBe('resolved');
  });

  it('resident data: export, paged-to and erase', async () => {
    const rep = report();
    await post(rep);
    await waitFor(async () => (await alerts.repo.notificationsFor(rep.id)).some((n) => n.status === 'delivered'), 'first page delivered');
    expect(await alerts.residentData.residentsPagedTo('f1')).toEqual(['res-1']);
    const exported = (await alerts.residentData.exportResident('res-1')) as { alert: { id: string } }[];
    expect(exported.map((e) => e.alert.id)).toContain(rep.id);
    await alerts.idle();
    const n = await alerts.residentData.eraseResident('res-1');
    expect(n).toBeGreaterThan(0);
    expect((await alerts.repo.get(rep.id))).toBeUndefined();
    expect((await alerts.repo.notificationsFor(rep.id))).toEqual([]);
    expect(await alerts.residentData.exportResident('res-1')).toEqual([]);
    expect(silentLogger).toBeDefined();
  });
});
