import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { WebhookHeader, signWebhook } from '@yulan/protos';
import type { AlertsModule } from '../src/care/alerts/index.js';
import { deadUrl, tempDir, waitFor } from './helpers.js';
import { FakeDirectory, alertsApp, as, edgeAuth, openTestAlerts, report, startReceiver, startSmtp, type Receiver, type SmtpSink } from './care-alerts-support.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(configure: (dir: FakeDirectory) => Promise<void> | void, smtp?: SmtpSink) {
  const tmp = tempDir('yulan-alerts-delivery-');
  const dir = new FakeDirectory();
  dir.devices.set('fall-1', { id: 'res-1', name: 'Grandma Li', communityId: 'c1' });
  await configure(dir);
  const alerts = await openTestAlerts(join(tmp.dir, 'alerts.sqlite'), dir, smtp ? { smtp: { url: smtp.url, from: 'yulan@care.test' } } : {});
  alerts.start();
  const app = await alertsApp(alerts);
  cleanups.push(tmp.cleanup, () => alerts.close(), () => app.close());
  return { dir, alerts, app };
}

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  cleanups.push(() => r.close());
  return r;
}
const hookOf = (r: Receiver) => ({ type: 'webhook' as const, address: r.url, secret: r.secret });

async function intake(app: FastifyInstance, over: Parameters<typeof report>[0] = {}) {
  const rep = report(over);
  const res = await app.inject({ method: 'POST', url: '/api/v1/internal/alerts', headers: edgeAuth, payload: rep });
  expect(res.statusCode).toBe(200);
  return rep;
}

/** A receiver's signed callback; the body names the delivery taken from the URL. */
function signedPost(app: FastifyInstance, url: string, secret: string, body = JSON.stringify({ deliveryId: url.split('/').at(-2) }), ts = Date.now()) {
  return app.inject({
    method: 'POST', url,
    headers: { 'content-type': 'application/json', [WebhookHeader.Timestamp]: String(ts), [WebhookHeader.Signature]: signWebhook(secret, ts, body) },
    payload: body,
  });
}

