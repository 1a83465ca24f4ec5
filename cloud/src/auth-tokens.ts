import { createHash, timingSafeEqual } from 'node:crypto';
import { generateSecret } from '@yulan/protos';
import type { DeviceRepository } from './repositories/device-repository.js';

export const ADMIN_TOKEN_KEY = 'admin_token_sha256';

/**
 * Admin tokens are stored and checked as SHA-256 digests, not scrypt. A slow KDF exists
 * to make guessing low-entropy *passwords* expensive; our tokens are 256 random bits
 * (or operator-supplied with at least 32 characters), so neither brute force against a
 * leaked digest nor online guessing is feasible, and scrypt on every API request would
 * only burn CPU and turn authentication into a denial-of-service lever.
 */
export function digestToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Constant-time: both sides are fixed-length digests, so no length leak either. */
export function tokenMatches(presented: string, expectedDigest: Buffer): boolean {
  const d = digestToken(presented);
  return d.length === expectedDigest.length && timingSafeEqual(d, expectedDigest);
}

export interface AdminTokenState {
  digest: Buffer;
  /** set only when generated now: the caller prints it once, it is never stored */
  generated?: string;
  /** Stores a generated token's digest; called once the service is up, so a start that
   * fails (a port taken) does not leave a token behind that nobody was ever shown. When
   * another cloud on the same database stored one first, this start adopts that digest
   * (in place) and `generated` is cleared: only the token that works is ever printed. */
  commit(): Promise<void>;
}

/** Configured token wins (and replaces any stored one); otherwise reuse the stored
 * digest; otherwise generate a token at this first start (stored by `commit`). */
export async function ensureAdminToken(repo: DeviceRepository, configured?: string): Promise<AdminTokenState> {
  if (configured !== undefined) {
    const digest = digestToken(configured);
    await repo.setSetting(ADMIN_TOKEN_KEY, digest.toString('base64url'));
    return { digest, commit: async () => {} };
  }
  const stored = await repo.getSetting(ADMIN_TOKEN_KEY);
  if (stored !== undefined) return { digest: Buffer.from(stored, 'base64url'), commit: async () => {} };
  const generated = generateSecret();
  const digest = digestToken(generated);
  const state: AdminTokenState = {
    digest,
    generated,
    commit: async () => {
      const stored = await repo.setSettingIfAbsent(ADMIN_TOKEN_KEY, digest.toString('base64url'));
      if (stored !== digest.toString('base64url')) {
        digest.set(Buffer.from(stored, 'base64url'));
        delete state.generated;
      }
    },
  };
  return state;
}
