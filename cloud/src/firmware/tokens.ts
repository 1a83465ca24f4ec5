import { createHmac, timingSafeEqual } from 'node:crypto';

/** Download tokens live 15 minutes: long enough for a slow link to fetch and resume, short
 * enough that a leaked URL is soon worthless. */
export const DOWNLOAD_TOKEN_TTL_MS = 15 * 60_000;

/** Slack for the clock moving forward between issue and check (NTP steps). */
const MAX_CLOCK_STEP_MS = 60_000;

const mac = (secret: Buffer, deviceId: string, firmwareId: string, exp: number): Buffer =>
  createHmac('sha256', secret).update(`yulan-fw-download\n${deviceId}\n${firmwareId}\n${exp}`).digest();

/** `<expiry ms>.<base64url HMAC>`, bound to one device and one image. */
export function issueDownloadToken(secret: Buffer, deviceId: string, firmwareId: string, nowMs: number, ttlMs = DOWNLOAD_TOKEN_TTL_MS): string {
  const exp = nowMs + ttlMs;
  return `${exp}.${mac(secret, deviceId, firmwareId, exp).toString('base64url')}`;
}

export const TokenProblem = { Malformed: 'malformed', Expired: 'expired', Mismatch: 'mismatch', Lifetime: 'lifetime' } as const;
export type TokenProblem = (typeof TokenProblem)[keyof typeof TokenProblem];

/** undefined when valid, else why not. */
export function checkDownloadToken(secret: Buffer, token: string, deviceId: string, firmwareId: string, nowMs: number): TokenProblem | undefined {
  const m = /^(\d{1,16})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!m) return TokenProblem.Malformed;
  const exp = Number(m[1]);
  const given = Buffer.from(m[2] as string, 'base64url');
  const want = mac(secret, deviceId, firmwareId, exp);
  // Check the MAC before the expiry, so an attacker learns nothing from the order of answers.
  if (given.length !== want.length || !timingSafeEqual(given, want)) return TokenProblem.Mismatch;
  if (nowMs >= exp) return TokenProblem.Expired;
  // The cloud never issues a longer one: a token that claims to live longer was minted
  // elsewhere with a copied key (a year-long one was accepted before this check).
  if (exp - nowMs > DOWNLOAD_TOKEN_TTL_MS + MAX_CLOCK_STEP_MS) return TokenProblem.Lifetime;
  return undefined;
}