describe('escalation end to end (webhooks)', () => {
  it('family 1, then family 2, then the worker, with reminders; a claim stops it and everyone paged is told', async () => {
    const r = { f1: await receiver(), f2: await receiver(), w1: await receiver(), cc1: await receiver() };
    const { alerts, app } = await setup((dir) => {
      for (const [id, rec] of Object.entries(r)) dir.add(id, id === 'w1' ? 'worker' : id === 'cc1' ? 'callcentre' : 'family', [hookOf(rec)]);
      dir.family = ['f1', 'f2'];
      dir.workers = ['w1'];
      dir.callcentre = ['cc1'];
      dir.config = { cancelWindowSec: 1, familyAckSec: 1, workerAckSec: 30, reminderSec: 1 };
    });
    const rep = await intake(app, { type: 'fall', skipCancelWindow: false });
    expect((await alerts.repo.get(rep.id))?.status).toBe('raised'); // the cancel window first
    await waitFor(() => r.f1.deliveries.some((d) => d.kind === 'page'), 'family 1 paged');
    await waitFor(() => r.f2.deliveries.some((d) => d.kind === 'page'), 'family 2 paged');
    const workerPage = await waitFor(() => r.w1.deliveries.find((d) => d.kind === 'page'), 'worker paged');
    await waitFor(() => r.f1.deliveries.some((d) => d.kind === 'reminder'), 'family 1 reminded');
    expect(workerPage.body).toMatchObject({ kind: 'page', alert: { id: rep.id, residentName: 'Grandma Li', type: 'fall' }, careUrl: `http://care.test/care/#alert=${rep.id}` });

    // The worker claims from the webhook, signed with the channel's secret.
    const ack = await signedPost(app, `/api/v1/notifications/${workerPage.deliveryId}/ack`, r.w1.secret);
    expect(ack.statusCode).toBe(200);
    const claimed = (await alerts.repo.get(rep.id))!;
    expect(claimed).toMatchObject({ status: 'acknowledged', claimedBy: 'w1', nextDueAtMs: null });
    await waitFor(() => r.f1.deliveries.some((d) => d.kind === 'claimed') && r.f2.deliveries.some((d) => d.kind === 'claimed'), 'claimed notices');
    await alerts.idle();
    const claimedNotice = r.f1.deliveries.find((d) => d.kind === 'claimed')!;
    expect(claimedNotice.body).toMatchObject({ alert: { status: 'acknowledged', claimedBy: { userId: 'w1', name: 'Name w1' } } });

    const ns = (await alerts.repo.notificationsFor(rep.id));
    // Nothing paged or reminded after the claim, the claimer is not told about their own claim.
    expect(ns.filter((n) => (n.kind === 'page' || n.kind === 'reminder') && n.createdAt > claimed.claimedAt!)).toEqual([]);
    expect(ns.filter((n) => n.kind === 'claimed').map((n) => n.userId).sort()).toEqual(
      [...new Set(ns.filter((n) => n.kind === 'page').map((n) => n.userId))].filter((u) => u !== 'w1').sort(),
    );
    for (const rec of Object.values(r)) {
      expect(rec.badSignatures).toBe(0);
      expect(new Set(rec.deliveries.map((d) => d.deliveryId)).size).toBe(rec.deliveries.length);
    }
    const detail = (await app.inject({ url: `/api/v1/alerts/${rep.id}`, headers: as('f1') })).json();
    expect(detail.metrics.firstDeliveredMs).toBeGreaterThanOrEqual(0);
    expect(detail.metrics.acknowledgedMs).toBeGreaterThanOrEqual(detail.metrics.firstDeliveredMs);
    expect(detail.timeline.map((t: { kind: string }) => t.kind)).toEqual(expect.arrayContaining(['raised', 'paged', 'delivered', 'claimed']));
  });

  it('a webhook that keeps failing is retried, then the page falls back to email (real SMTP)', async () => {
    const smtp = await startSmtp();
    cleanups.push(() => smtp.close());
    const broken = await receiver();
    broken.failWith = 500;
    const { alerts, app } = await setup((dir) => {
      dir.add('f1', 'family', [hookOf(broken), { type: 'email', address: 'daughter@example.cn' }], 'zh-CN');
      dir.family = ['f1'];
      dir.config = { cancelWindowSec: 0, familyAckSec: 600, workerAckSec: 600, reminderSec: 600 };
    }, smtp);
    const rep = await intake(app);
    await waitFor(() => smtp.messages.length > 0, 'email delivered');
    await alerts.idle();
    const n = (await alerts.repo.notificationsFor(rep.id))[0]!;
    expect(n).toMatchObject({ status: 'delivered', channelType: 'email', channelIndex: 1, attempts: 6 });
    expect(broken.requests).toBe(5); // 1 + 4 retries
    const attempts = (await alerts.repo.attempts(n.id));
    expect(attempts.map((a) => [a.channelType, a.ok])).toEqual([...Array(5).fill(['webhook', false]), ['email', true]]);
    const mail = smtp.messages[0]!;
    expect(mail.to).toEqual(['daughter@example.cn']);
    expect(mail.raw).toContain(`X-Yulan-Delivery: ${n.id}`);
    // zh-CN text, quoted-printable or base64: decode loosely by checking the link and the subject encoding
    expect(mail.raw.replace(/=\r?\n/g, '')).toContain(`care/#alert=3D${rep.id}`);
    expect((await alerts.repo.timeline(rep.id)).map((t) => t.kind)).toEqual(expect.arrayContaining(['channel_failed', 'delivered']));
  });

  it('a person every channel fails for is recorded unreachable and the next step is paged at once', async () => {
    const dead = await deadUrl();
    const f2 = await receiver();
    const { alerts, app } = await setup((dir) => {
      dir.add('f1', 'family', [{ type: 'webhook', address: `${dead}/hook`, secret: 's' }, { type: 'email', address: 'f1@example.com' }, { type: 'app', address: '' }]);
      dir.add('f2', 'family', [hookOf(f2)]);
      dir.family = ['f1', 'f2'];
      // an hour to acknowledge: only "unreachable" can move the ladder on within the test
      dir.config = { cancelWindowSec: 0, familyAckSec: 3600, workerAckSec: 3600, reminderSec: 3600 };
    });
    const rep = await intake(app);
    await waitFor(() => f2.deliveries.some((d) => d.kind === 'page'), 'family 2 paged after family 1 unreachable');
    const f1 = (await alerts.repo.notificationsFor(rep.id)).find((n) => n.userId === 'f1')!;
    expect(f1.status).toBe('failed');
    expect((await alerts.repo.attempts(f1.id)).map((a) => a.channelType)).toEqual(['webhook', 'webhook', 'webhook', 'webhook', 'webhook', 'email', 'app']);
    expect((await alerts.repo.timeline(rep.id))).toContainEqual(expect.objectContaining({ kind: 'unreachable', actor: 'f1' }));
  });
});

