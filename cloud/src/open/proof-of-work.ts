import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Stateless proof-of-work challenges for anonymous complaints: `expiry.random.mac`, MAC'd
 * with a key that lives only in this process, or — given one — a key every cloud sharing
 * the data derives alike (a challenge fetched from one cloud is then good on another). The client must find a nonce for which
 * SHA-256(`challenge:nonce`) starts with `bits` zero bits (≈ 2^bits hashes: a fraction
 * of a second for one resident's tap, real cost for anyone sending thousands). Each
 * challenge is good for one complaint: used ones are remembered until they expire.
 */
export class ProofOfWork {
  private readonly key: Buffer;
  private readonly used = new Map<string, number>();

  constructor(readonly bits: number, private readonly ttlMs = 10 * 60_000, private readonly now: () => number = Date.now, key?: Buffer) {
    this.key = key ?? randomBytes(32);
  }

  issue(): { challenge: string; bits: number; expiresAt: string } {
    const exp = this.now() + this.ttlMs;
    const body = `${exp}.${randomBytes(12).toString('base64url')}`;
    return { challenge: `${body}.${this.mac(body)}`, bits: this.bits, expiresAt: new Date(exp).toISOString() };
  }

  /** Checks and consumes; returns why it is refused, or undefined when good. */
  redeem(challenge: string, nonce: string): 'malformed' | 'forged' | 'expired' | 'used' | 'insufficient' | undefined {
    const m = /^(\d{1,15})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/.exec(challenge);
    if (!m || !/^\d{1,12}$/.test(nonce)) return 'malformed';
    const body = `${m[1]}.${m[2]}`;
    const want = Buffer.from(this.mac(body));
    const got = Buffer.from(m[3] as string);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return 'forged';
    const t = this.now();
    if (Number(m[1]) < t) return 'expired';
    if (this.used.has(challenge)) return 'used';
    if (leadingZeroBits(createHash('sha256').update(`${challenge}:${nonce}`).digest()) < this.bits) return 'insufficient';
    this.used.set(challenge, Number(m[1]));
    for (const [c, exp] of this.used) if (exp < t) this.used.delete(c);
    return undefined;
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

export function leadingZeroBits(b: Uint8Array): number {
  let n = 0;
  for (const byte of b) {
    if (byte === 0) { n += 8; continue; }
    return n + Math.clz32(byte) - 24;
  }
  return n;
}

/** The client's search, for tests and the CLI (the page has its own in JS). */
export function solve(challenge: string, bits: number): string {
  for (let nonce = 0; ; nonce++) {
    if (leadingZeroBits(createHash('sha256').update(`${challenge}:${nonce}`).digest()) >= bits) return String(nonce);
  }
}
