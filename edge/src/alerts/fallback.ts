import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';
import { signWebhook } from '@yulan/protos';
import type { AlertRecord } from '../domain/alert-types.js';
import type { EdgeMetrics } from '../metrics.js';
import { PageStatus, type AlertStore, type EdgeNotification, type FallbackPage } from './alert-store.js';
import { httpCall, redact } from './http-client.js';

export interface FallbackConfig {
  /** An urgent alert the cloud has not accepted this long after it turned urgent is paged here. */
  afterMs: number;
  webhook?: { url: string; secret: string };
  email?: { smtpUrl: string; to: string[]; from: string };
}

export interface FallbackOptions {
  /** Waits between attempts of one page (attempts = length + 1). */
  retryDelaysMs: number[];
  timeoutMs: number;
  checkEveryMs: number;
  now?: () => number;
}

type Channel = FallbackPage['channel'];

/**
 * The edge's own escalation (docs/care.md, "Edge fallback escalation"): when the cloud has
 * not accepted an urgent alert in time, page the configured channels directly. The intent
 * (one row per channel, deterministic delivery id) is committed before anything is sent,
 * so a restart never pages an alert twice; a page interrupted mid-send is re-sent once at
 * start with the same X-Yulan-Delivery id, which receivers use to drop the duplicate.
 * Every attempt is recorded and, through a new revision, reaches the cloud with the alert.
 */
export class Fallback {
  private timer: NodeJS.Timeout | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private readonly warned = new Set<string>();
  private readonly now: () => number;
  private readonly mailer: Transporter | undefined;

  constructor(
    private readonly store: AlertStore, private readonly config: FallbackConfig, private readonly metrics: EdgeMetrics,
    private readonly logger: Logger, private readonly opts: FallbackOptions,
    /** A page finished: a new revision with its attempts is waiting for the uplink. */
    private readonly onPaged: () => void,
  ) {
    this.now = opts.now ?? Date.now;
    if (config.email) {
      this.mailer = nodemailer.createTransport({
        url: config.email.smtpUrl, connectionTimeout: opts.timeoutMs, greetingTimeout: opts.timeoutMs, socketTimeout: opts.timeoutMs,
      });
    }
  }

  get channels(): Channel[] {
    return [...(this.config.webhook ? ['webhook' as const] : []), ...(this.config.email ? ['email' as const] : [])];
  }

  start(): void {
    for (const p of this.store.unfinishedPages()) {
      const alert = this.store.alert(p.alertId);
      if (alert && this.channels.includes(p.channel)) {
        this.logger.warn({ alertId: p.alertId, channel: p.channel }, 'resending a fallback page interrupted by a restart (same delivery id)');
        this.track(this.send(alert, p.channel, p.deliveryId));
      } else {
        this.store.finishPage(p.alertId, p.channel, PageStatus.Failed, this.now());
      }
    }
    this.timer = setInterval(() => this.check(), this.opts.checkEveryMs);
    this.timer.unref();
  }

  /** Pages every urgent alert that is overdue at the cloud. Public for tests. */
  check(): void {
    if (this.abort.signal.aborted) return;
    let due: AlertRecord[];
    try {
      due = this.store.dueForFallback(this.now(), this.config.afterMs);
    } catch (err) {
      this.logger.error({ err }, 'fallback check failed');
      return;
    }
    for (const alert of due) {
      const channels = this.channels;
      const pages = channels.map((channel) => ({ alertId: alert.id, channel, deliveryId: `edge-${alert.id}-${channel}` }));
      this.store.beginFallback(alert.id, pages);
      if (pages.length === 0) {
        if (!this.warned.has(alert.id)) {
          this.warned.add(alert.id);
          this.logger.error({ alertId: alert.id, deviceId: alert.deviceId, type: alert.type },
            'URGENT alert not accepted by the cloud and no fallback channel is configured: it may reach nobody');
        }
        continue;
      }
      this.logger.warn({ alertId: alert.id, deviceId: alert.deviceId, channels }, 'cloud has not accepted an urgent alert; paging the fallback channels');
      for (const p of pages) this.track(this.send(alert, p.channel, p.deliveryId));
    }
  }

