import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isValidId, kindFromSlug, type KnownKind } from '@yulan/protos';
import type { Logger } from 'pino';
import { BrokerError, BrokerErrorCode } from './errors.js';
import { postCloudCheck } from './cloud-check.js';

export interface AuthenticatedDevice {
  id: string;
  site: string;
  kind: KnownKind;
}

export const DeviceAuthOutcome = { Ok: 'ok', Denied: 'denied', Unavailable: 'unavailable' } as const;
export type DeviceAuthResult =
  | { outcome: typeof DeviceAuthOutcome.Ok; device: AuthenticatedDevice; source: 'cloud' | 'cache' | 'stale-cache' }
  | { outcome: typeof DeviceAuthOutcome.Denied; reason: 'bad-credentials' | 'disabled' }
  | { outcome: typeof DeviceAuthOutcome.Unavailable; error: BrokerError };

/** Decides whether a device id + secret may connect. Never throws: failures are results. */
export interface DeviceAuthenticator {
  authenticate(deviceId: string, secret: string): Promise<DeviceAuthResult>;
  /** Drops any cached acceptance (revocation), so the next connect asks the cloud. */
  forget(deviceId: string): void;
  /** True when this exact secret was accepted recently (no cloud call): a device whose id is
   * being sprayed with wrong secrets still gets in with its right one (quotas.ts). */
  knows?(deviceId: string, secret: string): boolean;
}

export interface CloudDeviceAuthOptions {
  cloudUrl: string;
  brokerToken: string;
  ttlMs: number;
  /** How long a cached acceptance survives a cloud outage (docs: 24 h). */
  staleMs?: number;
  timeoutMs?: number;
  maxEntries?: number;
  logger: Logger;
  /** for an https:// cloud URL with a private CA (fetchTrustingCa) */
  fetch?: typeof fetch;
  /** Injectable clock for tests of the TTL/stale rules. */
  now?: () => number;
}

interface CacheEntry {
  digest: Buffer;
  device: AuthenticatedDevice;
  verifiedAt: number;
}

const DAY_MS = 86_400_000;

/**
 * The documented device-auth client: `POST {cloud}/api/v1/internal/device-auth`. Accepted
 * devices are cached by id with an HMAC of the secret under a per-process random key, so
 * the secret itself is never kept and a memory dump does not yield a usable hash.
 */
export class CloudDeviceAuthenticator implements DeviceAuthenticator {
  readonly #endpoint: string;
  readonly #token: string;
  readonly #ttlMs: number;
  readonly #staleMs: number;
  readonly #timeoutMs: number;
  readonly #maxEntries: number;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #fetch: typeof fetch | undefined;
  readonly #key = randomBytes(32);
  readonly #cache = new Map<string, CacheEntry>();
  /** Concurrent connects of the same device (reconnect storms) share one request. */
  readonly #inflight = new Map<string, Promise<DeviceAuthResult>>();

  constructor(opts: CloudDeviceAuthOptions) {
    this.#endpoint = `${opts.cloudUrl.replace(/\/+$/, '')}/api/v1/internal/device-auth`;
    this.#token = opts.brokerToken;
    this.#ttlMs = opts.ttlMs;
    this.#staleMs = opts.staleMs ?? DAY_MS;
    this.#timeoutMs = opts.timeoutMs ?? 5000;
    this.#maxEntries = opts.maxEntries ?? 200_000;
    this.#logger = opts.logger;
    this.#now = opts.now ?? Date.now;
    this.#fetch = opts.fetch;
  }

  forget(deviceId: string): void {
    this.#cache.delete(deviceId);
    for (const key of this.#inflight.keys()) if (key.startsWith(`${deviceId}\0`)) this.#inflight.delete(key);
  }

  knows(deviceId: string, secret: string): boolean {
    const cached = this.#cache.get(deviceId);
    if (cached === undefined || this.#now() - cached.verifiedAt >= this.#ttlMs) return false;
    return timingSafeEqual(cached.digest, createHmac('sha256', this.#key).update(secret).digest());
  }

  async authenticate(deviceId: string, secret: string): Promise<DeviceAuthResult> {
    const digest = createHmac('sha256', this.#key).update(secret).digest();
    const cached = this.#cache.get(deviceId);
    const matches = cached !== undefined && timingSafeEqual(cached.digest, digest);
    if (matches && this.#now() - cached.verifiedAt < this.#ttlMs) {
      return { outcome: DeviceAuthOutcome.Ok, device: cached.device, source: 'cache' };
    }
    const key = `${deviceId}\0${digest.toString('base64')}`;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#ask(deviceId, secret, digest, key);
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  async #ask(deviceId: string, secret: string, digest: Buffer, key: string): Promise<DeviceAuthResult> {
    try {
      const res = await this.#post(deviceId, secret);
      // forget() during the request (a revocation) must win over a late acceptance.
      const stillWanted = this.#inflight.get(key) !== undefined;
      if (res.outcome === DeviceAuthOutcome.Ok && stillWanted) {
        this.#store(deviceId, { digest, device: res.device, verifiedAt: this.#now() });
      } else if (res.outcome === DeviceAuthOutcome.Denied) {
        this.#cache.delete(deviceId);
      } else if (res.outcome === DeviceAuthOutcome.Unavailable) {
        const cached = this.#cache.get(deviceId);
        if (cached && timingSafeEqual(cached.digest, digest) && this.#now() - cached.verifiedAt < this.#staleMs) {
          return { outcome: DeviceAuthOutcome.Ok, device: cached.device, source: 'stale-cache' };
        }
      }
      return res;
    } finally {
      this.#inflight.delete(key);
    }
  }

  #store(deviceId: string, entry: CacheEntry): void {
    this.#cache.delete(deviceId);
    this.#cache.set(deviceId, entry);
    // Map iteration is insertion order, so the first key is the least recently verified.
    if (this.#cache.size > this.#maxEntries) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }

  async #post(deviceId: string, secret: string): Promise<DeviceAuthResult> {
    const r = await postCloudCheck(this.#endpoint, this.#token, { deviceId, secret }, this.#timeoutMs, this.#logger, 'device-auth', this.#fetch);
    if (r.kind === 'answer') return parseAccepted(deviceId, r.body);
    if (r.kind === 'denied') return { outcome: DeviceAuthOutcome.Denied, reason: r.reason };
    return unavailable(r.message, r.cause);
  }
}

export function parseAccepted(deviceId: string, body: unknown): DeviceAuthResult {
  const b = body as { ok?: unknown; device?: { id?: unknown; site?: unknown; kind?: unknown } } | undefined;
  const d = b?.device;
  const kind = typeof d?.kind === 'string' ? kindFromSlug(d.kind) : undefined;
  if (b?.ok !== true || d?.id !== deviceId || typeof d.site !== 'string' || !isValidId(d.site) || kind === undefined) {
    return unavailable('device-auth answered 200 with a malformed body');
  }
  return { outcome: DeviceAuthOutcome.Ok, device: { id: deviceId, site: d.site, kind }, source: 'cloud' };
}

function unavailable(message: string, cause?: unknown): DeviceAuthResult {
  return { outcome: DeviceAuthOutcome.Unavailable, error: new BrokerError(BrokerErrorCode.DeviceAuth, message, { cause }) };
}
