import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The signature on every webhook Yulan sends (cloud notifications, the edge's fallback
 * pages) and on every call a webhook receiver makes back (receipts, claims); docs/care.md §4.
 *
 *   X-Yulan-Timestamp: <ms since epoch>
 *   X-Yulan-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *
 * The timestamp is inside the MAC so a captured request cannot be replayed later with a
 * fresh timestamp; receivers reject timestamps outside a tolerance window.
 */
export const WebhookHeader = {
  Delivery: 'x-yulan-delivery',
  Timestamp: 'x-yulan-timestamp',
  Signature: 'x-yulan-signature',
} as const;

export const DEFAULT_SIGNATURE_TOLERANCE_MS = 5 * 60_000;

export function signWebhook(secret: string, timestampMs: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampMs}.${body}`).digest('hex');
  return `v1=${mac}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch' };

/** Constant-time check of a signature header against the raw body. */
export function verifyWebhook(
  secret: string,
  timestampHeader: string | undefined,
  signatureHeader: string | undefined,
  body: string,
  nowMs = Date.now(),
  toleranceMs = DEFAULT_SIGNATURE_TOLERANCE_MS,
): SignatureCheck {
  if (!timestampHeader || !signatureHeader) return { ok: false, reason: 'missing' };
  if (!/^[0-9]{1,16}$/.test(timestampHeader)) return { ok: false, reason: 'malformed' };
  const m = /^v1=([0-9a-f]{64})$/.exec(signatureHeader.trim());
  if (!m) return { ok: false, reason: 'malformed' };
  const ts = Number(timestampHeader);
  if (Math.abs(nowMs - ts) > toleranceMs) return { ok: false, reason: 'stale' };
  const expected = Buffer.from(signWebhook(secret, ts, body).slice(3), 'hex');
  const given = Buffer.from(m[1] as string, 'hex');
  return timingSafeEqual(expected, given) ? { ok: true } : { ok: false, reason: 'mismatch' };
}