describe('app channel (SSE)', () => {
  it('delivers pages to an open care-page stream; the page confirms with its session; no stream → next channel', async () => {
    const fallback = await receiver();
    const { alerts, app } = await setup((dir) => {
      dir.add('f1', 'family', [{ type: 'app', address: '' }]);
      dir.add('f2', 'family', [{ type: 'app', address: '' }, hookOf(fallback)]);
      dir.family = ['f1'];
      dir.workers = ['f2'];
      dir.access.set('f1', ['res-1']);
      dir.config = { cancelWindowSec: 0, familyAckSec: 1, workerAckSec: 600, reminderSec: 600 };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const ctrl = new AbortController();
    cleanups.push(() => ctrl.abort());
    const res = await fetch(`${base}/api/v1/care/stream`, { headers: as('f1'), signal: ctrl.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    await waitFor(() => alerts.hub.connected('f1') === 1, 'stream registered');
    const events: { event: string; data: Record<string, unknown> }[] = [];
    void (async () => {
      const dec = new TextDecoder();
      let buf = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
        }
      }
    })().catch(() => undefined);

    const rep = await intake(app);
    const page = await waitFor(() => events.find((e) => e.event === 'page'), 'page event on the stream');
    expect(page.data).toMatchObject({ kind: 'page', alert: { id: rep.id }, recipient: { userId: 'f1' } });
    await waitFor(() => events.some((e) => e.event === 'alert' && (e.data as { id: string }).id === rep.id), 'alert upsert event');
    const n = await waitFor(async () => (await alerts.repo.notificationsFor(rep.id)).find((x) => x.userId === 'f1' && x.status === 'delivered'), 'app delivery recorded');
    expect(n).toMatchObject({ status: 'delivered', channelType: 'app' });

    // the page confirms it showed the notification, with the session of its recipient only
    expect((await app.inject({ method: 'POST', url: `/api/v1/notifications/${n.id}/receipt`, headers: as('f2') })).statusCode).toBe(404);
    const receipt = await app.inject({ method: 'POST', url: `/api/v1/notifications/${n.id}/receipt`, headers: as('f1') });
    expect(receipt.statusCode).toBe(200);
    expect(receipt.json().readAt).toBeGreaterThan(0);

    // f2 has no stream open: the app channel fails at once and the webhook takes over
    const viaHook = await waitFor(() => fallback.deliveries.find((d) => d.kind === 'page'), 'f2 paged by webhook');
    const n2 = await waitFor(async () => {
      const x = (await alerts.repo.notification(viaHook.deliveryId));
      return x?.status === 'delivered' ? x : undefined;
    }, 'webhook delivery recorded');
    expect(n2).toMatchObject({ status: 'delivered', channelType: 'webhook', channelIndex: 1 });
    expect((await alerts.repo.attempts(n2.id))[0]).toMatchObject({ channelType: 'app', ok: false, error: 'no open care-page stream' });
    // the admin token has no stream of its own
    expect((await app.inject({ url: '/api/v1/care/stream', headers: { authorization: 'Bearer nope' } })).statusCode).toBe(401);
  });
});

describe('receipts and acks by delivery id', () => {
  it('unsigned, forged, stale or unknown: 401 and nothing changes; a good signature works', async () => {
    const hook = await receiver();
    const { alerts, app } = await setup((dir) => {
      dir.add('f1', 'family', [hookOf(hook)]);
      dir.family = ['f1'];
      dir.config = { cancelWindowSec: 0, familyAckSec: 600, workerAckSec: 600, reminderSec: 600 };
    });
    const rep = await intake(app);
    const d = await waitFor(() => hook.deliveries[0], 'page');
    const url = (what: string, id = d.deliveryId) => `/api/v1/notifications/${id}/${what}`;
    for (const what of ['receipt', 'ack']) {
      const bad = [
        await app.inject({ method: 'POST', url: url(what) }),
        await signedPost(app, url(what), 'not-the-secret'),
        await signedPost(app, url(what), hook.secret, undefined, Date.now() - 6 * 60_000),
        // validly signed, but naming another delivery: a replay against this one
        await signedPost(app, url(what), hook.secret, JSON.stringify({ deliveryId: 'dl_other' })),
        await signedPost(app, url(what), hook.secret, ''),
        await signedPost(app, url(what, 'dl_unknown'), hook.secret),
        await app.inject({ method: 'POST', url: url(what), headers: { [WebhookHeader.Timestamp]: String(Date.now()), [WebhookHeader.Signature]: 'v1=zz' } }),
      ];
      // receipt without any signature falls to the session path: 401 as well (no session)
      for (const r of bad) expect(r.statusCode, `${what}`).toBe(401);
    }
    // a signature over a different body than the one sent
    const ts = Date.now();
    const tampered = await app.inject({ method: 'POST', url: url('ack'), headers: { 'content-type': 'application/json', [WebhookHeader.Timestamp]: String(ts), [WebhookHeader.Signature]: signWebhook(hook.secret, ts, '{"a":1}') }, payload: '{"a":2}' });
    expect(tampered.statusCode).toBe(401);
    expect((await alerts.repo.get(rep.id))?.status).toBe('notifying');
    expect((await alerts.repo.notification(d.deliveryId))?.readAt).toBeNull();

    const receipt = await signedPost(app, url('receipt'), hook.secret, JSON.stringify({ deliveryId: d.deliveryId, seen: true }));
    expect(receipt.statusCode).toBe(200);
    expect((await alerts.repo.notification(d.deliveryId))?.readAt).not.toBeNull();
    const ack = await signedPost(app, url('ack'), hook.secret);
    expect(ack.statusCode).toBe(200);
    expect((await alerts.repo.get(rep.id))).toMatchObject({ status: 'acknowledged', claimedBy: 'f1' });
    expect((await alerts.repo.timeline(rep.id))).toContainEqual(expect.objectContaining({ kind: 'claimed', actor: 'f1', detail: { via: 'webhook' } }));
  });
});
