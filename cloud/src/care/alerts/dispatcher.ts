import type { Logger } from 'pino';
import type { CareDirectory, Channel, Recipient } from '../contracts.js';
import type { AppChannel } from './pg-app-relay.js';
import { sendWebhook, type EmailSender } from './channels.js';
import { NotificationKind, NotificationStatus } from './model.js';
import type { AlertSummary, PagePayload } from './messages.js';
import type { AlertRecord, AlertStore, NotificationRecord } from './store.js';
import type { SseHub } from './sse-hub.js';

export interface DispatcherOptions {
  repo: AlertStore;
  directory: CareDirectory;
  hub: SseHub;
  email: EmailSender | null;
  log: Logger;
  now: () => number;
  careUrl: (alertId: string) => string;
  webhookBackoffMs: readonly number[];
  /** every channel of a person failed for a page/reminder */
  onUnreachable(alertId: string, userId: string): Promise<void>;
  concurrency?: number;
  /** who this dispatcher is in notification claims (one per cloud process) */
  owner: string;
  /** how long a claim on a notification lasts without renewal (renewed before each channel) */
  claimMs: number;
  /** several clouds: look for rows nobody holds (a dead cloud's) this often; null: only at start */
  sweepMs: number | null;
  /** several clouds: the app channel reaches pages open on any cloud (pg-app-relay.ts); absent: this cloud's streams only */
  app?: AppChannel;
}

export async function summarize(a: AlertRecord, directory: CareDirectory): Promise<AlertSummary> {
  const claimer = a.claimedBy ? await directory.person(a.claimedBy).catch(() => null) : null;
  return {
    id: a.id, type: a.type, level: a.level, status: a.status, residentId: a.residentId, residentName: a.residentName,
    deviceId: a.deviceId, site: a.site, message: a.report.message ?? null, firstEventAtMs: a.firstEventAtMs, openedAt: a.openedAt,
    claimedBy: a.claimedBy ? { userId: a.claimedBy, name: claimer?.name ?? a.claimedBy } : null, outcome: a.outcome,
    awaitingConfirmation: a.ladder.reconfirm?.userId ?? null, previousAlertId: a.previousAlertId,
  };
}

/** What a channel sends for a notification (the app channel's other clouds build the same from the database). */
export async function pagePayload(
  n: NotificationRecord, alert: AlertRecord, person: Recipient | null, directory: CareDirectory, careUrl: (alertId: string) => string,
): Promise<PagePayload> {
  return {
    deliveryId: n.id, kind: n.kind, alert: await summarize(alert, directory),
    recipient: { userId: n.userId, name: person?.name ?? n.userId, role: person?.role ?? 'unknown' },
    careUrl: careUrl(alert.id),
  };
}

/**
 * Sends notification rows, each through the person's channels in order until one
 * delivers. An async queue with bounded concurrency, so a slow webhook never holds up
 * intake or other people's pages. Every row is durable before it is queued; rows left
 * pending, mid-send or between channels by a crash are resumed by `resume()`.
 *
 * A row is sent only under a claim taken in the store (`claimNotification`), renewed
 * before each channel: with two clouds, the one that created an intent and the other's
 * sweep may both queue it, and only one sends. A cloud that dies holding a claim stops
 * renewing it; once it lapses the other cloud's sweep (`sweepMs`) picks the row up and
 * sends it from the channel it had reached, with the same delivery id (receivers drop the
 * duplicate of a send that had in fact gone out) — the guarantee a restart gives on SQLite.
 */
