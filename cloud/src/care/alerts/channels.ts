import nodemailer from 'nodemailer';
import { WebhookHeader, signWebhook } from '@yulan/protos';
import type { Channel, Recipient } from '../contracts.js';
import { renderEmail, type PagePayload } from './messages.js';

/** A channel attempt's result, recorded per attempt (docs/care.md §4: every attempt is stored). */
export type AttemptLog = (ok: boolean, error: string | null) => void;

export const DEFAULT_WEBHOOK_BACKOFF_MS: readonly number[] = [1000, 2000, 4000, 8000];
const WEBHOOK_TIMEOUT_MS = 5000;

/** Sleeps unless aborted (close() must not wait out a backoff). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('aborted'));
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = (): void => { clearTimeout(t); reject(new Error('aborted')); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Signed POST with retries (1 + backoff.length attempts); throws when all fail. */
export async function sendWebhook(
  channel: Channel, payload: PagePayload, backoffMs: readonly number[], now: () => number, signal: AbortSignal, log: AttemptLog,
): Promise<void> {
  if (!channel.secret) {
    log(false, 'webhook channel has no secret');
    throw new Error('webhook channel has no secret; refusing to send unsigned');
  }
  const body = JSON.stringify(payload);
  let lastError = 'not attempted';
  for (let attempt = 0; attempt <= backoffMs.length; attempt++) {
    if (attempt > 0) await sleep(backoffMs[attempt - 1] as number, signal);
    // Each attempt is signed afresh: a receiver rejects stale timestamps.
    const ts = now();
    try {
      const res = await fetch(channel.address, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [WebhookHeader.Delivery]: payload.deliveryId,
          [WebhookHeader.Timestamp]: String(ts),
          [WebhookHeader.Signature]: signWebhook(channel.secret, ts, body),
        },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)]),
        redirect: 'manual',
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return log(true, null);
      lastError = `HTTP ${res.status}`;
    } catch (err) {
      if (signal.aborted) throw err;
      lastError = (err as Error).message;
    }
    log(false, lastError);
  }
  throw new Error(`webhook failed after ${backoffMs.length + 1} attempts: ${lastError}`);
}

export interface EmailSender {
  send(to: string, recipient: Recipient, payload: PagePayload): Promise<void>;
  close(): void;
}

/** SMTP through nodemailer; delivered = the server accepted the message. */
export function createEmailSender(smtp: { url: string; from: string }): EmailSender {
  const transport = nodemailer.createTransport(smtp.url);
  return {
    async send(to, recipient, payload) {
      const { subject, text } = renderEmail(payload, recipient.locale);
      const info = await transport.sendMail({
        from: smtp.from,
        to,
        subject,
        text,
        headers: { 'X-Yulan-Delivery': payload.deliveryId },
      });
      if (info.accepted.length === 0) throw new Error(`SMTP rejected ${to}`);
    },
    close: () => transport.close(),
  };
}
