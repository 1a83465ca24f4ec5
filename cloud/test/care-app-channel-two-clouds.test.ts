import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertsModule, OpenAlertsOptions } from '../src/care/alerts/index.js';
import { PgAlertStore } from '../src/care/alerts/pg-alert-store.js';
import { PgAppRelay } from '../src/care/alerts/pg-app-relay.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { alertRecord, secondPool } from './alert-store-support.js';
import { FakeDirectory, alertsApp, as, openTestAlerts, report, startReceiver, type Receiver } from './care-alerts-support.js';
import { openCareStream, type CareStream } from './care-stream-client.js';
import { silentLogger, waitFor } from './helpers.js';
import { usePostgres } from './pg-support.js';

/**
 * The app channel with two clouds on one PostgreSQL database (docs/care.md §3, §4): a
 * person's care page holds its live stream on whichever cloud the load balancer picked,
 * and the cloud sending the page may be the other one. Two alert modules on two pools,
 * each with its own HTTP server, real streaming clients, a real webhook receiver as the
 * next channel.
 */
const pgs = usePostgres();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

interface Cloud { alerts: AlertsModule; base: string; stop(): Promise<void> }

/** f1 is paged first: the app channel, then a webhook. Nobody else, and an hour to claim, so only f1's page moves. */
async function people(): Promise<{ dir: FakeDirectory; hook: Receiver }> {
  const hook = await startReceiver();
  cleanups.push(() => hook.close());
  const dir = new FakeDirectory();
  dir.devices.set('fall-1', { id: 'res-1', name: 'Grandma Li', communityId: 'c1' });
  dir.add('f1', 'family', [{ type: 'app', address: '' }, { type: 'webhook', address: hook.url, secret: hook.secret }]);
  dir.add('f2', 'family', [{ type: 'app', address: '' }]);
  dir.family = ['f1'];
  dir.access.set('f1', ['res-1']);
  dir.config = { cancelWindowSec: 0, familyAckSec: 3600, workerAckSec: 3600, reminderSec: 3600 };
  return { dir, hook };
}

/**
 * One cloud: the alert module on its own pool and its own HTTP server. `sweepMs` is long by
 * default so a page is sent by the cloud that took the report (a sweep on the other cloud
 * could otherwise take the row first and send it to its own stream).
 */
async function cloud(db: PostgresDatabase, dir: FakeDirectory, over: Partial<OpenAlertsOptions['cluster']> = {}, start = true): Promise<Cloud> {
  const alerts = await openTestAlerts({ kind: 'postgres', db }, dir, { cluster: { pollMs: 100, sweepMs: 600_000, claimMs: 30_000, ...over } });
  if (start) alerts.start();
  const app = await alertsApp(alerts);
  await app.listen({ host: '127.0.0.1', port: 0 });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await alerts.close();
    await app.close();
  };
  cleanups.push(stop);
  return { alerts, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, stop };
}

/** Opens a person's care page on a cloud; `announced`: waits until the cloud says so in the database (it listens for requests). */
async function stream(c: Cloud, userId: string, db: PostgresDatabase | null): Promise<CareStream> {
  const s = await openCareStream(c.base, as(userId));
  cleanups.push(() => s.cancel());
  expect(s.status).toBe(200);
  await waitFor(() => c.alerts.hub.connected(userId) >= 1, `${userId}'s stream open`);
  if (db) await waitFor(async () => (await openOn(db, userId)).length > 0, `${userId}'s page announced`);
  return s;
}

/** The clouds that say `userId` has a care page open on them. */
async function openOn(db: PostgresDatabase, userId: string): Promise<string[]> {
  return (await db.query<{ cloud: string }>('open pages', 'SELECT cloud FROM alerts.app_streams WHERE user_id = $1 ORDER BY cloud', [userId])).rows.map((r) => r.cloud);
}

async function receipts(db: PostgresDatabase, deliveryId: string): Promise<{ cloud: string; user_id: string }[]> {
  return (await db.query<{ cloud: string; user_id: string }>('receipts', 'SELECT cloud, user_id FROM alerts.app_receipts WHERE delivery_id = $1 ORDER BY cloud', [deliveryId])).rows;
}

