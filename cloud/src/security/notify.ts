import nodemailer, { type Transporter } from 'nodemailer';
import { WebhookHeader, signWebhook } from '@yulan/protos';
import type { Channel } from '../care/contracts.js';
import type { SecurityAlert } from './store.js';

/** The people who are told: active admins and operators, with their channels. */
export interface OperatorDirectory {
  operators(): Promise<{ id: string; name: string; channels: readonly Channel[] }[]>;
}

export interface SecurityNotice {
  event: 'security.alert.opened' | 'security.alert.closed';
  alert: SecurityAlert;
  /** the console's security page */
  consoleUrl: string;
}

const TIMEOUT_MS = 5000;

/**
 * Tells the operators about a security alert through the channels they set on their own
 * account (docs/care.md §4: webhook, signed like care pages with the channel's secret, and
 * email when SMTP is configured). The `app` channel is the console itself, which lists
 * open alerts on its security page. One attempt per channel: the alert is stored and
 * listed whatever happens here, and the outcome is recorded on it.
 */
export class SecurityNotifier {
  readonly #mail: Transporter | undefined;

  constructor(private readonly o: { directory: OperatorDirectory; smtp?: { url: string; from: string }; now?: () => number }) {
    this.#mail = o.smtp ? nodemailer.createTransport(o.smtp.url) : undefined;
  }

  /** One line per attempt, for the alert's `delivery` field; '' when nobody has a channel. */
  async send(n: SecurityNotice): Promise<string> {
    const results: string[] = [];
    for (const person of await this.o.directory.operators()) {
      for (const ch of person.channels) {
        if (ch.type === 'app') continue;
        const label = `${ch.type}:${person.id}`;
        try {
          if (ch.type === 'webhook') await this.#webhook(ch, n);
          else if (ch.type === 'email') await this.#email(ch.address, n);
          results.push(`${label} sent`);
        } catch (err) {
          results.push(`${label} failed: ${(err as Error).message.slice(0, 120)}`);
        }
      }
    }
    return results.join('; ');
  }

  async #webhook(ch: Channel, n: SecurityNotice): Promise<void> {
    // Never unsigned: a receiver must be able to tell our alerts from forged ones.
    if (!ch.secret) throw new Error('webhook channel has no secret');
    const body = JSON.stringify(n);
    const ts = (this.o.now ?? Date.now)();
    const res = await fetch(ch.address, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [WebhookHeader.Delivery]: `security-${n.alert.id}-${n.event === 'security.alert.opened' ? 'open' : 'close'}`,
        [WebhookHeader.Timestamp]: String(ts),
        [WebhookHeader.Signature]: signWebhook(ch.secret, ts, body),
      },
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: 'manual',
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
  }

  async #email(to: string, n: SecurityNotice): Promise<void> {
    if (!this.#mail || !this.o.smtp) throw new Error('no SMTP server configured (YULAN_SMTP_URL)');
    const a = n.alert;
    const opened = n.event === 'security.alert.opened';
    const subject = `[Yulan security] ${opened ? 'alert' : 'calm again'}: ${a.rule}`;
    const text = [
      opened ? `Security alert #${a.id}: ${a.description}.` : `Security alert #${a.id} (${a.rule}) closed: the rate fell back.`,
      a.windowSec === 0
        ? (opened ? `Now: ${a.openedCount}.` : `At most: ${a.peakCount}; none left now.`)
        : `Threshold: ${a.threshold} within ${a.windowSec} s; ${opened ? `seen ${a.openedCount}` : `peak ${a.peakCount}, ${a.events} events in all`}.`,
      `Opened ${a.openedAt}${a.closedAt ? `, closed ${a.closedAt}` : ''}.`,
      `Details: ${n.consoleUrl} (yulan security alerts).`,
    ].join('\n');
    const info = await this.#mail.sendMail({ from: this.o.smtp.from, to, subject, text });
    if ((info.accepted ?? []).length === 0) throw new Error('SMTP rejected the message');
  }

  close(): void {
    this.#mail?.close();
  }
}
