import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteAlertStore } from '../src/care/alerts/repository.js';
import { PgAlertStore } from '../src/care/alerts/pg-alert-store.js';
import type { AlertStore } from '../src/care/alerts/store.js';
import { alertRecord, secondPool, seedAlert } from './alert-store-support.js';
import { tempDir } from './helpers.js';
import { usePostgres } from './pg-support.js';

/**
 * The AlertStore contract: the same behaviour on alerts.sqlite and on PostgreSQL. The
 * lifecycle, ladder and dispatcher on top of it are covered by care-alerts-*.test.ts (on
 * SQLite) and, with two clouds on one database, by alerts-two-clouds.test.ts.
 */
const pgs = usePostgres();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

const factories: [string, () => Promise<AlertStore>][] = [
  ['sqlite', async () => {
    const tmp = tempDir('yulan-alert-store-');
    const s = new SqliteAlertStore(join(tmp.dir, 'alerts.sqlite'));
    cleanups.push(async () => { await s.close(); tmp.cleanup(); });
    return s;
  }],
  ['postgres', async () => PgAlertStore.open(await pgs.fresh())],
];

const T = 1_800_000_000_000;
const intent = (alertId: string, userId: string, n = 0) => ({ key: `${alertId}/0/${userId}/page/${n}`, alertId, step: 0, userId, kind: 'page' as const, n, recipient: null });

