import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PgAlertStore } from '../src/care/alerts/pg-alert-store.js';
import type { AlertsModule, OpenAlertsOptions } from '../src/care/alerts/index.js';
import { CloudErrorCode } from '../src/errors.js';
import type { DbTarget } from '../src/db/target.js';
import { alertRecord, secondPool } from './alert-store-support.js';
import { FakeDirectory, openTestAlerts, report, startReceiver, type Receiver } from './care-alerts-support.js';
import { tempDir, waitFor } from './helpers.js';
import { usePostgres } from './pg-support.js';

/**
 * The alert path with two clouds on one PostgreSQL database (docs/care.md "Several
 * clouds"): each test opens two alert modules on two pools, as two cloud processes would,
 * sharing the people directory. The claim race also runs on SQLite (one cloud, two
 * requests at once), so both stores answer it the same way.
 */
const pgs = usePostgres();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

const FAST = { cluster: { pollMs: 100, sweepMs: 100, claimMs: 1500 } } satisfies Partial<OpenAlertsOptions>;

async function people(): Promise<{ r: Record<'f1' | 'f2' | 'w1', Receiver>; dir: FakeDirectory }> {
  const r = { f1: await startReceiver(), f2: await startReceiver(), w1: await startReceiver() };
  cleanups.push(() => Promise.all(Object.values(r).map((x) => x.close())).then(() => undefined));
  const dir = new FakeDirectory();
  dir.devices.set('fall-1', { id: 'res-1', name: 'Grandma Li', communityId: 'c1' });
  for (const [id, rec] of Object.entries(r)) dir.add(id, id === 'w1' ? 'worker' : 'family', [{ type: 'webhook', address: rec.url, secret: rec.secret }]);
  dir.family = ['f1', 'f2'];
  dir.workers = ['w1'];
  dir.config = { cancelWindowSec: 0, familyAckSec: 1, workerAckSec: 600, reminderSec: 600 };
  return { r, dir };
}

async function open(db: DbTarget, dir: FakeDirectory, over: Partial<OpenAlertsOptions> = {}): Promise<AlertsModule> {
  const m = await openTestAlerts(db, dir, { ...FAST, ...over });
  cleanups.push(() => m.close());
  return m;
}

/** Two clouds: on PostgreSQL two modules on two pools; on SQLite one module (one cloud per file) used twice. */
async function twoClouds(kind: 'sqlite' | 'postgres', dir: FakeDirectory, over: Partial<OpenAlertsOptions> = {}): Promise<[AlertsModule, AlertsModule]> {
  if (kind === 'sqlite') {
    const tmp = tempDir('yulan-two-clouds-');
    cleanups.push(tmp.cleanup);
    const m = await open({ kind: 'sqlite', file: join(tmp.dir, 'alerts.sqlite') }, dir, over);
    return [m, m];
  }
  const db = await pgs.fresh();
  return [await open({ kind: 'postgres', db }, dir, over), await open({ kind: 'postgres', db: secondPool(db) }, dir, over)];
}

const pages = (rec: Receiver) => rec.deliveries.filter((d) => d.kind === 'page');

describe.each([['sqlite'], ['postgres']] as const)('alerts with two clouds at once (%s)', (kind) => {
  const skip = kind === 'postgres' && pgs.skip;

  it.skipIf(skip)('the same report reaching both clouds (an edge retry, two edges) makes ONE alert, paged once', async () => {
    const { r, dir } = await people();
    const [a, b] = await twoClouds(kind, dir);
    const rep = report();
    const answers = await Promise.all([a, b, a, b, a, b].map((m) => m.intake(rep)));
    expect(new Set(answers.map((x) => x.id))).toEqual(new Set([rep.id]));
    expect(answers.filter((x) => x.changed)).toHaveLength(1);
    await waitFor(() => pages(r.f1).length >= 1, 'family 1 paged');
    await Promise.all([a.idle(), b.idle()]);
    expect(await a.repo.chainLength(rep.id)).toBe(1);
    expect((await b.repo.timeline(rep.id)).filter((t) => t.kind === 'raised')).toHaveLength(1);
    expect((await b.repo.notificationsFor(rep.id)).filter((n) => n.kind === 'page').map((n) => n.userId)).toEqual(['f1']);
    expect(pages(r.f1)).toHaveLength(1);
  });

  it.skipIf(skip)('carers claiming at once: one wins, the others get a conflict naming the holder', async () => {
    const { dir } = await people();
    const [a, b] = await twoClouds(kind, dir);
    for (let i = 0; i < 5; i++) {
      const rep = report();
      await a.intake(rep);
      const settled = await Promise.allSettled([a.claim(rep.id, 'f1', 'care-page'), b.claim(rep.id, 'f2', 'care-page'), b.claim(rep.id, 'w1', 'webhook')]);
      const lost = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
      expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
      expect(lost).toHaveLength(2);
      const holder = (await b.repo.get(rep.id))!.claimedBy!;
      for (const l of lost) {
        expect(l.reason).toMatchObject({ code: CloudErrorCode.Conflict });
        expect(String((l.reason as Error).message)).toContain(`already claimed by Name ${holder}`);
      }
      expect((await a.repo.timeline(rep.id)).filter((t) => t.kind === 'claimed').map((t) => t.actor)).toEqual([holder]);
    }
  });
});

