import type { Logger } from 'pino';
import type { CareDirectory, Channel, Recipient } from '../contracts.js';
import { sendWebhook, type EmailSender } from './channels.js';
import { NotificationKind, NotificationStatus } from './model.js';
import type { AlertSummary, PagePayload } from './messages.js';
import type { AlertRecord, AlertRepository, NotificationRecord } from './repository.js';
import type { SseHub } from './sse-hub.js';

export interface DispatcherOptions {
  repo: AlertRepository;
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

/**
 * Sends notification rows, each through the person's channels in order until one
 * delivers. An async queue with bounded concurrency, so a slow webhook never holds up
 * intake or other people's pages. Every row is durable before it is queued; rows left
 * pending, mid-send or between channels by a crash are resumed by `resume()`.
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

  resume(): void {
    this.enqueue(this.o.repo.openNotificationIds());
  }

  /** Resolves when nothing is queued or in flight (tests, orderly shutdown). */
  idle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Abandons in-flight sends (their rows stay open and resume at the next start). */
  stop(): void {
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
    const { repo, directory, now, log } = this.o;
    const n = repo.notification(id);
    if (!n || n.status === NotificationStatus.Delivered || n.status === NotificationStatus.Failed) return;
    const alert = repo.get(n.alertId);
    if (!alert) return;
    const person: Recipient | null = (await directory.person(n.userId).catch(() => null)) ?? n.recipient;
    const payload: PagePayload = {
      deliveryId: n.id, kind: n.kind, alert: await summarize(alert, directory),
      recipient: { userId: n.userId, name: person?.name ?? n.userId, role: person?.role ?? 'unknown' },
      careUrl: this.o.careUrl(alert.id),
    };
    const channels = person?.channels ?? [];
    let attempts = n.attempts;
    for (let i = n.channelIndex; i < channels.length; i++) {
      const ch = channels[i] as Channel;
      this.guard();
      repo.updateNotification(id, { channelIndex: i, channelType: ch.type, status: NotificationStatus.Sent, sentAt: now() });
      const record = (ok: boolean, error: string | null): void => {
        if (this.abort.signal.aborted) return;
        attempts++;
        repo.addAttempt(id, now(), i, ch.type, ok, error);
        repo.updateNotification(id, { attempts });
      };
      try {
        await this.sendOn(ch, person as Recipient, payload, record);
        this.guard();
        repo.tx(() => {
          repo.updateNotification(id, { status: NotificationStatus.Delivered, deliveredAt: now(), error: null });
          repo.addTimeline(n.alertId, now(), 'delivered', n.userId, { notificationId: id, kind: n.kind, channel: ch.type });
        });
        log.info({ alertId: n.alertId, notificationId: id, userId: n.userId, kind: n.kind, channel: ch.type }, 'notification delivered');
        return;
      } catch (err) {
        this.guard();
        const msg = (err as Error).message;
        repo.updateNotification(id, { status: NotificationStatus.Fallback, error: `${ch.type}: ${msg}` });
        repo.addTimeline(n.alertId, now(), 'channel_failed', n.userId, { notificationId: id, kind: n.kind, channel: ch.type, error: msg });
        // No open care page is the app channel's ordinary "not here": not worth a warning.
        log[ch.type === 'app' ? 'info' : 'warn']({ alertId: n.alertId, notificationId: id, channel: ch.type, err: msg }, 'channel failed; falling back');
      }
    }
    repo.updateNotification(id, { status: NotificationStatus.Failed, error: channels.length === 0 ? 'no channel' : (repo.notification(id)?.error ?? null) });
    log.error({ alertId: n.alertId, notificationId: id, userId: n.userId, kind: n.kind }, 'every channel failed');
    // A person who cannot be told of the alert, or of a new event on it, is unreachable:
    // the ladder moves on (a claim waiting for confirmation lapses on its own timer).
    if (n.kind === NotificationKind.Page || n.kind === NotificationKind.Reminder || n.kind === NotificationKind.Update) await this.o.onUnreachable(n.alertId, n.userId);
    else repo.addTimeline(n.alertId, now(), 'notice_failed', n.userId, { notificationId: id, kind: n.kind });
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
    const ok = o.hub.page(person.userId, payload);
    record(ok, ok ? null : 'no open care-page stream');
    if (!ok) throw new Error('no open care-page stream');
  }
}