export class Dispatcher {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private active = 0;
  private readonly abort = new AbortController();
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly o: DispatcherOptions) {}

  enqueue(ids: string[]): void {
    if (this.abort.signal.aborted) return;
    for (const id of ids) {
      if (this.queued.has(id)) continue;
      this.queued.add(id);
      this.queue.push(id);
    }
    this.pump();
  }

  private sweep: NodeJS.Timeout | undefined;

  /** Queues every row still to send (at start; and every `sweepMs` when clouds share the store). */
  resume(): void {
    const once = (): void => {
      void this.o.repo.openNotificationIds().then((ids) => this.enqueue(ids),
        (err: unknown) => this.o.log.error({ err }, 'reading notifications to send failed'));
    };
    once();
    if (this.o.sweepMs !== null && !this.sweep) {
      this.sweep = setInterval(once, this.o.sweepMs);
      this.sweep.unref();
    }
  }

  /** Resolves when nothing is queued or in flight (tests, orderly shutdown). */
  idle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Abandons in-flight sends (their rows stay open and resume at the next start). */
  stop(): void {
    if (this.sweep) clearInterval(this.sweep);
    this.abort.abort();
    this.queue.length = 0;
  }

  private pump(): void {
    const max = this.o.concurrency ?? 8;
    while (this.active < max && this.queue.length > 0 && !this.abort.signal.aborted) {
      const id = this.queue.shift() as string;
      this.active++;
      void this.process(id)
        .catch((err: unknown) => { if (!this.abort.signal.aborted) this.o.log.error({ err, notificationId: id }, 'notification dispatch failed'); })
        .finally(() => {
          this.active--;
          this.queued.delete(id);
          this.pump();
          if (this.active === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  private async process(id: string): Promise<void> {
    const { repo, directory, now, log, owner, claimMs } = this.o;
    // Not ours (another cloud holds it), or already done.
    const n = await repo.claimNotification(id, owner, claimMs);
    if (!n || n.status === NotificationStatus.Delivered || n.status === NotificationStatus.Failed) return;
    const alert = await repo.get(n.alertId);
    if (!alert) return;
    const person: Recipient | null = (await directory.person(n.userId).catch(() => null)) ?? n.recipient;
    const payload = await pagePayload(n, alert, person, directory, this.o.careUrl);
    const channels = person?.channels ?? [];
    let attempts = n.attempts;
    for (let i = n.channelIndex; i < channels.length; i++) {
      const ch = channels[i] as Channel;
      this.guard();
      if (i > n.channelIndex && !(await repo.claimNotification(id, owner, claimMs))) {
        log.warn({ alertId: n.alertId, notificationId: id }, 'claim on a notification lapsed; another cloud sends it');
        return;
      }
      this.guard();
      await repo.updateNotification(id, { channelIndex: i, channelType: ch.type, status: NotificationStatus.Sent, sentAt: now() });
      // Attempts are recorded in the order they happened, one write after the other.
      let writes = Promise.resolve();
      const record = (ok: boolean, error: string | null): void => {
        if (this.abort.signal.aborted) return;
        attempts++;
        const at = now();
        const count = attempts;
        writes = writes.then(async () => {
          await repo.addAttempt(id, at, i, ch.type, ok, error);
          await repo.updateNotification(id, { attempts: count });
          // Still sending (a webhook's retries take a while): keep the claim.
          await repo.claimNotification(id, owner, claimMs);
        }).catch((err: unknown) => log.error({ err, notificationId: id }, 'recording a delivery attempt failed'));
      };
      try {
        try {
          await this.sendOn(ch, person as Recipient, payload, record);
        } finally {
          await writes;
        }
        this.guard();
        await repo.updateNotification(id, { status: NotificationStatus.Delivered, deliveredAt: now(), error: null },
          { alertId: n.alertId, atMs: now(), kind: 'delivered', actor: n.userId, detail: { notificationId: id, kind: n.kind, channel: ch.type } });
        log.info({ alertId: n.alertId, notificationId: id, userId: n.userId, kind: n.kind, channel: ch.type }, 'notification delivered');
        return;
      } catch (err) {
        this.guard();
        const msg = (err as Error).message;
        await repo.updateNotification(id, { status: NotificationStatus.Fallback, error: `${ch.type}: ${msg}` },
          { alertId: n.alertId, atMs: now(), kind: 'channel_failed', actor: n.userId, detail: { notificationId: id, kind: n.kind, channel: ch.type, error: msg } });
        // No open care page is the app channel's ordinary "not here": not worth a warning.
        log[ch.type === 'app' ? 'info' : 'warn']({ alertId: n.alertId, notificationId: id, channel: ch.type, err: msg }, 'channel failed; falling back');
      }
    }
    await repo.updateNotification(id, { status: NotificationStatus.Failed, error: channels.length === 0 ? 'no channel' : ((await repo.notification(id))?.error ?? null) });
    log.error({ alertId: n.alertId, notificationId: id, userId: n.userId, kind: n.kind }, 'every channel failed');
    // A person who cannot be told of the alert, or of a new event on it, is unreachable:
    // the ladder moves on (a claim waiting for confirmation lapses on its own timer).
    if (n.kind === NotificationKind.Page || n.kind === NotificationKind.Reminder || n.kind === NotificationKind.Update) await this.o.onUnreachable(n.alertId, n.userId);
    else await repo.addTimeline({ alertId: n.alertId, atMs: now(), kind: 'notice_failed', actor: n.userId, detail: { notificationId: id, kind: n.kind } });
  }

  private guard(): void {
    if (this.abort.signal.aborted) throw new Error('dispatcher stopped');
  }

  private async sendOn(ch: Channel, person: Recipient, payload: PagePayload, record: (ok: boolean, e: string | null) => void): Promise<void> {
    const o = this.o;
    if (ch.type === 'webhook') return sendWebhook(ch, payload, o.webhookBackoffMs, o.now, this.abort.signal, record);
    if (ch.type === 'email') {
      try {
        if (!o.email) throw new Error('no SMTP server configured (YULAN_SMTP_URL)');
        await o.email.send(ch.address, person, payload);
        record(true, null);
        return;
      } catch (err) {
        record(false, (err as Error).message);
        throw err;
      }
    }
    if (!o.app) {
      const ok = o.hub.page(person.userId, payload);
      record(ok, ok ? null : 'no open care-page stream');
      if (!ok) throw new Error('no open care-page stream');
      return;
    }
    let ok: boolean;
    try {
      ok = await o.app.deliver(person.userId, payload, this.abort.signal);
    } catch (err) {
      record(false, (err as Error).message);
      throw err;
    }
    const why = 'no open care-page stream on any cloud confirmed it';
    record(ok, ok ? null : why);
    if (!ok) throw new Error(why);
  }
}