  private track(p: Promise<void>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private async send(alert: AlertRecord, channel: Channel, deliveryId: string): Promise<void> {
    const attempts = this.opts.retryDelaysMs.length + 1;
    let ok = false;
    for (let attempt = 1; attempt <= attempts && !ok; attempt++) {
      if (this.abort.signal.aborted) return; // stays 'sending': resent once at the next start
      const report = { ...alert, edgeNotifications: this.store.notifications(alert.id) };
      let error: string | undefined;
      try {
        if (channel === 'webhook') await this.sendWebhook(report, deliveryId);
        else await this.sendEmail(report, deliveryId);
        ok = true;
      } catch (err) {
        error = (err as Error).message.slice(0, 300);
      }
      if (this.abort.signal.aborted && !ok) return;
      const n: EdgeNotification = { channel, target: this.target(channel), atMs: this.now(), ok, attempt, ...(error ? { error } : {}) };
      this.store.recordAttempt(alert.id, n);
      if (!ok && attempt < attempts) await this.delay(this.opts.retryDelaysMs[attempt - 1] ?? 1000);
    }
    if (this.abort.signal.aborted && !ok) return;
    this.store.finishPage(alert.id, channel, ok ? PageStatus.Sent : PageStatus.Failed, this.now());
    if (ok) this.metrics.fallbackPages.ok++;
    else this.metrics.fallbackPages.failed++;
    const log = { alertId: alert.id, channel, deliveryId };
    if (ok) this.logger.info(log, 'fallback page delivered');
    else this.logger.error(log, 'fallback page failed after all attempts');
    this.onPaged();
  }

  private target(channel: Channel): string {
    return channel === 'webhook' ? redact(this.config.webhook?.url ?? '') : (this.config.email?.to.join(', ') ?? '');
  }

  private async sendWebhook(alert: AlertRecord & { edgeNotifications: EdgeNotification[] }, deliveryId: string): Promise<void> {
    const wh = this.config.webhook as NonNullable<FallbackConfig['webhook']>;
    const body = JSON.stringify({
      deliveryId, kind: 'page', alert, recipient: { channel: 'webhook', via: 'edge-fallback' }, careUrl: null,
    });
    const ts = this.now();
    const res = await httpCall(wh.url, {
      method: 'POST', body, timeoutMs: this.opts.timeoutMs, maxBytes: 64 * 1024, signal: this.abort.signal,
      headers: { 'x-yulan-delivery': deliveryId, 'x-yulan-timestamp': String(ts), 'x-yulan-signature': signWebhook(wh.secret, ts, body) },
    });
    if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
  }

  private async sendEmail(alert: AlertRecord, deliveryId: string): Promise<void> {
    const em = this.config.email as NonNullable<FallbackConfig['email']>;
    const when = new Date(alert.firstEventAtMs).toISOString();
    await (this.mailer as Transporter).sendMail({
      from: em.from, to: em.to, subject: `[Yulan] 紧急 URGENT: ${alert.type} — ${alert.deviceId}`,
      headers: { 'X-Yulan-Delivery': deliveryId },
      text: [
        `紧急告警（云端不可达，由边缘网关直接发送）/ Urgent alert (the cloud is unreachable; sent by the edge)`,
        '',
        `类型 type: ${alert.type}    级别 level: ${alert.level}    确认 confirmed: ${alert.confirmed}`,
        `设备 device: ${alert.deviceId} (site ${alert.site})`,
        `时间 first event: ${when}`,
        `${alert.message}`,
        '',
        `alert id: ${alert.id} (revision ${alert.revision}); delivery ${deliveryId}`,
      ].join('\n'),
    });
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.abort.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.abort.abort();
    await Promise.allSettled([...this.inflight]);
    this.mailer?.close();
  }
}