describe.each(factories)('AlertStore contract (%s)', (name, open) => {
  const skip = name === 'postgres' && pgs.skip;

  it.skipIf(skip)('change writes the alert, its timeline in order and its intents; an intent key is inserted once', async () => {
    const s = await open();
    const a = alertRecord('al_1', { report: { message: 'sos', events: [{ type: 'sos.pressed', atMs: T, seq: 1 }] } as never });
    const first = await s.change({ edge: 'al_1' }, (cur, ctx) => {
      expect(cur).toBeUndefined();
      expect(ctx.chainLength).toBe(0);
      return { alert: a, now: T, intents: [intent('al_1', 'f1')], timeline: [{ alertId: 'al_1', atMs: T, kind: 'raised', actor: 'edge', detail: { level: 'urgent' } }, { alertId: 'al_1', atMs: T, kind: 'paged', actor: 'f1' }] };
    });
    expect(first?.intentIds).toHaveLength(1);
    expect(await s.get('al_1')).toEqual(a);
    // The same intent again (a re-decision after a crash) creates no second row.
    const again = await s.change('al_1', (cur) => ({ alert: { ...cur!, revision: 2 }, now: T + 1, intents: [intent('al_1', 'f1'), intent('al_1', 'f2')], timeline: [] }));
    expect(again?.intentIds).toHaveLength(1);
    const ns = await s.notificationsFor('al_1');
    expect(ns.map((n) => [n.userId, n.status, n.createdAt])).toEqual([['f1', 'pending', T], ['f2', 'pending', T + 1]]);
    expect(ns[0]!.id).toBe(first!.intentIds[0]);
    expect((await s.timeline('al_1')).map((t) => [t.kind, t.actor, t.detail])).toEqual([['raised', 'edge', { level: 'urgent' }], ['paged', 'f1', null]]);
    expect((await s.get('al_1'))?.revision).toBe(2);
    // decide returning null writes nothing
    expect(await s.change('al_1', () => null)).toBeNull();
    expect(await s.change('nope', (cur) => { expect(cur).toBeUndefined(); return null; })).toBeNull();
  });

  it.skipIf(skip)('an edge alert chain: latestForEdge is the newest, chainLength counts them', async () => {
    const s = await open();
    await seedAlert(s, alertRecord('al_e', { status: 'resolved', resolvedAt: T + 5 }));
    await s.change({ edge: 'al_e' }, (cur, ctx) => {
      expect(cur?.id).toBe('al_e');
      expect(ctx.chainLength).toBe(1);
      return { alert: alertRecord('al_e~2', { edgeAlertId: 'al_e', previousAlertId: 'al_e', openedAt: T + 10 }), now: T + 10, intents: [], timeline: [] };
    });
    expect((await s.latestForEdge('al_e'))?.id).toBe('al_e~2');
    expect(await s.chainLength('al_e')).toBe(2);
  });

  it.skipIf(skip)('notifications: a patch and its timeline row together; attempts in order; claims; open rows', async () => {
    const s = await open();
    const [id] = (await s.change('al_n', () => ({ alert: alertRecord('al_n'), now: T, intents: [intent('al_n', 'f1')], timeline: [] })))!.intentIds;
    expect(await s.openNotificationIds()).toEqual([id]);
    const held = await s.claimNotification(id!, 'cloud-a', 60_000);
    expect(held?.id).toBe(id);
    // the holder renews its own claim
    expect((await s.claimNotification(id!, 'cloud-a', 60_000))?.id).toBe(id);
    await s.updateNotification(id!, { status: 'sent', channelIndex: 0, channelType: 'webhook', sentAt: T + 1 });
    await s.addAttempt(id!, T + 2, 0, 'webhook', false, 'HTTP 500');
    await s.addAttempt(id!, T + 3, 0, 'webhook', true, null);
    await s.updateNotification(id!, { status: 'delivered', deliveredAt: T + 3, attempts: 2 }, { alertId: 'al_n', atMs: T + 3, kind: 'delivered', actor: 'f1', detail: { channel: 'webhook' } });
    expect(await s.notification(id!)).toMatchObject({ status: 'delivered', attempts: 2, sentAt: T + 1, deliveredAt: T + 3, channelType: 'webhook', readAt: null });
    expect(await s.attempts(id!)).toEqual([
      { atMs: T + 2, channelIndex: 0, channelType: 'webhook', ok: false, error: 'HTTP 500' },
      { atMs: T + 3, channelIndex: 0, channelType: 'webhook', ok: true, error: null },
    ]);
    expect((await s.timeline('al_n')).map((t) => t.kind)).toEqual(['delivered']);
    // a delivered row is nobody's to send any more
    expect(await s.claimNotification(id!, 'cloud-b', 60_000)).toBeUndefined();
    expect(await s.openNotificationIds()).toEqual([]);
  });

  it.skipIf(skip)('due times, lists by scope, counts, pages per person', async () => {
    const s = await open();
    await seedAlert(s, alertRecord('al_a', { residentId: 'r1', nextDueAtMs: T + 100, openedAt: T }), { withNotification: true });
    await seedAlert(s, alertRecord('al_b', { residentId: 'r2', nextDueAtMs: T + 50, openedAt: T + 1, status: 'notifying' }));
    await seedAlert(s, alertRecord('al_u', { residentId: null, openedAt: T + 2 }));
    expect(await s.earliestDue()).toBe(T + 50);
    expect(await s.dueAlertIds(T + 60)).toEqual(['al_b']);
    expect(await s.dueAlertIds(T + 100)).toEqual(['al_b', 'al_a']);
    expect((await s.list({ residents: 'all', includeUnassigned: true, limit: 10 })).map((a) => a.id)).toEqual(['al_u', 'al_b', 'al_a']);
    expect((await s.list({ residents: 'all', includeUnassigned: false, limit: 10 })).map((a) => a.id)).toEqual(['al_b', 'al_a']);
    expect((await s.list({ residents: ['r1'], includeUnassigned: true, limit: 10 })).map((a) => a.id)).toEqual(['al_u', 'al_a']);
    expect((await s.list({ residents: ['r1', 'r2'], includeUnassigned: false, status: 'notifying', limit: 10 })).map((a) => a.id)).toEqual(['al_b']);
    expect((await s.list({ residents: [], includeUnassigned: false, limit: 10 }))).toEqual([]);
    expect(await s.counts()).toEqual({ alerts: { raised: 2, notifying: 1 }, notifications: { 'none:pending': 1 }, unreached: 0 });
    expect(await s.residentsPagedTo('w1')).toEqual(['r1']);
    expect((await s.openOrChangedSince(Number.MAX_SAFE_INTEGER, 10)).map((a) => a.id).sort()).toEqual(['al_a', 'al_b', 'al_u']);
  });

  it.skipIf(skip)('erasing a resident removes their alerts with everything they own, and nobody else\'s', async () => {
    const s = await open();
    const n = await seedAlert(s, alertRecord('al_r1', { residentId: 'r1' }), { withNotification: true });
    await seedAlert(s, alertRecord('al_r2', { residentId: 'r2' }));
    expect(await s.eraseResident('r1')).toBe(1);
    expect(await s.get('al_r1')).toBeUndefined();
    expect(await s.notificationsFor('al_r1')).toEqual([]);
    expect(await s.attempts(n!)).toEqual([]);
    expect(await s.timeline('al_r1')).toEqual([]);
    expect(await s.get('al_r2')).toBeDefined();
  });

  it.skipIf(skip)('retention prunes resolved alerts before the cutoff in batches, never open ones, and is idempotent', async () => {
    const s = await open();
    for (let i = 0; i < 5; i++) await seedAlert(s, alertRecord(`al_old${i}`, { status: 'resolved', openedAt: T - 100, resolvedAt: T - 90 }), { withNotification: true });
    await seedAlert(s, alertRecord('al_open', { openedAt: T - 100 }));
    await seedAlert(s, alertRecord('al_new', { status: 'resolved', openedAt: T, resolvedAt: T + 1 }));
    expect(await s.pruneResolved(T - 50, 3)).toBe(3);
    expect(await s.pruneResolved(T - 50, 3)).toBe(2);
    expect(await s.pruneResolved(T - 50, 3)).toBe(0);
    expect((await s.list({ residents: 'all', includeUnassigned: true, limit: 10 })).map((a) => a.id).sort()).toEqual(['al_new', 'al_open']);
    expect((await s.counts()).notifications).toEqual({});
  });
});