describe.skipIf(pgs.skip)('alerts with two clouds on one PostgreSQL database', () => {
  it('both clouds\' ladder timers fire for the same step: the next person is paged once', async () => {
    const { r, dir } = await people();
    let now = Date.now();
    const clock = () => now;
    const [a, b] = await twoClouds('postgres', dir, { clock });
    a.start();
    b.start();
    const rep = report({ firstEventAtMs: now, openedAtMs: now });
    await a.intake(rep);
    await waitFor(() => pages(r.f1).length === 1, 'family 1 paged');
    now += 1100; // family 1's wait is over on both clouds
    await Promise.all([a.runDue(), b.runDue(), a.runDue(), b.runDue()]);
    await waitFor(() => pages(r.f2).length >= 1, 'family 2 paged');
    await Promise.all([a.idle(), b.idle()]);
    expect(pages(r.f2)).toHaveLength(1);
    expect((await a.repo.timeline(rep.id)).filter((t) => t.kind === 'paged').map((t) => t.actor)).toEqual(['f1', 'f2']);
  });

  it('a claim racing a ladder tick on the other cloud is never lost', async () => {
    const { dir } = await people();
    let now = Date.now();
    const clock = () => now;
    const [a, b] = await twoClouds('postgres', dir, { clock });
    a.start();
    b.start();
    const reps = Array.from({ length: 6 }, () => report({ firstEventAtMs: now, openedAtMs: now }));
    for (const rep of reps) await a.intake(rep);
    now += 1100;
    await Promise.all([b.runDue(), ...reps.map((rep) => a.claim(rep.id, 'f1', 'care-page'))]);
    for (const rep of reps) expect(await b.repo.get(rep.id)).toMatchObject({ status: 'acknowledged', claimedBy: 'f1' });
  });

  it('a cloud that dies mid-ladder: the other cloud derives the timer from the database and pages the next step', async () => {
    const { r, dir } = await people();
    const [a, b] = await twoClouds('postgres', dir);
    a.start();
    b.start();
    const rep = report();
    await a.intake(rep);
    await waitFor(() => pages(r.f1).length === 1, 'family 1 paged');
    await a.close(); // cloud A dies: its timer for family 2 is gone
    await waitFor(() => pages(r.f2).length === 1, 'family 2 paged by cloud B', 20_000);
    await b.idle();
    expect(pages(r.f1)).toHaveLength(1);
    expect(pages(r.f2)).toHaveLength(1);
  });

  it('a step claimed by a cloud that died before sending it is sent by the other cloud, with the same delivery id', async () => {
    const { r, dir } = await people();
    const db = await pgs.fresh();
    // Cloud A: decided the page and took the claim, marked it mid-send, then died.
    const deadCloud = await PgAlertStore.open(db);
    const [id] = (await deadCloud.change('al_dead', () => ({
      alert: alertRecord('al_dead', { status: 'notifying' }), now: Date.now(), timeline: [],
      intents: [{ key: 'al_dead/0/f1/page/0', alertId: 'al_dead', step: 0, userId: 'f1', kind: 'page', n: 0, recipient: null }],
    })))!.intentIds;
    expect(await deadCloud.claimNotification(id!, 'cloud-a', 300)).toBeDefined();
    await deadCloud.updateNotification(id!, { status: 'sent', channelIndex: 0, channelType: 'webhook', sentAt: Date.now() });
    // Cloud B running: the claim lapses and B's sweep sends it.
    const b = await open({ kind: 'postgres', db: secondPool(db) }, dir);
    b.start();
    await waitFor(() => r.f1.deliveries.length === 1, 'page sent by cloud B');
    await b.idle();
    expect(r.f1.deliveries[0]).toMatchObject({ deliveryId: id, kind: 'page', alertId: 'al_dead' });
    expect(await b.repo.notification(id!)).toMatchObject({ status: 'delivered', attempts: 1 });
    expect((await b.repo.timeline('al_dead')).map((t) => t.kind)).toEqual(['delivered']);
  });

  it('a change on one cloud reaches the other cloud\'s care pages (LISTEN/NOTIFY), and its own are not told twice', async () => {
    const { dir } = await people();
    const [a, b] = await twoClouds('postgres', dir);
    a.start();
    b.start();
    const onA: { id: string; status: string }[] = [];
    const onB: { id: string; status: string }[] = [];
    a.hub.onChange((d) => onA.push(d as { id: string; status: string }));
    b.hub.onChange((d) => onB.push(d as { id: string; status: string }));
    const rep = report();
    await a.intake(rep);
    await waitFor(() => onB.some((x) => x.id === rep.id), 'cloud B heard of the new alert');
    await a.claim(rep.id, 'f1', 'care-page');
    await waitFor(() => onB.some((x) => x.id === rep.id && x.status === 'acknowledged'), 'cloud B heard of the claim');
    // B's own change reaches A; A's hub gets each of its own changes once, not again via the database.
    await b.resolve(rep.id, { id: 'f1', admin: false }, 'helped_up', null);
    await waitFor(() => onA.some((x) => x.id === rep.id && x.status === 'resolved'), 'cloud A heard of the resolve');
    expect(onA.filter((x) => x.status === 'acknowledged')).toHaveLength(1);
  });
});
