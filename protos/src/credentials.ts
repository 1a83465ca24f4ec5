import { randomBytes, scrypt as scryptCb, timingSafeEqual, createHash, type ScryptOptions } from 'node:crypto';

/**
 * The one format for stored secrets (device secrets, service-account passwords, API
 * tokens), shared by the services that issue them and the ones that check them:
 *
 *   scrypt$<log2 N>$<r>$<p>$<salt base64url>$<hash base64url>
 *
 * Only this string is ever stored; the secret itself is shown once, when issued.
 */
const DEFAULTS = { log2N: 14, r: 8, p: 1, keyLen: 32 } as const;

function scrypt(secret: string, salt: Buffer, keyLen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(secret, salt, keyLen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const { log2N, r, p, keyLen } = DEFAULTS;
  const key = await scrypt(secret, salt, keyLen, { N: 2 ** log2N, r, p, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${log2N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Constant-time check of `secret` against a stored hash. A malformed hash never matches. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const log2N = Number(parts[1]);
  const r = Number(parts[2]);
  const p = Number(parts[3]);
  if (![log2N, r, p].every((n) => Number.isInteger(n) && n > 0) || log2N > 20) return false;
  const salt = Buffer.from(parts[4] ?? '', 'base64url');
  const expected = Buffer.from(parts[5] ?? '', 'base64url');
  if (salt.length < 8 || expected.length < 16) return false;
  const key = await scrypt(secret, salt, expected.length, { N: 2 ** log2N, r, p, maxmem: 256 * 1024 * 1024 });
  return timingSafeEqual(key, expected);
}

/** A fresh random secret (device secret, token): 32 bytes, base64url. */
export function generateSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Constant-time equality of two strings of any length (compares SHA-256 digests). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}
