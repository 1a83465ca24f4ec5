import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { FallbackChannels } from '../src/care/alerts/index.js';
import { tempDir, waitFor } from './helpers.js';
import { ADMIN, FakeDirectory, alertsApp, as, edgeAuth, openTestAlerts, report, startReceiver, type Receiver } from './care-alerts-support.js';

// Issue 11, cases 1–3 through the cloud's HTTP intake, a real SQLite file and real signed
// webhooks: no call for help is swallowed by an alert that was already handled.

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  cleanups.push(() => r.close());
  return r;
}
const hookOf = (r: Receiver) => ({ type: 'webhook' as const, address: r.url, secret: r.secret });

async function setup(configure: (dir: FakeDirectory) => void, fallback?: FallbackChannels) {
  const tmp = tempDir('yulan-alerts-invariant-');
  const dir = new FakeDirectory();
  dir.devices.set('fall-1', { id: 'res-1', name: 'Grandma Li', communityId: 'c1' });
  configure(dir);
  const alerts = await openTestAlerts(join(tmp.dir, 'alerts.sqlite'), dir, {
    ...(fallback ? { fallback } : {}), safety: { unreachedRetrySec: 3600, claimDeadlineSec: 3600 },
  });
  alerts.start();
  const app = await alertsApp(alerts);
  cleanups.push(tmp.cleanup, () => alerts.close(), () => app.close());
  return { dir, alerts, app };
}

async function post(app: FastifyInstance, rep: ReturnType<typeof report>) {
  const res = await app.inject({ method: 'POST', url: '/api/v1/internal/alerts', headers: edgeAuth, payload: rep });
  expect(res.statusCode).toBe(200);
  return res.json() as { id: string; revision: number; status: string };
}

const press = (seq: number, atMs: number) => ({ type: 'sos.pressed', atMs, seq });
const claim = (app: FastifyInstance, id: string, user: string) => app.inject({ method: 'POST', url: `/api/v1/alerts/${id}/ack`, headers: as(user) });
const resolve = (app: FastifyInstance, id: string, user: string) =>
  app.inject({ method: 'POST', url: `/api/v1/alerts/${id}/resolve`, headers: as(user), payload: { outcome: 'false_alarm' } });
const pagesFor = (r: Receiver, alertId: string, kind = 'page') => r.deliveries.filter((d) => d.alertId === alertId && d.kind === kind);