/** A connection LISTENing on `channel`, collecting payloads (what a third process would hear). */
async function hear(db: PostgresDatabase, channel: string): Promise<string[]> {
  const client: pg.PoolClient = await db.pool.connect();
  const heard: string[] = [];
  client.on('notification', (m) => heard.push(m.payload ?? ''));
  await client.query(`LISTEN ${channel}`);
  cleanups.push(() => client.release(true));
  return heard;
}

const pagesOf = (s: CareStream, deliveryId: string) => s.pages().filter((p) => p.deliveryId === deliveryId);

describe.skipIf(pgs.skip)('the app channel with two clouds on one PostgreSQL database', () => {
  it('a page sent by cloud A reaches the care page open on cloud B and counts as delivered on B\'s receipt', async () => {
    const { dir, hook } = await people();
    const db = await pgs.fresh();
    const a = await cloud(db, dir);
    const b = await cloud(secondPool(db), dir);
    const page = await stream(b, 'f1', db);
    const rep = report();
    await a.alerts.intake(rep);
    const shown = await waitFor(() => page.pages()[0], 'the page on cloud B\'s stream');
    expect(shown).toMatchObject({ kind: 'page', alert: { id: rep.id, residentName: 'Grandma Li' }, recipient: { userId: 'f1' }, careUrl: `http://care.test/care/#alert=${rep.id}` });
    const id = shown.deliveryId as string;
    const n = await waitFor(async () => {
      const x = await a.alerts.repo.notification(id);
      return x?.status === 'delivered' ? x : undefined;
    }, 'the app delivery recorded');
    await a.alerts.idle();
    expect(n).toMatchObject({ userId: 'f1', kind: 'page', channelType: 'app', channelIndex: 0, attempts: 1 });
    expect((await a.alerts.repo.attempts(id)).map((x) => [x.channelType, x.ok])).toEqual([['app', true]]);
    expect(await receipts(db, id)).toEqual([{ cloud: expect.any(String), user_id: 'f1' }]);
    expect((await a.alerts.repo.timeline(rep.id)).filter((t) => t.kind === 'delivered')).toHaveLength(1);
    expect(hook.deliveries).toEqual([]);
    // The page confirms it through the cloud it is connected to, with its person's session.
    const read = await fetch(`${b.base}/api/v1/notifications/${id}/receipt`, { method: 'POST', headers: as('f1') });
    expect(read.status).toBe(200);
    expect(await a.alerts.repo.notification(id)).toMatchObject({ readAt: expect.any(Number) });
    // Receipts go with the notifications: erasing the resident leaves none behind.
    expect(await b.alerts.repo.eraseResident('res-1')).toBe(1);
    expect(await receipts(db, id)).toEqual([]);
  });

  it('no care page open on any cloud: nobody is asked, the app channel fails at once and the next channel pages the person', async () => {
    const { dir, hook } = await people();
    const db = await pgs.fresh();
    const a = await cloud(db, dir);
    const b = await cloud(secondPool(db), dir);
    // Another person's page on B does not count for f1.
    const other = await stream(b, 'f2', db);
    const asked = await hear(db, 'yulan_care_page');
    const rep = report();
    await a.alerts.intake(rep);
    const d = await waitFor(() => hook.deliveries.find((x) => x.kind === 'page'), 'f1 paged by webhook');
    await a.alerts.idle();
    expect(await a.alerts.repo.notification(d.deliveryId)).toMatchObject({ status: 'delivered', channelType: 'webhook', channelIndex: 1 });
    expect((await a.alerts.repo.attempts(d.deliveryId)).map((x) => [x.channelType, x.ok, x.error])).toEqual([
      ['app', false, 'no open care-page stream on any cloud confirmed it'], ['webhook', true, null],
    ]);
    expect(await receipts(db, d.deliveryId)).toEqual([]);
    expect(other.pages()).toEqual([]);
    // No cloud says f1 has a page open: nobody was asked and the channel failed without waiting.
    expect(asked).toEqual([]);
    expect((await b.alerts.repo.timeline(rep.id)).map((t) => t.kind)).toEqual(expect.arrayContaining(['channel_failed', 'delivered']));
  });

  it('a care page open on both clouds: each shows the page once, the delivery counts once, a repeated request shows nothing again', async () => {
    const { dir, hook } = await people();
    const db = await pgs.fresh();
    const a = await cloud(db, dir);
    const b = await cloud(secondPool(db), dir);
    const onA = await stream(a, 'f1', db);
    const onB = await stream(b, 'f1', db);
    await waitFor(async () => (await openOn(db, 'f1')).length === 2, 'f1\'s pages announced by both clouds');
    const rep = report();
    await a.alerts.intake(rep);
    const id = (await waitFor(() => onA.pages()[0], 'the page on cloud A')).deliveryId as string;
    await waitFor(() => pagesOf(onB, id).length > 0, 'the same page on cloud B');
    // Both clouds wrote it: one receipt each, the notification delivered once.
    await waitFor(async () => (await receipts(db, id)).length === 2, 'a receipt from each cloud');
    await a.alerts.idle();
    expect(new Set((await receipts(db, id)).map((r) => r.cloud)).size).toBe(2);
    expect(await a.alerts.repo.notification(id)).toMatchObject({ status: 'delivered', channelType: 'app', attempts: 1 });
    expect((await a.alerts.repo.timeline(rep.id)).filter((t) => t.kind === 'delivered')).toHaveLength(1);
    // The same request again (a duplicate NOTIFY, a re-send): each cloud answers with its
    // receipt, so whoever waits hears it, but neither shows the page twice.
    const heard = await hear(db, 'yulan_care_page_receipt');
    await db.query('again', 'SELECT pg_notify($1, $2)', ['yulan_care_page', `some-cloud|${id}|f1`]);
    await waitFor(() => heard.filter((x) => x === id).length >= 2, 'both clouds answered the repeated request');
    expect(pagesOf(onA, id)).toHaveLength(1);
    expect(pagesOf(onB, id)).toHaveLength(1);
    expect(await receipts(db, id)).toHaveLength(2);
    expect(hook.deliveries).toEqual([]);
  });

  it('the cloud holding the care page stops: it takes back its "page open here", the app channel fails and the next channel pages the person', async () => {
    const { dir, hook } = await people();
    const db = await pgs.fresh();
    const a = await cloud(db, dir);
    const b = await cloud(secondPool(db), dir);
    const page = await stream(b, 'f1', db);
    await b.stop();
    await page.closed;
    // A cloud stopped in order takes back its "page open here".
    expect(await openOn(db, 'f1')).toEqual([]);
    const rep = report();
    await a.alerts.intake(rep);
    const d = await waitFor(() => hook.deliveries.find((x) => x.kind === 'page'), 'f1 paged by webhook');
    await a.alerts.idle();
    expect((await a.alerts.repo.attempts(d.deliveryId)).map((x) => [x.channelType, x.ok])).toEqual([['app', false], ['webhook', true]]);
    expect(await a.alerts.repo.notification(d.deliveryId)).toMatchObject({ status: 'delivered', channelType: 'webhook' });
    expect(await receipts(db, d.deliveryId)).toEqual([]);
    expect(page.pages()).toEqual([]);
  });

  it('the listening connection of the cloud holding the page breaks: it listens again and the next page reaches the page', async () => {
    const { dir, hook } = await people();
    const db = await pgs.fresh();
    const a = await cloud(db, dir);
    const b = await cloud(secondPool(db), dir);
    const page = await stream(b, 'f1', db);
    const listener = async () => (await db.query<{ pid: number }>('listener',
      "SELECT pid FROM pg_stat_activity WHERE application_name = 'yulan-cloud-2' AND query LIKE 'LISTEN yulan_care_page%'")).rows.map((r) => r.pid);
    const [before] = await waitFor(async () => { const p = await listener(); return p.length === 1 ? p : undefined; }, 'cloud B listening');
    await db.query('kill', 'SELECT pg_terminate_backend($1)', [before]);
    await waitFor(async () => { const p = await listener(); return p.length === 1 && p[0] !== before; }, 'cloud B listening again');
    await waitFor(async () => (await openOn(db, 'f1')).length === 1, 'f1\'s page announced again');
    const rep = report();
    await a.alerts.intake(rep);
    const shown = await waitFor(() => page.pages().find((p) => (p.alert as { id: string }).id === rep.id), 'the page on cloud B after it reconnected');
    await waitFor(async () => (await a.alerts.repo.notification(shown.deliveryId as string))?.status === 'delivered', 'the delivery recorded');
    await a.alerts.idle();
    expect(await a.alerts.repo.notification(shown.deliveryId as string)).toMatchObject({ channelType: 'app', channelIndex: 0 });
    expect(hook.deliveries).toEqual([]);
  });

  it('a cloud killed while holding a care page (its "page open" not yet expired): the sender waits its bound, then the next channel', async () => {
    const { dir, hook } = await people();
    const db = await pgs.fresh();
    const a = await cloud(db, dir);
    // What a killed cloud leaves behind: a fresh "f1's page is open here", and nobody to answer.
    await db.query('dead cloud', "INSERT INTO alerts.app_streams (cloud, user_id, seen_at_ms) VALUES ('killed-cloud', 'f1', (extract(epoch FROM clock_timestamp()) * 1000)::bigint)");
    const asked = await hear(db, 'yulan_care_page');
    const rep = report();
    await a.alerts.intake(rep);
    const d = await waitFor(() => hook.deliveries.find((x) => x.kind === 'page'), 'f1 paged by webhook');
    await a.alerts.idle();
    expect(asked.filter((x) => x.includes(`|${d.deliveryId}|f1`))).toHaveLength(1);
    expect((await a.alerts.repo.attempts(d.deliveryId)).map((x) => [x.channelType, x.ok, x.error])).toEqual([
      ['app', false, 'no open care-page stream on any cloud confirmed it'], ['webhook', true, null],
    ]);
    expect(await receipts(db, d.deliveryId)).toEqual([]);
  });

  it('the sending cloud dies after cloud B showed the page: B re-sends the delivery from the receipt, and the page is not shown twice', async () => {
    const { dir, hook } = await people();
    const db = await pgs.fresh();
    // Cloud B is up with f1's page open (its sweeps run often here: it must pick up the dead cloud's row).
    const b = await cloud(secondPool(db), dir, { sweepMs: 100 }, false);
    const page = await stream(b, 'f1', null);
    // Cloud A decided the page, claimed it, started the app channel …
    const deadStore = await PgAlertStore.open(db);
    const [id] = (await deadStore.change('al_dead', () => ({
      alert: alertRecord('al_dead', { status: 'notifying', deviceId: 'fall-1', residentId: 'res-1', residentName: 'Grandma Li' }), now: Date.now(), timeline: [],
      intents: [{ key: 'al_dead/0/f1/page/0', alertId: 'al_dead', step: 0, userId: 'f1', kind: 'page', n: 0, recipient: null }],
    })))!.intentIds as [string];
    expect(await deadStore.claimNotification(id, 'cloud-a', 600_000)).toBeDefined();
    await deadStore.updateNotification(id, { status: 'sent', channelIndex: 0, channelType: 'app', sentAt: Date.now() });
    b.alerts.start();
    const deadRelay = new PgAppRelay({
      db, hub: { page: () => false, connected: () => 0, users: () => [], onPresence: () => undefined }, payloadOf: async () => null, cloudId: 'cloud-a', log: silentLogger,
    });
    const gone = new AbortController();
    // … B wrote it and recorded its receipt (asked again until B's listener is up) …
    await waitFor(() => deadRelay.deliver('f1', { deliveryId: id } as never, gone.signal), 'cloud B took cloud A\'s page', 20_000);
    expect(pagesOf(page, id)).toHaveLength(1);
    // … and A died before recording the result: its claim lapses, B's sweep sends the row.
    await db.query('lapse', 'UPDATE alerts.notifications SET claim_until_ms = 0 WHERE id = $1', [id]);
    const n = await waitFor(async () => {
      const x = await b.alerts.repo.notification(id);
      return x?.status === 'delivered' ? x : undefined;
    }, 'the delivery recorded by cloud B');
    await b.alerts.idle();
    expect(n).toMatchObject({ channelType: 'app', channelIndex: 0 });
    expect((await b.alerts.repo.attempts(id)).map((x) => [x.channelType, x.ok])).toEqual([['app', true]]);
    expect(pagesOf(page, id)).toHaveLength(1);
    expect(await receipts(db, id)).toHaveLength(1);
    expect(hook.deliveries).toEqual([]);
  });
});