describe.skipIf(pgs.skip)('AlertStore on PostgreSQL, two clouds on one database', () => {
  it('a claim on a notification is held by one cloud until it lapses, then another takes it', async () => {
    const db = await pgs.fresh();
    const a = await PgAlertStore.open(db);
    const b = await PgAlertStore.open(secondPool(db));
    const [id] = (await a.change('al_c', () => ({ alert: alertRecord('al_c'), now: T, intents: [intent('al_c', 'f1')], timeline: [] })))!.intentIds;
    // Both clouds race for it: exactly one gets it.
    const got = await Promise.all([a.claimNotification(id!, 'cloud-a', 60_000), b.claimNotification(id!, 'cloud-b', 60_000)]);
    expect(got.filter((g) => g !== undefined)).toHaveLength(1);
    // While held, the row is not offered to anyone's sweep.
    expect(await b.openNotificationIds()).toEqual([]);
    // A holder that stops renewing (died after claiming, before or during the send): its claim lapses.
    const holder = got[0] ? 'cloud-a' : 'cloud-b';
    await db.query('expire', 'UPDATE alerts.notifications SET claim_until_ms = 0 WHERE id = $1', [id]);
    expect(await b.openNotificationIds()).toEqual([id]);
    const other = holder === 'cloud-a' ? 'cloud-b' : 'cloud-a';
    expect((await (other === 'cloud-b' ? b : a).claimNotification(id!, other, 60_000))?.id).toBe(id);
    // and the old holder can no longer renew it
    expect(await (holder === 'cloud-a' ? a : b).claimNotification(id!, holder, 60_000)).toBeUndefined();
  });

  it('retention on two clouds at once removes each old alert once and fails nowhere', async () => {
    const db = await pgs.fresh();
    const a = await PgAlertStore.open(db);
    const b = await PgAlertStore.open(secondPool(db));
    for (let i = 0; i < 30; i++) await seedAlert(a, alertRecord(`al_p${i}`, { status: 'resolved', openedAt: T - 100, resolvedAt: T - 90 }), { withNotification: true });
    const drain = async (s: AlertStore) => { let n = 0; for (let k; (k = await s.pruneResolved(T, 4)) > 0;) n += k; return n; };
    const [na, nb] = await Promise.all([drain(a), drain(b)]);
    expect(na + nb).toBe(30);
    expect(await a.list({ residents: 'all', includeUnassigned: true, limit: 50 })).toEqual([]);
  });
});