describe('case 1: a resolved alert is closed', () => {
  it('a second SOS after the first was resolved opens a new alert with a fresh ladder, linked to the first', async () => {
    const f1 = await receiver();
    const { alerts, app } = await setup((dir) => {
      dir.add('f1', 'family', [hookOf(f1)]);
      dir.family = ['f1'];
      dir.access.set('f1', ['res-1']);
      dir.config = { cancelWindowSec: 0, familyAckSec: 600, workerAckSec: 600, reminderSec: 600 };
    });
    const t = Date.now();
    const first = report({ events: [press(1, t - 10_000)], firstEventAtMs: t - 10_000, lastEventAtMs: t - 10_000 });
    await post(app, first);
    await waitFor(() => pagesFor(f1, first.id).length === 1, 'first SOS paged');
    expect((await claim(app, first.id, 'f1')).statusCode).toBe(200);
    expect((await resolve(app, first.id, 'f1')).statusCode).toBe(200);

    // The edge merged the second press into its still-open alert: same id, revision 2.
    const second = { ...first, revision: 2, eventCount: 2, lastEventAtMs: t, events: [press(1, t - 10_000), press(2, t)] };
    const answer = await post(app, second);
    expect(answer.id).toBe(`${first.id}~2`);
    await waitFor(() => pagesFor(f1, answer.id).length === 1, 'second SOS paged afresh');
    const next = (await alerts.repo.get(answer.id))!;
    expect(next).toMatchObject({ previousAlertId: first.id, edgeAlertId: first.id, status: 'notifying', residentId: 'res-1', level: 'urgent' });
    expect((await alerts.repo.get(first.id))).toMatchObject({ status: 'resolved', revision: 1 });
    expect((await alerts.repo.timeline(first.id))).toContainEqual(expect.objectContaining({ kind: 'followed_by', detail: expect.objectContaining({ alertId: answer.id }) }));

    // The same revision again (the edge's retry) changes nothing and opens nothing.
    expect(await post(app, second)).toMatchObject({ id: answer.id, revision: 2 });
    expect((await alerts.repo.chainLength(first.id))).toBe(2);
    // A third press merges into the open follow-up and tells whoever was paged.
    await post(app, { ...second, revision: 3, eventCount: 3, events: [...second.events, press(3, t + 1000)] });
    await waitFor(() => pagesFor(f1, answer.id, 'update').length === 1, 'third press: update to the family member');
    expect((await alerts.repo.chainLength(first.id))).toBe(2);
  });

  it('a new fall (new fall id) within 30 minutes of a resolved one opens a new alert; the old fall\'s late "got up" does not', async () => {
    const f1 = await receiver();
    const { alerts, app } = await setup((dir) => {
      dir.add('f1', 'family', [hookOf(f1)]);
      dir.family = ['f1'];
      dir.config = { cancelWindowSec: 0, familyAckSec: 600, workerAckSec: 600, reminderSec: 600 };
    });
    const t = Date.now();
    const fall = (seq: number, at: number, fallId: string) => ({ type: 'fall.detected', atMs: at, seq, fallId, source: 'radar' });
    const lie = (seq: number, at: number, fallId: string) => ({ type: 'fall.long_lie', atMs: at, seq, fallId });
    const first = report({ type: 'fall', confirmed: true, events: [fall(1, t - 60_000, 'A'), lie(2, t - 50_000, 'A')] });
    await post(app, first);
    await waitFor(() => pagesFor(f1, first.id).length === 1, 'first fall paged');
    await claim(app, first.id, 'f1');
    await resolve(app, first.id, 'f1');
    const cleared = { type: 'fall.cleared', atMs: t - 1000, seq: 3, fallId: 'A' };
    expect(await post(app, { ...first, revision: 2, events: [...first.events, cleared] })).toMatchObject({ id: first.id, status: 'resolved' });

    // A radar fall with a new id: a new alert, unconfirmed like any radar fall (shown, not paged)…
    const events3 = [...first.events, cleared, fall(4, t, 'B')];
    const b = await post(app, { ...first, revision: 3, events: events3 });
    expect(b.id).toBe(`${first.id}~2`);
    expect((await alerts.repo.get(b.id))).toMatchObject({ level: 'unconfirmed', status: 'raised', previousAlertId: first.id });
    // …and its long lie makes it urgent: paged at once.
    await post(app, { ...first, revision: 4, events: [...events3, lie(5, t + 1000, 'B')] });
    await waitFor(() => pagesFor(f1, b.id).length === 1, 'the new fall paged');
  });
});

