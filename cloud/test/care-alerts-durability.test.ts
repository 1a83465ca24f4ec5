import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteAlertStore } from '../src/care/alerts/index.js';
import { tempDir, waitFor } from './helpers.js';
import { FakeDirectory, openTestAlerts, report, startReceiver, type Receiver } from './care-alerts-support.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function people(ackSec: number) {
  const r = { f1: await startReceiver(), f2: await startReceiver(), w1: await startReceiver() };
  cleanups.push(() => Promise.all(Object.values(r).map((x) => x.close())).then(() => undefined));
  const dir = new FakeDirectory();
  dir.devices.set('fall-1', { id: 'res-1', name: 'Grandma Li', communityId: 'c1' });
  for (const [id, rec] of Object.entries(r)) dir.add(id, id === 'w1' ? 'worker' : 'family', [{ type: 'webhook', address: rec.url, secret: rec.secret }]);
  dir.family = ['f1', 'f2'];
  dir.workers = ['w1'];
  dir.config = { cancelWindowSec: 0, familyAckSec: ackSec, workerAckSec: 600, reminderSec: 600 };
  return { r, dir };
}

const ids = (rec: Receiver) => rec.deliveries.map((d) => d.deliveryId);

describe('durable ladder', () => {
  it('survives an abrupt stop mid-ladder: the reopened module pages step 1 on time and nobody gets a duplicate', async () => {
    const tmp = tempDir('yulan-alerts-durable-');
    cleanups.push(tmp.cleanup);
    const file = join(tmp.dir, 'alerts.sqlite');
    const { r, dir } = await people(2);

    const first = await openTestAlerts(file, dir);
    first.start();
    const rep = report();
    await first.intake(rep);
    await waitFor(() => r.f1.deliveries.length === 1, 'family 1 paged');
    await waitFor(async () => (await first.repo.notificationsFor(rep.id))[0]?.status === 'delivered', 'delivery recorded');
    const before = (await first.repo.get(rep.id))!;
    expect(before.ladder.step).toBe(0);
    expect(before.nextDueAtMs).toBe(before.ladder.stepAtMs! + 2000);
    await first.close(); // stops the timer and the dispatcher without running step 1

    const second = await openTestAlerts(file, dir);
    cleanups.push(() => second.close());
    second.start();
    await waitFor(() => r.f2.deliveries.some((d) => d.kind === 'page'), 'family 2 paged after the restart');
    await second.idle();
    const ns = (await second.repo.notificationsFor(rep.id));
    const f2page = ns.find((n) => n.userId === 'f2' && n.kind === 'page')!;
    // step 1 came when it was due, not at the restart and not twice
    expect(f2page.createdAt).toBeGreaterThanOrEqual(before.nextDueAtMs!);
    expect(ns.filter((n) => n.kind === 'page').map((n) => n.userId)).toEqual(['f1', 'f2']);
    expect(new Set(ids(r.f1)).size).toBe(ids(r.f1).length);
    expect(ids(r.f1)).toHaveLength(1);
    expect(ids(r.f2)).toHaveLength(1);
    for (const rec of Object.values(r)) expect(rec.badSignatures).toBe(0);
  });

  it('an intent written but never sent (crash before dispatch) is sent after the restart, once', async () => {
    const tmp = tempDir('yulan-alerts-durable-');
    cleanups.push(tmp.cleanup);
    const file = join(tmp.dir, 'alerts.sqlite');
    const { r, dir } = await people(600);
    const hold = { ...dir.people.get('f1')!, channels: [{ type: 'webhook' as const, address: 'http://127.0.0.1:9/nowhere', secret: 'x' }] };
    // First run: f1's webhook points nowhere and the backoff is long, so the page is in flight when we stop.
    const realPerson = dir.person.bind(dir);
    dir.person = async (id: string) => (id === 'f1' ? hold : realPerson(id));
    const first = await openTestAlerts(file, dir, { webhookBackoffMs: [60_000, 60_000, 60_000, 60_000] });
    first.start();
    const rep = report();
    await first.intake(rep);
    await waitFor(async () => (await first.repo.attempts((await first.repo.notificationsFor(rep.id))[0]!.id)).length === 1, 'first attempt made');
    await first.close();
    const row = new SqliteAlertStore(file);
    const mid = await row.notificationsFor(rep.id);
    await row.close();
    expect(mid.map((n) => [n.userId, n.status])).toEqual([['f1', 'sent']]);

    dir.person = realPerson; // the receiver is back
    const second = await openTestAlerts(file, dir);
    cleanups.push(() => second.close());
    second.start();
    await waitFor(() => r.f1.deliveries.length === 1, 'resumed page delivered');
    await second.idle();
    expect(r.f1.deliveries[0]?.deliveryId).toBe(mid[0]?.id); // same delivery id: receivers can drop a re-send
    expect((await second.repo.notificationsFor(rep.id))).toHaveLength(1);
  });

  it('a timer that was due while the process was down runs at start', async () => {
    const tmp = tempDir('yulan-alerts-durable-');
    cleanups.push(tmp.cleanup);
    const file = join(tmp.dir, 'alerts.sqlite');
    const { r, dir } = await people(1);
    dir.config.cancelWindowSec = 1;
    const first = await openTestAlerts(file, dir);
    // not started: the scheduler never arms, as if the process died right after intake
    await first.intake(report({ skipCancelWindow: false, firstEventAtMs: Date.now() }));
    expect(r.f1.deliveries).toHaveLength(0);
    await first.close();
    const second = await openTestAlerts(file, dir);
    cleanups.push(() => second.close());
    second.start();
    await waitFor(() => r.f1.deliveries.length === 1, 'overdue step 0 paged at start');
  });
});