describe('case 2: nobody left to page is an incident', () => {
  it('an SOS from an unassigned device with no call-centre person pages the fallback, counts alerts_unreached, and pages a person once one is enabled', async () => {
    const fb = await receiver();
    const cc = await receiver();
    const { dir, alerts, app } = await setup(() => undefined, { webhook: { url: fb.url, secret: fb.secret } });
    const rep = report({ deviceId: 'fall-unlinked' });
    await post(app, rep);
    const page = await waitFor(() => fb.deliveries.find((d) => d.alertId === rep.id), 'fallback paged');
    expect(page).toMatchObject({ kind: 'page', userId: '@fallback' });
    const metrics = await app.inject({ url: '/api/v1/metrics', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(metrics.json()).toMatchObject({ alerts_unreached: 1 });
    expect((await alerts.repo.timeline(rep.id))).toContainEqual(expect.objectContaining({ kind: 'unreached', detail: expect.objectContaining({ reason: 'nobody_left' }) }));

    // A call-centre person becomes available: paged at once, not after the hour-long retry.
    dir.add('cc1', 'callcentre', [hookOf(cc)]);
    dir.callcentre = ['cc1'];
    await alerts.retryUnreached();
    await waitFor(() => pagesFor(cc, rep.id).length === 1, 'call centre paged on retry');
    expect((await claim(app, rep.id, 'cc1')).statusCode).toBe(200);
    const after = await app.inject({ url: '/api/v1/metrics', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(after.json()).toMatchObject({ alerts_unreached: 0 });
  });

  it('the state survives a restart: an unreached alert is retried by the reopened module', async () => {
    const tmp = tempDir('yulan-alerts-unreached-restart-');
    cleanups.push(tmp.cleanup);
    const fb = await receiver();
    const dir = new FakeDirectory();
    const open = () => openTestAlerts(join(tmp.dir, 'alerts.sqlite'), dir, { fallback: { webhook: { url: fb.url, secret: fb.secret } }, safety: { unreachedRetrySec: 1 } });
    const a1 = await open();
    a1.start();
    const rep = report({ deviceId: 'fall-unlinked' });
    await a1.intake(rep);
    await waitFor(() => fb.deliveries.length >= 1, 'fallback paged');
    await a1.close();
    const a2 = await open();
    cleanups.push(() => a2.close());
    a2.start();
    expect((await a2.repo.counts()).unreached).toBe(1);
    await waitFor(() => fb.deliveries.filter((d) => d.alertId === rep.id).length >= 2, 'fallback paged again after the restart');
  });
});

describe('case 3: new events on an alert being handled', () => {
  async function claimedSos(ackSec: number) {
    const f1 = await receiver();
    const f2 = await receiver();
    const ctx = await setup((dir) => {
      dir.add('f1', 'family', [hookOf(f1)]);
      dir.add('f2', 'family', [hookOf(f2)]);
      dir.family = ['f1', 'f2'];
      dir.access.set('f2', ['res-1']);
      dir.config = { cancelWindowSec: 0, familyAckSec: ackSec, workerAckSec: 600, reminderSec: 600 };
    });
    const t = Date.now();
    const rep = report({ events: [press(1, t - 1000)] });
    await post(ctx.app, rep);
    await waitFor(() => pagesFor(f1, rep.id).length === 1, 'f1 paged');
    expect((await claim(ctx.app, rep.id, 'f1')).statusCode).toBe(200);
    await post(ctx.app, { ...rep, revision: 2, eventCount: 2, events: [...rep.events, press(2, t)] });
    return { ...ctx, f1, f2, rep };
  }

  it('an SOS while claimed tells the claimer at once; unconfirmed, the claim lapses and the ladder pages again', async () => {
    const { alerts, f1, rep } = await claimedSos(1);
    await waitFor(() => pagesFor(f1, rep.id, 'update').length === 1, 'claimer told of the new press');
    await waitFor(() => pagesFor(f1, rep.id).length === 2, 'ladder restarted: family 1 paged again');
    expect((await alerts.repo.get(rep.id))).toMatchObject({ status: 'notifying', claimedBy: null });
    expect((await alerts.repo.timeline(rep.id)).map((t) => t.kind)).toEqual(expect.arrayContaining(['update_sent', 'claim_lapsed']));
  });

  it('a claimer who confirms the new event keeps the claim', async () => {
    const { alerts, app, f1, rep } = await claimedSos(600);
    await waitFor(() => pagesFor(f1, rep.id, 'update').length === 1, 'claimer told');
    expect((await alerts.repo.get(rep.id))!.ladder.reconfirm).toMatchObject({ userId: 'f1' });
    expect((await claim(app, rep.id, 'f1')).statusCode).toBe(200);
    const a = (await alerts.repo.get(rep.id))!;
    expect(a).toMatchObject({ status: 'acknowledged', claimedBy: 'f1', nextDueAtMs: null });
    expect(a.ladder.reconfirm).toBeNull();
    // Someone else still cannot take it over.
    expect((await claim(app, rep.id, 'f2')).statusCode).toBe(409);
  });

  it('a new fall while the ladder runs re-notifies those already paged', async () => {
    const f1 = await receiver();
    const { app } = await setup((dir) => {
      dir.add('f1', 'family', [hookOf(f1)]);
      dir.family = ['f1'];
      dir.config = { cancelWindowSec: 0, familyAckSec: 600, workerAckSec: 600, reminderSec: 600 };
    });
    const t = Date.now();
    const rep = report({ type: 'fall', events: [{ type: 'fall.long_lie', atMs: t - 5000, seq: 1, fallId: 'A' }] });
    await post(app, rep);
    await waitFor(() => pagesFor(f1, rep.id).length === 1, 'paged');
    await post(app, { ...rep, revision: 2, events: [...rep.events, { type: 'fall.detected', atMs: t, seq: 2, fallId: 'B', source: 'radar' }] });
    const update = await waitFor(() => pagesFor(f1, rep.id, 'update')[0], 'update for the new fall');
    expect(update.body).toMatchObject({ kind: 'update', alert: { id: rep.id } });
  });
});
